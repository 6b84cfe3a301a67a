//! The verdict the two randomization checks share (Adebayo et al., NeurIPS 2018): maps of a
//! method before and after its model loses what it learned should not stay alike. Per image the
//! Spearman rank correlation of the absolute maps; pass iff the one-sided upper Student-t bound
//! of its mean is below the threshold (0.5 by default; docs/checks.md justifies it from the
//! controls).
use super::similarity::Similarities;
use super::stats::{mean, t_interval, Side};
use super::{CheckResult, Findings};
use serde::{Deserialize, Serialize};

/// Default pass threshold on the upper bound of mean Spearman(abs).
pub const THRESHOLD: f64 = 0.5;

pub(crate) fn threshold() -> f64 {
    THRESHOLD
}

/// Mean of one similarity over the images where it is defined, and how many were not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defined {
    pub mean: Option<f64>,
    pub undefined: usize,
}

impl Defined {
    fn of(values: &[Option<f64>]) -> Self {
        let defined: Vec<f64> = values.iter().flatten().cloned().collect();
        let m = (!defined.is_empty()).then(|| mean(&defined));
        Defined {
            mean: m,
            undefined: values.len() - defined.len(),
        }
    }
}

/// The four similarities of one comparison (one randomization step, or true vs random labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSimilarity {
    /// What was compared: `conv5..top`, `dense`, `true vs permuted labels`.
    pub step: String,
    pub spearman_abs: Defined,
    pub spearman_signed: Defined,
    pub ssim: Defined,
    pub hog: Defined,
}

impl StepSimilarity {
    pub fn of(step: &str, s: &Similarities) -> Self {
        StepSimilarity {
            step: step.into(),
            spearman_abs: Defined::of(&s.spearman_abs),
            spearman_signed: Defined::of(&s.spearman_signed),
            ssim: Defined::of(&s.ssim),
            hog: Defined::of(&s.hog),
        }
    }
}

/// How a randomization check asks for its verdict.
pub(crate) struct Rule<'a> {
    pub check: &'a str,
    pub threshold: f64,
    pub level: f64,
    /// "after every layer is randomized", "between the true-label and the random-label model".
    pub what: &'a str,
}

impl Rule<'_> {
    /// The verdict on per-image Spearman(abs) values.
    pub fn verdict(
        &self,
        method: &str,
        per_sample: Vec<Option<f64>>,
        findings: Findings,
    ) -> CheckResult {
        let (threshold, what) = (self.threshold, self.what);
        let rule = format!(
            "pass iff the one-sided upper {:.0}% Student-t bound of mean Spearman(abs) {what} \
             is < {threshold}",
            self.level * 100.0
        );
        let defined: Vec<f64> = per_sample.iter().flatten().cloned().collect();
        let undefined = per_sample.len() - defined.len();
        if defined.len() < 2 {
            let reason = format!(
                "Spearman is undefined for {undefined} of {} images (constant maps); at least 2 \
                 defined values are needed",
                per_sample.len()
            );
            return CheckResult {
                per_sample,
                findings,
                ..CheckResult::error(self.check, method, reason, &rule)
            };
        }
        let s = t_interval(&defined, self.level, Side::Upper);
        let pass = s.ci_high < threshold;
        let excluded = match undefined {
            0 => String::new(),
            k => format!("; {k} constant map(s) excluded"),
        };
        CheckResult {
            reason: format!(
                "mean Spearman(abs) {what} = {:.3} (upper bound {:.3}) {} {threshold}{excluded}",
                s.mean,
                s.ci_high,
                if pass { "<" } else { ">=" },
            ),
            statistic: format!("mean Spearman rank correlation of absolute maps {what}"),
            rule,
            per_sample,
            ..CheckResult::judged(self.check, method, pass, s, findings)
        }
    }
}
