//! Negative controls in the randomization-type checks (model and data randomization, Smooth and
//! Efficient MPRT). Binder et al. ("Shortcomings of Top-Down Randomization-Based Sanity Checks
//! for Evaluations of Deep Neural Network Explanations", CVPR 2023) show that degenerate
//! explanations can pass randomization tests: a map built from the randomized model's
//! activations changes with them whatever it explains. So three degenerate explanations run
//! beside the methods, on the same images and randomizations, under the same rule and the same
//! per-verdict error:
//!
//! * RandomCAM: random channel weights over the explained layer's activations (its seed from
//!   the stream `method/randomcam`, as the method of that name);
//! * Sobel: the input's edges, no model at all;
//! * the constant map ([`crate::cam::constant::ConstantMap`]).
//!
//! Every method's result records where the controls landed. The check separates only when every
//! control fails. When one of them passes, the check cannot tell an explanation from a
//! degenerate one on this model and data; when one is inconclusive (or an error), it has not
//! shown that it can: either way every method's pass or fail becomes inconclusive, the control
//! named in the reason (an undecided control may decide on more images: the runner looks again,
//! a passing one would not). That moves verdicts only towards inconclusive, so it cannot add a
//! wrong pass or fail: the controls' own decisions need no share of the family's error rate.
use super::{CheckResult, Control, Verdict};
use super::CheckContext;
use crate::cam::constant::ConstantMap;
use crate::cam::randomcam::RandomCam;
use crate::cam::sobel::Sobel;
use crate::cam::CamMethod;
use crate::seed::streams;

/// The controls, in the order reports list them.
pub fn methods(ctx: &CheckContext) -> Vec<Box<dyn CamMethod>> {
    vec![
        Box::new(RandomCam {
            seed: ctx.stream(streams::RANDOMCAM).seed(),
        }),
        Box::new(Sobel),
        Box::new(ConstantMap),
    ]
}

/// `methods` followed by the controls, as one list for a check's explain loop.
pub fn with_controls<'a>(
    methods: &'a [Box<dyn CamMethod>],
    controls: &'a [Box<dyn CamMethod>],
) -> Vec<&'a dyn CamMethod> {
    methods.iter().chain(controls).map(|m| m.as_ref()).collect()
}

/// Splits a check's results on methods ++ controls (`controls` of them at the end), records the
/// controls in every method's result, and makes every pass or fail inconclusive unless every
/// control failed.
pub fn apply(mut results: Vec<CheckResult>, controls: usize) -> Vec<CheckResult> {
    let landed: Vec<Control> = results
        .split_off(results.len() - controls)
        .into_iter()
        .map(Control::of)
        .collect();
    let named = |verdict: Verdict| -> Vec<&str> {
        landed
            .iter()
            .filter(|c| c.verdict == verdict)
            .map(|c| c.method.as_str())
            .collect()
    };
    let passing = named(Verdict::Pass);
    let undecided: Vec<&str> = [named(Verdict::Inconclusive), named(Verdict::Error)].concat();
    let why = match (passing.is_empty(), undecided.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!(
            "the check cannot separate: its negative control {} passes too",
            passing.join(" and ")
        )),
        (true, false) => Some(format!(
            "the check has not shown that it separates: its negative control {} is undecided",
            undecided.join(" and ")
        )),
    };
    for result in &mut results {
        result.controls = landed.clone();
        let Some(why) = &why else { continue };
        if !matches!(result.verdict, Verdict::Pass | Verdict::Fail) {
            continue;
        }
        result.reason = format!(
            "{why} (this method alone: {}, {})",
            result.verdict, result.reason
        );
        result.verdict = Verdict::Inconclusive;
    }
    results
}
