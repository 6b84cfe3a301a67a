//! What the two invariance checks share (input invariance, implementation invariance): a model
//! on its images against another model that computes the same function, on the same or
//! transformed images. Per image, d is the largest change of the final map (both in [0, 1]),
//! each explaining the class the model predicts; mean d is judged against a tolerance with
//! [`judge_below`]: pass iff the one-sided upper bound is at most it, fail iff the lower bound
//! is above it, inconclusive otherwise. d is defined for every pair of maps, so no value is
//! undefined.
use super::stats::{judge_below, percent, Summary, Threshold};
use super::{CheckContext, CheckResult, Findings, Verdict};
use crate::cam::{explain_batched, CamMethod};
use crate::error::Result;
use crate::io::number::fixed;
use crate::model::SplitModel;
use tch::{Kind, Tensor};

/// The model on `x` against `other` on `other_x`.
pub struct Comparison<'a> {
    pub model: &'a dyn SplitModel,
    pub x: &'a Tensor,
    pub other: &'a dyn SplitModel,
    pub other_x: &'a Tensor,
    /// Images per explain call.
    pub batch: i64,
}

/// The model's predicted classes and how the other model's logits differ from the model's, all
/// one check's methods need before their maps.
pub struct Baseline {
    /// The class each map explains: the model's prediction on `x`.
    pub targets: Tensor,
    /// The largest change of any logit (the rounding of the function-preserving change).
    pub logit_change: f64,
}

impl Comparison<'_> {
    /// Both models' logits: the targets and their largest change.
    pub fn baseline(&self) -> Result<Baseline> {
        let logits = tch::no_grad(|| self.model.forward(self.x))?;
        let other = tch::no_grad(|| self.other.forward(self.other_x))?;
        let logit_change = (&logits - &other)
            .abs()
            .max()
            .to_kind(Kind::Double)
            .double_value(&[]);
        Ok(Baseline {
            targets: logits.argmax(1, false),
            logit_change,
        })
    }

    /// Each method's result under `check`: its d per image judged against `tolerance`, with
    /// `statistic` and `rule` in words (the rule opens with the bound's level) and the check's
    /// findings from the largest d.
    #[allow(clippy::too_many_arguments)]
    pub fn judge(
        &self,
        check: &str,
        methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
        baseline: &Baseline,
        tolerance: f64,
        (statistic, what): (&str, &str),
        findings: impl Fn(f64) -> Findings,
    ) -> Result<Vec<CheckResult>> {
        let alpha = ctx.alpha();
        let t = tolerance;
        let rule = format!(
            "pass iff the one-sided upper Student-t bound ({} per side) of mean d, the largest \
             change of a map in [0, 1] when {what}, is <= {t}; fail iff the lower bound is > \
             {t}; inconclusive otherwise",
            percent(1.0 - alpha)
        );
        let bar = Threshold {
            value: t,
            inclusive: true,
        };
        let targets = Some(&baseline.targets);
        let mut results = Vec::new();
        for method in methods {
            let m = method.as_ref();
            let a = ctx.explain(m, self.model, self.x, targets, self.batch)?;
            let b = explain_batched(m, self.other, self.other_x, targets, self.batch)?;
            let values = largest_changes(&a.maps, &b.maps);
            let largest = values.iter().copied().fold(0.0, f64::max);
            let (verdict, s, reason) = judge_changes(&values, alpha, bar);
            results.push(CheckResult {
                reason,
                statistic: statistic.into(),
                rule: rule.clone(),
                per_sample: values.into_iter().map(Some).collect(),
                threshold: Some(bar),
                ..CheckResult::new(check, m, verdict, s, findings(largest))
            });
        }
        Ok(results)
    }
}

/// d per image: max over pixels |a − b| of two sets of final maps \[N, H, W\].
pub fn largest_changes(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let change = (a - b).abs().flatten(1, 2).amax(1, false);
    Vec::<f64>::try_from(change.to_kind(Kind::Double).to_device(tch::Device::Cpu))
        .expect("map changes")
}

/// Mean d judged against `tolerance` ([`judge_below`]), with the reason the table prints.
pub fn judge_changes(
    values: &[f64],
    alpha: f64,
    tolerance: Threshold,
) -> (Verdict, Summary, String) {
    let t = tolerance.value;
    // d is a change of maps in [0, 1]: it lies in [0, 1].
    let (verdict, s) = judge_below(values, alpha, tolerance);
    let s = s.within(0.0, 1.0);
    let reason = match verdict {
        Verdict::Pass => format!(
            "mean d = {:.2e}: upper bound {:.2e} <= {t}",
            s.mean, s.ci_high
        ),
        Verdict::Fail => format!(
            "mean d = {}: lower bound {} > {t}",
            fixed(s.mean, 3),
            fixed(s.ci_low, 3)
        ),
        _ => format!(
            "mean d = {}: bounds {}..{} straddle {t}",
            fixed(s.mean, 3),
            fixed(s.ci_low, 3),
            fixed(s.ci_high, 3)
        ),
    };
    (verdict, s, reason)
}
