//! The verdict the two randomization checks share (Adebayo et al., NeurIPS 2018): maps of a
//! method before and after its model loses what it learned should not stay alike. Per image the
//! Spearman rank correlation of the absolute maps; judged against the threshold (0.5 by
//! default; docs/checks.md justifies it from the controls) with
//! [`super::stats::judge_below`]: pass iff the upper bound is below it, fail iff the lower bound
//! is at or above it, inconclusive otherwise.
//!
//! A constant map has no ordering, so its rank correlation is undefined. Rule: it counts 0 —
//! a map that became constant kept none of the trained map's ordering — unless both maps are
//! identical, which counts 1 (nothing changed). The count is reported (`undefined`).
use super::similarity::Similarities;
use crate::io::number::fixed;
use super::stats::{judge_below_crossed, mean, percent, Crossed, Threshold};
use super::{CheckResult, Findings, Verdict};
use crate::cam::CamMethod;
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
    /// The error rate of each side of the decision.
    pub alpha: f64,
    /// "after every layer is randomized", "between the true-label and the random-label model".
    pub what: &'a str,
}

impl Rule<'_> {
    /// The verdict on per-image Spearman(abs) values, one row per independent randomization
    /// (`draws[r][i]`, R ≥ 1 rows of the same images), `undefined` of them set by the rule.
    pub fn verdict(
        &self,
        method: &dyn CamMethod,
        draws: Vec<Vec<f64>>,
        undefined: usize,
        findings: Findings,
    ) -> CheckResult {
        let (threshold, what) = (self.threshold, self.what);
        let rule = format!(
            "pass iff the one-sided upper Student-t bound ({} per side) of mean Spearman(abs) \
             {what} is < {threshold}; fail iff the lower bound is >= {threshold}; inconclusive \
             otherwise; a constant map counts 0 (1 if both maps are identical)",
            percent(1.0 - self.alpha)
        );
        let images = draws.first().map_or(0, |row| row.len());
        if images < 2 {
            let reason = "a verdict needs at least 2 images";
            return CheckResult {
                per_sample: draws.concat().into_iter().map(Some).collect(),
                undefined,
                findings,
                ..CheckResult::error(self.check, method, reason, &rule)
            };
        }
        let bar = Threshold {
            value: threshold,
            inclusive: false,
        };
        let design = Crossed::of(&draws);
        let per_sample = design.per_image.iter().map(|&v| Some(v)).collect();
        let (verdict, s) = judge_below_crossed(&design, self.alpha, bar);
        // Spearman correlations lie in [-1, 1]: so do the bounds shown (issue 40: 4 draws gave
        // [-1.831, 2.582]), when the threshold is inside the range and the verdict cannot move.
        let s = match threshold > -1.0 && threshold < 1.0 {
            true => s.within(-1.0, 1.0),
            false => s,
        };
        let comparison = match verdict {
            Verdict::Pass => format!("upper bound {} < {threshold}", fixed(s.ci_high, 3)),
            Verdict::Fail => format!("lower bound {} >= {threshold}", fixed(s.ci_low, 3)),
            _ => format!(
                "bounds {}..{} straddle {threshold}; {}",
                fixed(s.ci_low, 3),
                fixed(s.ci_high, 3),
                design.narrowing()
            ),
        };
        let over = match draws.len() {
            1 => String::new(),
            r => format!(" (mean of {r} independent randomizations)"),
        };
        let constant = match undefined {
            0 => String::new(),
            k => format!("; {k} constant map(s) counted by the rule"),
        };
        CheckResult {
            reason: format!(
                "mean Spearman(abs) {what}{over} = {}: {comparison}{constant}",
                fixed(s.mean, 3)
            ),
            statistic: format!("mean Spearman rank correlation of absolute maps {what}"),
            rule,
            per_sample,
            undefined,
            threshold: Some(bar),
            draws: if draws.len() > 1 { draws } else { Vec::new() },
            ..CheckResult::new(self.check, method, verdict, s, findings)
        }
    }
}
