//! What a check produces for one method (one configuration of it): a [`CheckResult`] — the
//! common statistics in a [`Summary`], the evidence merge re-derives it from, and the check's own
//! numbers as [`Findings`] of the type the check declares ([`CheckFindings`]). One file because
//! the two refer to each other: a result holds its findings, and findings render their result.
//!
//! A check's own numbers are owned by the check: each [`super::Check`] names its findings type
//! ([`super::Check::Findings`], a serde struct implementing [`CheckFindings`]), which says how
//! its results are encoded and decoded (serde), how the terminal table prints them and what
//! their badge says. The [`super::Registry`] decodes a result's findings by asking the check
//! that made it, so `Report::from_json`, `blindspot merge` and the renderers never match on
//! check names, and a new check with typed findings is its file and one registry line
//! (tests/architecture.rs registers one).
//!
//! Results travel as [`Findings`]: a type-erased box that a renderer reads back as the struct
//! it knows ([`Findings::get`]), e.g. the theorem charts read [`super::theorem::TheoremFindings`]
//! fields, never string keys out of JSON.
use super::stats::{ErrorControl, Summary};
use super::verdict::Verdict;
use crate::cam::CamMethod;
use crate::chart::Chart;
use crate::io::number::{fixed, pct};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::any::Any;

/// The JSON fields of a result that hold its findings (`detail`, the wall's `wall`, the
/// theorem's configuration, …), flattened into the result's object.
pub type Fields = Map<String, Value>;

/// What a check's findings say for themselves. Every method has a default: a type that only
/// derives serde gets the generic table line (mean ± std, interval, n) and badge (the mean).
pub trait CheckFindings:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
    /// What tells apart the results one check makes for one method (the theorem's
    /// `V=512 tau=1 scale=0.5`); None when the check makes one result per method.
    fn configuration(&self) -> Option<String> {
        None
    }

    /// Whether the table, report.md and the badge show the mean as a percentage (a share).
    fn as_percent(&self) -> bool {
        false
    }

    /// The table's header for this check's block (the first result's findings decide); None for
    /// the generic columns.
    fn table_header(&self, _first: &CheckResult) -> Option<String> {
        None
    }

    /// The table's line(s) for `result`; None for the generic line.
    fn table_line(&self, _result: &CheckResult) -> Option<String> {
        None
    }

    /// The badge's label for check `check`; None for the check's name, hyphens as spaces.
    fn badge_label(&self, _check: &str) -> Option<String> {
        None
    }

    /// The badge's message for a verdict other than an error; None for the mean and verdict.
    fn badge_message(&self, _result: &CheckResult) -> Option<String> {
        None
    }

    /// report.md's cell for a verdict other than an error; None for the mean ± std.
    fn markdown_cell(&self, _result: &CheckResult) -> Option<String> {
        None
    }

    /// A line under the check's rule in report.md and report.html (plain text, escaped by the
    /// renderer): the wall's certified rows. Default: none.
    fn rule_note(&self) -> Option<String> {
        None
    }

    /// The charts of one run of the check: `results` are that run's results in order (each
    /// with findings of this type or none), `run` its index in the suite. A chart's stem names
    /// its file (figures/STEM.svg); the report makes stems unique across runs. Default: none.
    fn charts(&self, _run: usize, _results: &[CheckResult]) -> Vec<Chart> {
        Vec::new()
    }

    /// report.md: a section of one run of the check, after the table of methods (Markdown, every
    /// text from a user escaped with `crate::io::escape::markdown`). Default: none.
    fn markdown_section(&self, _results: &[CheckResult]) -> Option<String> {
        None
    }

    /// report.html: HTML of one run of the check, after the run's table in its section (every
    /// text escaped with `crate::io::escape::xml`). Default: none.
    fn html_section(&self, _results: &[CheckResult]) -> Option<String> {
        None
    }

    /// Whether a verdict compares a mean's one-sided Student-t bounds with the result's
    /// threshold ([`super::stats::judge_below`]): `blindspot merge` then requires the threshold
    /// and re-derives the verdict from the bounds (check/audit.rs). Default: false.
    fn decided_against_threshold(&self) -> bool {
        false
    }

    /// A verdict the check gives whatever its bounds say (a class-agnostic method fails class
    /// sensitivity), which the merge audit accepts. Default: none.
    fn forced_verdict(&self) -> Option<Verdict> {
        None
    }

    /// The check's own rules of the merge audit beyond the shared ones (check/audit.rs): Ok when
    /// `result`, decided under `control`, agrees with these findings; else what contradicts
    /// what. Default: no rule of its own.
    fn audit(&self, _result: &CheckResult, _control: &ErrorControl) -> Result<(), String> {
        Ok(())
    }
}

/// A model as a badge names it: a built-in by its name, a file by its file name (badges are
/// short, and a path says nothing to a reader of a README).
pub fn badge_model(model: &str) -> String {
    match model.strip_prefix("builtin:") {
        Some(name) => name.to_string(),
        None => std::path::Path::new(model)
            .file_name()
            .map_or(model.to_string(), |n| n.to_string_lossy().into_owned()),
    }
}

/// A badge label of the check's name and its model as [`badge_model`] names it
/// (`localisation · stack-masked`).
pub fn badge_check_model(check: &str, model: &str) -> Option<String> {
    Some(format!("{check} · {}", badge_model(model)))
}

/// The object-safe face of [`CheckFindings`], implemented for every findings type.
trait Erased: std::fmt::Debug + Send + Sync {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize;
    fn fields(&self) -> Fields;
    fn clone_box(&self) -> Box<dyn Erased>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn configuration(&self) -> Option<String>;
    fn as_percent(&self) -> bool;
    fn table_header(&self, first: &CheckResult) -> Option<String>;
    fn table_line(&self, result: &CheckResult) -> Option<String>;
    fn badge_label(&self, check: &str) -> Option<String>;
    fn badge_message(&self, result: &CheckResult) -> Option<String>;
    fn markdown_cell(&self, result: &CheckResult) -> Option<String>;
    fn rule_note(&self) -> Option<String>;
    fn charts(&self, run: usize, results: &[CheckResult]) -> Vec<Chart>;
    fn markdown_section(&self, results: &[CheckResult]) -> Option<String>;
    fn html_section(&self, results: &[CheckResult]) -> Option<String>;
    fn decided_against_threshold(&self) -> bool;
    fn forced_verdict(&self) -> Option<Verdict>;
    fn audit(&self, result: &CheckResult, control: &ErrorControl) -> Result<(), String>;
}

impl<T: CheckFindings> Erased for T {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn fields(&self) -> Fields {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A findings type is a struct of numbers and strings: it serialises to an object.
            Ok(other) => Map::from_iter([("detail".to_string(), other)]),
            Err(e) => Map::from_iter([("detail".to_string(), Value::String(e.to_string()))]),
        }
    }
    fn clone_box(&self) -> Box<dyn Erased> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn configuration(&self) -> Option<String> {
        CheckFindings::configuration(self)
    }
    fn as_percent(&self) -> bool {
        CheckFindings::as_percent(self)
    }
    fn table_header(&self, first: &CheckResult) -> Option<String> {
        CheckFindings::table_header(self, first)
    }
    fn table_line(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::table_line(self, result)
    }
    fn badge_label(&self, check: &str) -> Option<String> {
        CheckFindings::badge_label(self, check)
    }
    fn badge_message(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::badge_message(self, result)
    }
    fn markdown_cell(&self, result: &CheckResult) -> Option<String> {
        CheckFindings::markdown_cell(self, result)
    }
    fn rule_note(&self) -> Option<String> {
        CheckFindings::rule_note(self)
    }
    fn charts(&self, run: usize, results: &[CheckResult]) -> Vec<Chart> {
        CheckFindings::charts(self, run, results)
    }
    fn markdown_section(&self, results: &[CheckResult]) -> Option<String> {
        CheckFindings::markdown_section(self, results)
    }
    fn html_section(&self, results: &[CheckResult]) -> Option<String> {
        CheckFindings::html_section(self, results)
    }
    fn decided_against_threshold(&self) -> bool {
        CheckFindings::decided_against_threshold(self)
    }
    fn forced_verdict(&self) -> Option<Verdict> {
        CheckFindings::forced_verdict(self)
    }
    fn audit(&self, result: &CheckResult, control: &ErrorControl) -> Result<(), String> {
        CheckFindings::audit(self, result, control)
    }
}

/// What decodes a result's findings fields as the type its check declares (the
/// [`super::Registry`]), so that a report read from JSON holds typed findings.
pub trait FindingsDecoder {
    /// The findings of a `check` result from their JSON fields; a check it does not know keeps
    /// them as JSON ([`Findings::unknown`]).
    fn decode_findings(&self, check: &str, fields: Fields) -> Result<Findings, String>;
}

/// The findings of a check this build does not know (a report written with a user's check,
/// read without its registry): kept as JSON, rendered generically, written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnknownFindings(pub Fields);

impl CheckFindings for UnknownFindings {}

/// One result's findings, of the type its check declares; none for a result that failed before
/// any number existed (`"detail": null` in JSON).
pub struct Findings(Option<Box<dyn Erased>>);

impl Findings {
    /// No findings: the result is an error.
    pub fn none() -> Self {
        Findings(None)
    }

    /// A check's findings.
    pub fn new<T: CheckFindings>(findings: T) -> Self {
        Findings(Some(Box::new(findings)))
    }

    /// The findings as type `T`, when they are of that type.
    pub fn get<T: CheckFindings>(&self) -> Option<&T> {
        self.0.as_ref()?.as_any().downcast_ref()
    }

    /// Mutable access to the findings as type `T`.
    pub fn get_mut<T: CheckFindings>(&mut self) -> Option<&mut T> {
        self.0.as_mut()?.as_any_mut().downcast_mut()
    }

    /// Whether the result has no findings (an error).
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether the findings are still undecoded JSON (of a check this build does not know).
    pub fn is_unknown(&self) -> bool {
        self.get::<UnknownFindings>().is_some()
    }

    /// The result's findings fields as JSON.
    pub fn fields(&self) -> Fields {
        match &self.0 {
            Some(f) => f.fields(),
            None => Map::from_iter([("detail".to_string(), Value::Null)]),
        }
    }

    /// Decodes a result's findings fields as type `T` (`{"detail": null}` is none).
    pub fn decode<T: CheckFindings>(fields: Fields) -> Result<Self, serde_json::Error> {
        if Self::nothing(&fields) {
            return Ok(Findings::none());
        }
        Ok(Findings::new(serde_json::from_value::<T>(Value::Object(
            fields,
        ))?))
    }

    /// Findings fields kept as JSON until a registry decodes them.
    pub fn unknown(fields: Fields) -> Self {
        match Self::nothing(&fields) {
            true => Findings::none(),
            false => Findings::new(UnknownFindings(fields)),
        }
    }

    fn nothing(fields: &Fields) -> bool {
        fields.len() == 1 && fields.get("detail") == Some(&Value::Null)
    }

    /// See [`CheckFindings::configuration`].
    pub fn configuration(&self) -> Option<String> {
        self.0.as_ref()?.configuration()
    }

    /// See [`CheckFindings::as_percent`].
    pub fn as_percent(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.as_percent())
    }

    /// See [`CheckFindings::table_header`].
    pub fn table_header(&self, first: &CheckResult) -> Option<String> {
        self.0.as_ref()?.table_header(first)
    }

    /// See [`CheckFindings::table_line`].
    pub fn table_line(&self, result: &CheckResult) -> Option<String> {
        self.0.as_ref()?.table_line(result)
    }

    /// The badge's label for `check` ([`CheckFindings::badge_label`]).
    pub fn badge_label(&self, check: &str) -> String {
        self.0
            .as_ref()
            .and_then(|f| f.badge_label(check))
            .unwrap_or_else(|| check.replace('-', " "))
    }

    /// The badge's message ([`CheckFindings::badge_message`]): `error` for an error.
    pub fn badge_message(&self, result: &CheckResult) -> String {
        if result.verdict == Verdict::Error {
            return "error".into();
        }
        if let Some(message) = self.0.as_ref().and_then(|f| f.badge_message(result)) {
            return message;
        }
        let mean = result.summary.mean;
        match self.as_percent() {
            true => format!("{} {}", pct(mean, 1), result.verdict),
            false => format!("{} {}", fixed(mean, 2), result.verdict),
        }
    }

    /// report.md's cell text after the verdict's mark ([`CheckFindings::markdown_cell`]).
    pub fn markdown_cell(&self, result: &CheckResult) -> String {
        if result.verdict == Verdict::Error {
            return "error".into();
        }
        if let Some(cell) = self.0.as_ref().and_then(|f| f.markdown_cell(result)) {
            return cell;
        }
        let s = &result.summary;
        match self.as_percent() {
            true => format!("{} ± {}", fixed(100.0 * s.mean, 1), pct(s.std, 1)),
            false => format!("{} ± {}", fixed(s.mean, 2), fixed(s.std, 2)),
        }
    }

    /// See [`CheckFindings::rule_note`].
    pub fn rule_note(&self) -> Option<String> {
        self.0.as_ref()?.rule_note()
    }

    /// See [`CheckFindings::charts`].
    pub fn charts(&self, run: usize, results: &[CheckResult]) -> Vec<Chart> {
        self.0
            .as_ref()
            .map_or_else(Vec::new, |f| f.charts(run, results))
    }

    /// See [`CheckFindings::markdown_section`].
    pub fn markdown_section(&self, results: &[CheckResult]) -> Option<String> {
        self.0.as_ref()?.markdown_section(results)
    }

    /// See [`CheckFindings::html_section`].
    pub fn html_section(&self, results: &[CheckResult]) -> Option<String> {
        self.0.as_ref()?.html_section(results)
    }

    /// See [`CheckFindings::decided_against_threshold`].
    pub fn decided_against_threshold(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.decided_against_threshold())
    }

    /// See [`CheckFindings::forced_verdict`].
    pub fn forced_verdict(&self) -> Option<Verdict> {
        self.0.as_ref()?.forced_verdict()
    }

    /// See [`CheckFindings::audit`]; Ok for no findings.
    pub fn audit(&self, result: &CheckResult, control: &ErrorControl) -> Result<(), String> {
        self.0.as_ref().map_or(Ok(()), |f| f.audit(result, control))
    }

    /// The findings that speak for a run of a check: its first result's that has any (a result
    /// that errored has none).
    pub fn of_run(results: &[CheckResult]) -> Option<&Findings> {
        results.iter().map(|r| &r.findings).find(|f| !f.is_none())
    }
}

impl Clone for Findings {
    fn clone(&self) -> Self {
        Findings(self.0.as_ref().map(|f| f.clone_box()))
    }
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(findings) => findings.fmt(f),
            None => f.write_str("no findings"),
        }
    }
}

/// Findings are equal when they say the same in JSON, whether decoded or not.
impl PartialEq for Findings {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

/// In the order of the type's fields (what the reports are byte-compared on).
impl Serialize for Findings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(findings) => erased_serde::serialize(findings.as_serialize(), s),
            None => self.fields().serialize(s),
        }
    }
}

/// One sign's outcome of a sign-ambiguous method (EigenCAM's projection is defined up to the
/// sign of a singular vector), with the evidence its verdict was decided from, so that merge
/// re-derives it (check/audit.rs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
#[non_exhaustive]
pub struct Signs {
    /// The sign the method computed.
    pub as_computed: SignOutcome,
    /// The opposite sign, the other equally valid answer.
    pub negated: SignOutcome,
}

/// Where a negative control landed in a randomization-type check (`super::controls`): its
/// verdict under the same rule and error rate as the methods, and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

    /// Whether the check showed it separates beside this result: it ran no control, or every
    /// control failed (`super::controls::apply`).
    pub fn separates(&self) -> bool {
        self.controls.iter().all(|c| c.verdict == Verdict::Fail)
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
    /// `blindspot merge`'s audit (check/audit.rs). `controls` says whether it stood beside this
    /// result's controls.
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
                range: self.summary.range,
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
