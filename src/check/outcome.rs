//! What checks produce, typed: a [`CheckResult`] per method and configuration (the common
//! statistics in a [`Summary`], the check's own numbers in [`Findings`], of the type the check
//! declares: [`super::findings`]), gathered with what ran
//! into a [`Report`] — the data of a run, which `report/` only renders. The JSON form is
//! docs/report-schema.md.
pub use super::findings::Findings;
use super::stats::Summary;
use super::theorem::TheoremFindings;
use super::Registry;
use crate::cam::CamMethod;
use crate::error::Result;
use serde::{Deserialize, Deserializer, Serialize};
use std::path::Path;
use tch::Tensor;

/// Format version of report.json; bumped when a field changes meaning.
pub const SCHEMA: &str = "blindspot-report/3";

/// Pass, fail, inconclusive (the evidence does not decide at the run's error rate), or error (the
/// check could not be evaluated). Only pass is ever a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The method passes the check at the run's error rate.
    Pass,
    /// The evidence decides neither way at the run's error rate (or a negative control passes
    /// too, so the check cannot separate).
    Inconclusive,
    /// The method fails the check at the run's error rate.
    Fail,
    /// The check could not be evaluated (the reason says why).
    Error,
}

impl Verdict {
    /// The worse of two verdicts (error > fail > inconclusive > pass).
    pub fn worse(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The verdict as the terminal table prints it: upper case where it needs attention.
    pub fn shouted(self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            other => other.to_string().to_uppercase(),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        })
    }
}

/// How a run controls its error rate: Bonferroni over its verdicts. Each verdict is decided at
/// `per_verdict_error`, so the chance that any definitive verdict of the run (a pass or a fail) is
/// wrong is at most `family_wise_error`, whatever the dependence between verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorControl {
    /// Chance of one or more wrong passes or fails in the whole run.
    pub family_wise_error: f64,
    /// Sampled verdicts the run makes: one per method (per sign for a sign-ambiguous method) and
    /// check, one per theorem configuration or property case; exact verdicts count none.
    pub family_size: usize,
    /// family_wise_error / family_size.
    pub per_verdict_error: f64,
}

impl ErrorControl {
    /// Bonferroni: `family_wise_error` shared over `family_size` verdicts.
    /// With no sampled verdict (exact checks only) nothing is shared: the per-verdict error is
    /// the family's.
    pub fn bonferroni(family_wise_error: f64, family_size: usize) -> Self {
        ErrorControl {
            family_wise_error,
            family_size,
            per_verdict_error: family_wise_error / family_size.max(1) as f64,
        }
    }

    /// The one-line statement of the control, for the table and the Markdown report.
    pub fn describe(&self) -> String {
        if self.family_size == 0 {
            return "no sampled verdict: every verdict of this run is exact (no error to control)"
                .into();
        }
        // Decisions, not results: each sign of a sign-ambiguous method is decided on its own, and
        // a verdict with L looks at the data spends 1/L of its error at each (the rule's level).
        format!(
            "family-wise error {} over {} decisions (Bonferroni; each sign of a sign-ambiguous \
             method counts): each decided at {:.2e} per side, shared among its looks",
            super::stats::rate(self.family_wise_error),
            self.family_size,
            self.per_verdict_error
        )
    }
}

/// One sign's outcome of a sign-ambiguous method (EigenCAM's projection is defined up to the
/// sign of a singular vector), with the evidence its verdict was decided from, so that merge
/// re-derives it ([`super::audit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOutcome {
    /// This sign's verdict.
    pub verdict: Verdict,
    /// The statistic's mean for this sign.
    pub mean: f64,
    /// The interval's lower end.
    pub ci_low: f64,
    /// The interval's upper end.
    pub ci_high: f64,
    /// Samples.
    pub n: usize,
    /// What the verdict was decided from: the per-sample values, their std, the interval's
    /// level, the undefined count and any draws.
    #[serde(flatten)]
    pub basis: Basis,
}

/// What a verdict on a mean was decided from, beside the numbers every record shows (its
/// verdict, mean, bounds and n): what merge needs to re-derive it from scratch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Basis {
    /// The standard deviation of the per-sample values.
    #[serde(default)]
    pub std: f64,
    /// The interval's level.
    #[serde(default)]
    pub ci_level: f64,
    /// The per-sample values.
    #[serde(default)]
    pub per_sample: Vec<Option<f64>>,
    /// Samples whose statistic was undefined.
    #[serde(default)]
    pub undefined: usize,
    /// The per-image values of each randomization, when there were R >= 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draws: Vec<Vec<f64>>,
}

/// Both signs of a sign-ambiguous method: the result shows the worse one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signs {
    /// The sign the method computed.
    pub as_computed: SignOutcome,
    /// The opposite sign, the other equally valid answer.
    pub negated: SignOutcome,
}

/// Where a negative control landed in a randomization-type check (`super::controls`): its
/// verdict under the same rule and error rate as the methods, and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// The control's name (`randomcam`, `sobel`, `constant`).
    pub method: String,
    /// Its verdict under the check's rule.
    pub verdict: Verdict,
    /// Its statistic's mean.
    pub mean: f64,
    /// The interval's lower end.
    pub ci_low: f64,
    /// The interval's upper end.
    pub ci_high: f64,
    /// Samples.
    #[serde(default)]
    pub n: usize,
    /// What its verdict was decided from, so that merge re-derives it.
    #[serde(flatten)]
    pub basis: Basis,
}

impl Control {
    /// Where `result` (a control's own result) landed, with its evidence.
    pub fn of(result: CheckResult) -> Control {
        let basis = result.basis();
        Control {
            method: result.method,
            verdict: result.verdict,
            mean: result.summary.mean,
            ci_low: result.summary.ci_low,
            ci_high: result.summary.ci_high,
            n: result.summary.n,
            basis,
        }
    }
}

/// A model a run used, identified by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// As the suite or command line named it (`builtin:stack-masked`, `model.pt`).
    pub spec: String,
    /// SHA-256 of the weights file, or of the parameters for a model built from its seed.
    pub sha256: String,
    /// `file` (committed, cached or given weights, a TorchScript file) or `parameters`.
    pub of: String,
}

/// One method's result on one check (one configuration for the theorem check).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// The check's name (`wall`, `randomization`, …).
    pub check: String,
    /// The method's stable command-line name (`gradcam`, `gradcam++`, `opticam`).
    pub method: String,
    /// Its display name (`GradCAM`).
    pub title: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words: the rule applied to the numbers, or what made the check impossible.
    pub reason: String,
    /// The test statistic's name, e.g. "mean mu (share of the map's l2 norm behind the wall)".
    pub statistic: String,
    /// n, mean, std and the interval behind the verdict.
    #[serde(flatten)]
    pub summary: Summary,
    /// The decision rule in words.
    pub rule: String,
    /// The per-sample values the statistics come from.
    pub per_sample: Vec<Option<f64>>,
    /// Samples whose statistic is undefined and took the value the rule names (an all-zero
    /// map's µ counts 0, a constant map's rank correlation 0).
    pub undefined: usize,
    /// Looks at the data the verdict took: more images after an inconclusive look.
    pub looks: usize,
    /// Both signs' outcomes, for a sign-ambiguous method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs: Option<Signs>,
    /// The verdict the suite expects of this method here, when it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Verdict>,
    /// The threshold a verdict on a mean was decided against (wall, randomization, data
    /// randomization, class sensitivity), so that merge can re-derive the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<super::stats::Threshold>,
    /// The per-image values of each of R ≥ 2 independent randomizations (`draws[r][i]`), when
    /// the check drew more than one; `per_sample` then holds their means over the draws.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draws: Vec<Vec<f64>>,
    /// The negative controls run beside the method under the same rule (randomization-type
    /// checks); when one passes, the check cannot separate and every verdict is inconclusive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<Control>,
    /// The check's own numbers (`detail`, and `wall` or the theorem's fields at the top level).
    #[serde(flatten)]
    pub findings: Findings,
}

impl CheckResult {
    /// How every output names an unexpected verdict: `wall gradcam [V=64]: fail, expected pass`.
    pub fn expectation_line(&self) -> String {
        let config = self
            .configuration()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let expected = self
            .expected
            .map_or("pass or fail, not error".into(), |v| v.to_string());
        format!(
            "{} {}{config}: {}, expected {expected}",
            self.check, self.method, self.verdict
        )
    }

    /// Whether the verdict is the expected one: the declared expectation when there is one;
    /// without one, any verdict but an error (a run reports verdicts nobody declared).
    pub fn as_expected(&self) -> bool {
        match self.expected {
            Some(v) => self.verdict == v,
            None => self.verdict != Verdict::Error,
        }
    }
}

impl<'de> Deserialize<'de> for CheckResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            check: String,
            method: String,
            title: String,
            verdict: Verdict,
            reason: String,
            statistic: String,
            #[serde(flatten)]
            summary: Summary,
            rule: String,
            per_sample: Vec<Option<f64>>,
            undefined: usize,
            looks: usize,
            #[serde(default)]
            signs: Option<Signs>,
            #[serde(default)]
            expected: Option<Verdict>,
            #[serde(default)]
            threshold: Option<super::stats::Threshold>,
            #[serde(default)]
            draws: Vec<Vec<f64>>,
            #[serde(default)]
            controls: Vec<Control>,
            #[serde(flatten)]
            rest: serde_json::Map<String, serde_json::Value>,
        }
        let raw = Raw::deserialize(d)?;
        // Decoded as its check's type by [`Report::decode_findings`], which asks the registry.
        let findings = Findings::unknown(raw.rest);
        Ok(CheckResult {
            check: raw.check,
            method: raw.method,
            title: raw.title,
            verdict: raw.verdict,
            reason: raw.reason,
            statistic: raw.statistic,
            summary: raw.summary,
            rule: raw.rule,
            per_sample: raw.per_sample,
            undefined: raw.undefined,
            looks: raw.looks,
            signs: raw.signs,
            expected: raw.expected,
            threshold: raw.threshold,
            draws: raw.draws,
            controls: raw.controls,
            findings,
        })
    }
}

impl CheckResult {
    /// A verdict with its statistics; the caller fills in the reason, statistic, rule and
    /// per-sample values.
    pub fn new(
        check: &str,
        method: &dyn CamMethod,
        verdict: Verdict,
        summary: Summary,
        findings: Findings,
    ) -> Self {
        CheckResult {
            verdict,
            summary,
            findings,
            ..CheckResult::error(check, method, "", "")
        }
    }

    /// A result whose check could not be evaluated.
    pub fn error(
        check: &str,
        method: &dyn CamMethod,
        reason: impl Into<String>,
        rule: &str,
    ) -> Self {
        CheckResult {
            check: check.into(),
            method: method.name().into(),
            title: method.title().into(),
            verdict: Verdict::Error,
            reason: reason.into(),
            statistic: String::new(),
            summary: Summary::empty(),
            rule: rule.into(),
            per_sample: Vec::new(),
            undefined: 0,
            looks: 1,
            signs: None,
            expected: None,
            threshold: None,
            draws: Vec::new(),
            controls: Vec::new(),
            findings: Findings::none(),
        }
    }

    /// A result from its JSON (a check's evidence), its findings decoded as `T`.
    pub fn from_json_as<T: super::CheckFindings>(
        value: serde_json::Value,
    ) -> std::result::Result<CheckResult, serde_json::Error> {
        let mut result: CheckResult = serde_json::from_value(value)?;
        result.findings = Findings::decode::<T>(result.findings.fields())?;
        Ok(result)
    }

    /// Whether a negative control passed beside this result: the check could not separate the
    /// methods from a degenerate explanation, and more images would not change that.
    pub fn inseparable(&self) -> bool {
        self.controls.iter().any(|c| c.verdict == Verdict::Pass)
    }

    /// What tells this result apart from the method's other results of the same check.
    pub fn configuration(&self) -> Option<String> {
        self.findings.configuration()
    }

    /// This result's verdict and interval, for [`Signs`].
    pub fn sign_outcome(&self) -> SignOutcome {
        let s = &self.summary;
        SignOutcome {
            verdict: self.verdict,
            mean: s.mean,
            ci_low: s.ci_low,
            ci_high: s.ci_high,
            n: s.n,
            basis: self.basis(),
        }
    }

    /// What this result's verdict was decided from, beside its shown numbers.
    pub fn basis(&self) -> Basis {
        Basis {
            std: self.summary.std,
            ci_level: self.summary.ci_level,
            per_sample: self.per_sample.clone(),
            undefined: self.undefined,
            draws: self.draws.clone(),
        }
    }

    /// A record of this result's check decided from `verdict`, numbers and `basis` instead of
    /// its own (a sign's or a control's), under the same threshold, looks and findings, for
    /// [`super::audit`]. `controls` says whether it stood beside this result's controls.
    pub fn restated(
        &self,
        verdict: Verdict,
        (mean, ci_low, ci_high): (f64, f64, f64),
        n: usize,
        basis: &Basis,
        controls: bool,
    ) -> CheckResult {
        CheckResult {
            verdict,
            summary: Summary {
                n,
                mean,
                std: basis.std,
                ci_low,
                ci_high,
                ci_level: basis.ci_level,
                interval: self.summary.interval.clone(),
            },
            per_sample: basis.per_sample.clone(),
            undefined: basis.undefined,
            draws: basis.draws.clone(),
            signs: None,
            controls: if controls { self.controls.clone() } else { Vec::new() },
            ..self.clone()
        }
    }
}

/// Pictures a check can offer besides its numbers (not part of the JSON): the wall check's
/// Figure 1 material.
#[derive(Debug)]
pub struct Gallery {
    /// RGB images in [0, 1], [n, 3, H, W], on the CPU.
    pub images: Tensor,
    /// One title per method.
    pub titles: Vec<String>,
    /// One [n, H, W] tensor of maps in [0, 1] per method, on the CPU.
    pub maps: Vec<Tensor>,
    /// The certified wall's first and last input rows, when it is a band of rows.
    pub wall_rows: Option<(i64, i64)>,
    /// Per method, the images on which it leaked most.
    pub worst: Vec<Worst>,
}

/// The images on which one method put the most saliency behind the wall, worst first.
#[derive(Debug)]
pub struct Worst {
    /// The method's display name.
    pub title: String,
    /// The images' positions in the check's data.
    pub indices: Vec<i64>,
    /// µ on each of them.
    pub mu: Vec<f64>,
    /// RGB images in [0, 1], [k, 3, H, W], on the CPU.
    pub images: Tensor,
    /// The method's maps of them in [0, 1], [k, H, W], on the CPU.
    pub maps: Tensor,
}

/// What one check returns.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One or more results per method.
    pub results: Vec<CheckResult>,
    /// Pictures for the report's figures (the wall check's Figure 1), if the check has any.
    pub gallery: Option<Gallery>,
}

impl Outcome {
    /// The results, without pictures.
    pub fn new(results: Vec<CheckResult>) -> Self {
        Outcome {
            results,
            gallery: None,
        }
    }

    /// Every method an `error` result, for a check given fewer than two images: no interval, so
    /// no verdict (never a statistic of one sample).
    pub fn too_few_images(check: &str, methods: &[Box<dyn CamMethod>], images: i64) -> Self {
        let reason = format!("a verdict needs at least 2 images, and the data holds {images}");
        let rule = "a verdict needs at least 2 images";
        Outcome::new(
            methods
                .iter()
                .map(|m| CheckResult::error(check, m.as_ref(), reason.clone(), rule))
                .collect(),
        )
    }
}

/// One check as it was run: its name and parameters, its position in the suite and how many
/// results it produced (so shard reports can be merged back in suite order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The check's name.
    pub check: String,
    /// Its parameters, as a suite would write them.
    pub params: serde_json::Value,
    /// Its position in the suite.
    pub index: usize,
    /// How many results it produced.
    pub results: usize,
}

/// A run's report: every result of every check, with what produced it. Contains no timing, so
/// the same suite and seed give byte-identical JSON on the same machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `blindspot-report/N` (docs/report-schema.md).
    pub schema: String,
    /// The blindspot version that wrote it.
    pub blindspot: String,
    /// `wall`, `theorem`, `randomization`, … for one check; `suite:NAME` for a suite.
    pub check: String,
    /// The run's seed (every random stream derives from it).
    pub seed: u64,
    /// `cpu`, `cuda:0`, ….
    pub device: String,
    /// The precision policy and what libtorch computed with; docs/precision.md.
    pub precision: crate::precision::PrecisionRecord,
    /// The run's family-wise error control.
    pub error_control: ErrorControl,
    /// Every model the run used, with its SHA-256.
    pub models: Vec<ModelRecord>,
    /// Every check as it was run, in suite order.
    pub checks: Vec<CheckRun>,
    /// Every result of every check, in check order.
    pub results: Vec<CheckResult>,
    /// `K/N` for a shard report (absent once merged or when unsharded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// A shard's evidence for the checks that split into work units, which `blindspot merge`
    /// decides (absent once merged or when unsharded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[doc(hidden)]
    pub evidence: Vec<super::units::Evidence>,
    /// For a merge of some shards only (`blindspot merge --allow-partial`): which ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// For a suite run: SHA-256 of what the suite asks (every check's parameters and
    /// expectations, the methods). Shards of one suite share it;
    /// merge refuses shards whose suites differ, even under one name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_sha256: Option<String>,
}

impl Report {
    /// An empty report of a run of `check` (a check's name, or `suite:NAME`).
    pub fn new(check: String, seed: u64, device: tch::Device, control: ErrorControl) -> Self {
        Report {
            schema: SCHEMA.into(),
            blindspot: env!("CARGO_PKG_VERSION").into(),
            check,
            seed,
            device: crate::device::device_name(device),
            precision: crate::precision::record().clone(),
            error_control: control,
            models: Vec::new(),
            checks: Vec::new(),
            results: Vec::new(),
            shard: None,
            evidence: Vec::new(),
            partial: None,
            suite_sha256: None,
        }
    }

    /// Each check as run with its results, in report order.
    pub fn runs(&self) -> impl Iterator<Item = (&CheckRun, &[CheckResult])> {
        let mut rest = self.results.as_slice();
        self.checks.iter().map(move |run| {
            let (mine, tail) = rest.split_at(run.results.min(rest.len()));
            rest = tail;
            (run, mine)
        })
    }

    /// The theorem check's results with their findings, in report order (the rows of every
    /// renderer's Theorem 1 table).
    #[doc(hidden)]
    pub fn theorem_results(&self) -> Vec<(&CheckResult, &TheoremFindings)> {
        self.results
            .iter()
            .filter_map(|r| Some((r, r.findings.get::<TheoremFindings>()?)))
            .collect()
    }

    /// The results whose verdict is not the one expected: an expectation not met, or an error
    /// nobody expected ([`CheckResult::as_expected`]).
    pub fn unexpected(&self) -> Vec<&CheckResult> {
        self.results.iter().filter(|r| !r.as_expected()).collect()
    }

    /// `--expect-pass`: every result without a declared expectation now expects a pass, so
    /// that every output (JUnit, the reports, the exit code) judges it alike.
    pub fn expect_pass_by_default(&mut self) {
        for r in &mut self.results {
            r.expected.get_or_insert(Verdict::Pass);
        }
    }

    /// How the verdicts compare with what was expected, in words: the line the terminal ends
    /// with and report.md and report.html open with (`all 73 verdicts as expected`, or
    /// `2 of 73 verdicts not as expected`).
    pub fn expectation_summary(&self) -> String {
        let total = self.results.len();
        let plural = if total == 1 { "verdict" } else { "verdicts" };
        let unexpected = self.unexpected().len();
        if unexpected > 0 {
            return format!("{unexpected} of {total} {plural} not as expected");
        }
        let undeclared = self.results.iter().filter(|r| r.expected.is_none()).count();
        if undeclared == total {
            return format!(
                "{total} {plural}, none with a declared expectation (--expect-pass expects \
                 a pass of each)"
            );
        }
        let other = self
            .results
            .iter()
            .filter(|r| r.expected.is_some_and(|v| v != Verdict::Pass))
            .count();
        let mut notes = Vec::new();
        if other > 0 {
            notes.push(format!("{other} an expected fail or inconclusive"));
        }
        if undeclared > 0 {
            notes.push(format!("{undeclared} without a declared expectation"));
        }
        match notes.is_empty() {
            true => format!("all {total} {plural} as expected"),
            false => format!("all {total} {plural} as expected ({})", notes.join(", ")),
        }
    }

    /// Whether any result failed, errored or was inconclusive.
    pub fn any_failure(&self) -> bool {
        self.results.iter().any(|r| r.verdict != Verdict::Pass)
    }

    /// A report from its JSON, every result's findings decoded as the type its check declares
    /// in `registry` (a check the registry does not know keeps its findings as JSON).
    pub fn from_json(text: &str, registry: &Registry) -> std::result::Result<Report, String> {
        let mut report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
        report.decode_findings(registry)?;
        Ok(report)
    }

    /// Decodes every result's findings still held as JSON through `registry`; findings already
    /// typed are left as they are.
    pub fn decode_findings(&mut self, registry: &Registry) -> std::result::Result<(), String> {
        for r in &mut self.results {
            if r.findings.is_unknown() {
                r.findings = registry
                    .decode_findings(&r.check, r.findings.fields())
                    .map_err(|e| format!("the `{}` result of {}: {e}", r.check, r.method))?;
            }
        }
        Ok(())
    }

    /// Pretty JSON with a final newline. Non-finite numbers never occur: checks store undefined
    /// values as null.
    pub fn to_json(&self) -> String {
        let mut text = crate::io::escape::json(
            &serde_json::to_string_pretty(self).expect("reports serialise"),
        );
        text.push('\n');
        text
    }

    /// Writes the JSON atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }
}
