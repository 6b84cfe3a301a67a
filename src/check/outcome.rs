//! What a run produces, typed: the [`CheckResult`]s of its checks gathered with what ran into a
//! [`Report`] — the data of a run, which `report/` only renders. The JSON form is
//! docs/report-schema.md.
use super::result::{CheckResult, FindingsDecoder};
use super::stats::ErrorControl;
use super::verdict::Verdict;
use crate::cam::CamMethod;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

/// Format version of report.json; bumped when a field changes meaning.
pub const SCHEMA: &str = "blindspot-report/3";

/// A model a run used, identified by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelRecord {
    /// As the suite or command line named it (`builtin:stack-masked`, `model.pt`).
    pub spec: String,
    /// SHA-256 of the weights file, or of the parameters for a model built from its seed.
    pub sha256: String,
    /// `file` (committed, cached or given weights, a TorchScript file) or `parameters`.
    pub of: String,
}

/// Pictures a check can offer besides its numbers (not part of the JSON): the wall check's
/// Figure 1 material, drawn in its run's section.
#[derive(Debug)]
pub struct Gallery {
    /// RGB images in [0, 1], [n, 3, H, W], on the CPU.
    pub images: Tensor,
    /// One title per method.
    pub titles: Vec<String>,
    /// One [n, H, W] tensor of maps in [0, 1] per method, on the CPU.
    pub maps: Vec<Tensor>,
    /// The index of the check run the pictures belong to (set by the runner).
    pub run: usize,
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
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// Where the run's time went, per check and per method: measured, so the one field that
    /// differs between runs of the same seed ([`Report::without_timing`]).
    #[serde(default)]
    pub timing: super::timing::Timing,
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
            timing: Default::default(),
        }
    }

    /// The report without its measured times: what two runs of the same seed agree on bit for
    /// bit, on any machine (docs/precision.md).
    pub fn without_timing(&self) -> Report {
        Report {
            timing: Default::default(),
            ..self.clone()
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
    pub fn from_json(
        text: &str,
        registry: &dyn FindingsDecoder,
    ) -> std::result::Result<Report, String> {
        let mut report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
        report.decode_findings(registry)?;
        Ok(report)
    }

    /// Decodes every result's findings still held as JSON through `registry`; findings already
    /// typed are left as they are.
    pub fn decode_findings(
        &mut self,
        registry: &dyn FindingsDecoder,
    ) -> std::result::Result<(), String> {
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
