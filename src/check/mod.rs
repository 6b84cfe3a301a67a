//! Sanity checks: each takes a CAM method and gives a verdict with the statistics behind it.
//!
//! One file per check ([`wall`], [`theorem`], [`randomization`], [`data_randomization`],
//! [`class_sensitivity`]), the statistics beside them
//! ([`stats`], [`similarity`]), and suites declared in TOML ([`suite`]).
pub mod class_sensitivity;
pub mod data_randomization;
pub mod randomization;
pub mod similarity;
pub mod stats;
pub mod suite;
pub mod theorem;
pub mod wall;

use crate::cam::CamMethod;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use tch::Device;

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

/// One method's result on one check (one configuration for the theorem check).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub method: String,
    pub verdict: Verdict,
    /// Why, in words: the rule applied to the numbers, or what made the check impossible.
    pub reason: String,
    /// The test statistic's name, e.g. "mean mu (share of the map's l2 norm behind the wall)".
    pub statistic: String,
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub ci_level: f64,
    pub interval: String,
    /// The decision rule in words.
    pub rule: String,
    /// The per-sample values the statistics come from; null where the value is undefined.
    pub per_sample: Vec<Option<f64>>,
    /// Check-specific numbers (the baseline, per-step curves, …).
    pub detail: serde_json::Value,
    /// Check-specific top-level fields: `wall` for the wall check; `filters`, `estimate`,
    /// `closed_form`, `consistent`, `bounds` for the theorem check.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Default confidence level of every check's interval.
pub(crate) fn default_level() -> f64 {
    0.95
}

/// Default images per explain call of the image checks.
pub(crate) fn default_batch() -> i64 {
    32
}

impl CheckResult {
    /// A pass or fail result whose n, mean, std and interval come from `summary`; the caller
    /// fills in the reason, statistic, rule, per-sample values and detail.
    pub fn judged(check: &str, method: &str, pass: bool, summary: stats::Summary) -> Self {
        let stats::Summary {
            n,
            mean,
            std,
            ci_low,
            ci_high,
            ci_level,
            interval,
        } = summary;
        CheckResult {
            verdict: if pass { Verdict::Pass } else { Verdict::Fail },
            n,
            mean,
            std,
            ci_low,
            ci_high,
            ci_level,
            interval,
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
            n: 0,
            mean: 0.0,
            std: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
            ci_level: 0.0,
            interval: String::new(),
            rule: rule.into(),
            per_sample: Vec::new(),
            detail: serde_json::Value::Null,
            extra: serde_json::Map::new(),
        }
    }
}

/// What every check may use besides its own parameters.
pub struct CheckContext {
    pub device: Device,
    /// The suite's seed; checks derive their own streams from it.
    pub seed: u64,
}

/// A sanity check. Parameters are the implementing struct's serde fields, so suites declare them.
pub trait Check {
    /// The check's name in reports: `wall`, `theorem`, `randomization`, …
    fn name(&self) -> &str;
    /// The parameters as JSON, for the report.
    fn params(&self) -> serde_json::Value;
    /// Runs the check on every method, returning one or more results per method.
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Vec<CheckResult>>;
}

/// Replaces non-finite numbers by nothing: reports never contain NaN.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}
