//! What checks produce, typed: a [`CheckResult`] per method and configuration (the common
//! statistics in a [`Summary`], the check's own numbers in [`Findings`]), gathered with what ran
//! into a [`Report`] — the data of a run, which `report/` only renders. The JSON form is
//! docs/report-schema.md.
use super::class_sensitivity::{ClassSensitivityCheck, ClassSensitivityFindings};
use super::data_randomization::{DataRandomizationCheck, DataRandomizationFindings};
use super::randomization::{RandomizationCheck, RandomizationFindings};
use super::stats::Summary;
use super::theorem::{TheoremCheck, TheoremFindings};
use super::wall::{WallCheck, WallFindings};
use super::Check;
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;
use tch::Tensor;

/// Format version of report.json; bumped when a field changes meaning.
pub const SCHEMA: &str = "blindspot-report/1";

/// Pass, fail, or error (the check could not be evaluated; never a pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        })
    }
}

/// A check's own numbers, typed per built-in check. A check registered from outside the crate
/// reports [`Findings::Custom`]; a result that failed before any number exists has
/// [`Findings::None`] (`"detail": null` in JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Findings {
    Wall(WallFindings),
    Theorem(TheoremFindings),
    Randomization(RandomizationFindings),
    DataRandomization(DataRandomizationFindings),
    ClassSensitivity(ClassSensitivityFindings),
    Custom(serde_json::Map<String, serde_json::Value>),
    None,
}

impl Serialize for Findings {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Findings::Wall(f) => f.serialize(s),
            Findings::Theorem(f) => f.serialize(s),
            Findings::Randomization(f) => f.serialize(s),
            Findings::DataRandomization(f) => f.serialize(s),
            Findings::ClassSensitivity(f) => f.serialize(s),
            Findings::Custom(map) => map.serialize(s),
            Findings::None => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("detail", &())?;
                map.end()
            }
        }
    }
}

impl Findings {
    /// The findings of a result of check `check`, from the result's remaining JSON fields.
    fn from_json(
        check: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Findings, serde_json::Error> {
        let nothing = fields.len() == 1 && fields.get("detail") == Some(&serde_json::Value::Null);
        if nothing {
            return Ok(Findings::None);
        }
        let value = serde_json::Value::Object(fields);
        Ok(match check {
            WallCheck::NAME => Findings::Wall(serde_json::from_value(value)?),
            TheoremCheck::NAME => Findings::Theorem(serde_json::from_value(value)?),
            RandomizationCheck::NAME => Findings::Randomization(serde_json::from_value(value)?),
            DataRandomizationCheck::NAME => {
                Findings::DataRandomization(serde_json::from_value(value)?)
            }
            ClassSensitivityCheck::NAME => {
                Findings::ClassSensitivity(serde_json::from_value(value)?)
            }
            _ => match value {
                serde_json::Value::Object(map) => Findings::Custom(map),
                _ => unreachable!("built from an object"),
            },
        })
    }

    /// A label that tells apart the results one check makes for one method (the theorem's
    /// configurations); None when a check makes one result per method.
    pub fn configuration(&self) -> Option<String> {
        match self {
            Findings::Theorem(t) => Some(t.configuration()),
            _ => None,
        }
    }
}

/// One method's result on one check (one configuration for the theorem check).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub method: String,
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
    /// The per-sample values the statistics come from; null where the value is undefined.
    pub per_sample: Vec<Option<f64>>,
    /// The check's own numbers (`detail`, and `wall` or the theorem's fields at the top level).
    #[serde(flatten)]
    pub findings: Findings,
}

impl<'de> Deserialize<'de> for CheckResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            check: String,
            method: String,
            verdict: Verdict,
            reason: String,
            statistic: String,
            #[serde(flatten)]
            summary: Summary,
            rule: String,
            per_sample: Vec<Option<f64>>,
            #[serde(flatten)]
            rest: serde_json::Map<String, serde_json::Value>,
        }
        let raw = Raw::deserialize(d)?;
        let findings = Findings::from_json(&raw.check, raw.rest).map_err(|e| {
            serde::de::Error::custom(format!("the `{}` result of {}: {e}", raw.check, raw.method))
        })?;
        Ok(CheckResult {
            check: raw.check,
            method: raw.method,
            verdict: raw.verdict,
            reason: raw.reason,
            statistic: raw.statistic,
            summary: raw.summary,
            rule: raw.rule,
            per_sample: raw.per_sample,
            findings,
        })
    }
}

impl CheckResult {
    /// A pass or fail result from `summary`; the caller fills in the reason, statistic, rule
    /// and per-sample values.
    pub fn judged(
        check: &str,
        method: &str,
        pass: bool,
        summary: Summary,
        findings: Findings,
    ) -> Self {
        CheckResult {
            verdict: if pass { Verdict::Pass } else { Verdict::Fail },
            summary,
            findings,
            ..CheckResult::error(check, method, String::new(), "")
        }
    }

    /// A result whose check could not be evaluated.
    pub fn error(check: &str, method: &str, reason: impl Into<String>, rule: &str) -> Self {
        CheckResult {
            check: check.into(),
            method: method.into(),
            verdict: Verdict::Error,
            reason: reason.into(),
            statistic: String::new(),
            summary: Summary::empty(),
            rule: rule.into(),
            per_sample: Vec::new(),
            findings: Findings::None,
        }
    }

    /// What tells this result apart from the method's other results of the same check.
    pub fn configuration(&self) -> Option<String> {
        self.findings.configuration()
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
}

/// What one check returns.
#[derive(Debug, Default)]
pub struct Outcome {
    pub results: Vec<CheckResult>,
    pub gallery: Option<Gallery>,
}

impl Outcome {
    pub fn new(results: Vec<CheckResult>) -> Self {
        Outcome {
            results,
            gallery: None,
        }
    }
}

/// One check as it was run: its name and parameters, its position in the suite and how many
/// results it produced (so shard reports can be merged back in suite order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub check: String,
    pub params: serde_json::Value,
    pub index: usize,
    pub results: usize,
}

/// A run's report: every result of every check, with what produced it. Contains no timing, so
/// the same suite and seed give byte-identical JSON on the same machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub blindspot: String,
    /// `wall`, `theorem`, `randomization`, … for one check; `suite:NAME` for a suite.
    pub check: String,
    pub seed: u64,
    pub device: String,
    pub checks: Vec<CheckRun>,
    pub results: Vec<CheckResult>,
    /// `K/N` for a shard report (absent once merged or when unsharded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Report {
    pub fn new(check: String, seed: u64, device: tch::Device) -> Self {
        Report {
            schema: SCHEMA.into(),
            blindspot: env!("CARGO_PKG_VERSION").into(),
            check,
            seed,
            device: crate::device::device_name(device),
            checks: Vec::new(),
            results: Vec::new(),
            shard: None,
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

    /// Whether any result failed or errored.
    pub fn any_failure(&self) -> bool {
        self.results.iter().any(|r| r.verdict != Verdict::Pass)
    }

    /// Pretty JSON with a final newline. Non-finite numbers never occur: checks store undefined
    /// values as null.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("reports serialise");
        text.push('\n');
        text
    }

    /// Writes the JSON atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }

    /// Merges shard reports of one suite back into the report the whole suite would give.
    pub fn merge(shards: Vec<Report>) -> Result<Report> {
        let place = "blindspot merge";
        let Some(first) = shards.first() else {
            return Err(Error::input(
                "no report to merge",
                place,
                "pass the shards' report.json files",
            ));
        };
        let mut merged = Report {
            shard: None,
            checks: Vec::new(),
            results: Vec::new(),
            ..first.clone()
        };
        let mut parts: Vec<(CheckRun, Vec<CheckResult>)> = Vec::new();
        for shard in &shards {
            let key = |r: &Report| (r.check.clone(), r.seed, r.schema.clone());
            if key(shard) != key(first) {
                return Err(Error::input(
                    format!(
                        "cannot merge `{}` (seed {}) with `{}` (seed {})",
                        shard.check, shard.seed, first.check, first.seed
                    ),
                    place,
                    "merge the shards of one suite run with one seed",
                ));
            }
            if shard.checks.iter().map(|c| c.results).sum::<usize>() != shard.results.len() {
                return Err(Error::input(
                    "a shard report lists more or fewer results than it holds",
                    place,
                    "regenerate the shard",
                ));
            }
            for (run, results) in shard.runs() {
                if parts.iter().any(|(r, _)| r.index == run.index) {
                    return Err(Error::input(
                        format!("check {} appears in two shards", run.index),
                        place,
                        "merge each shard once",
                    ));
                }
                parts.push((run.clone(), results.to_vec()));
            }
        }
        parts.sort_by_key(|(run, _)| run.index);
        for (run, results) in parts {
            merged.checks.push(run);
            merged.results.extend(results);
        }
        Ok(merged)
    }
}
