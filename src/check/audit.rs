//! What `blindspot merge` verifies of a result it did not compute: a shard's report.json is a
//! file anyone could have edited, so every result is re-derived from its own evidence and a
//! result whose verdict, interval or moments contradict that evidence is refused (never
//! repaired). The rules:
//!
//! * every number is finite, `std ≥ 0`, `ci_low ≤ mean ≤ ci_high`, the level in [0, 1] (1: an exact
//!   verdict), `looks` in 1..=6;
//! * the per-sample values give back `n`, the mean and the standard deviation (to 1e-9,
//!   relative), and `undefined` counts no more samples than there are;
//! * a verdict on a mean against a threshold (a check whose findings say
//!   [`super::CheckFindings::decided_against_threshold`]: wall, randomization, data
//!   randomization, class sensitivity; such a result must carry its [`Threshold`]) has exactly the
//!   Student-t bounds and level of its n and std at the run's per-verdict error shared over L
//!   looks (some L from its looks to 6), and the verdict those bounds give against the threshold
//!   (or the one its findings force, [`super::CheckFindings::forced_verdict`]);
//! * every check's own rules, from its findings ([`super::CheckFindings::audit`]): e.g. a theorem
//!   configuration has the two-sided Student-t interval of its draws, its estimate is its mean,
//!   and its verdict is the one its rule gives;
//! * a result drawn over R ≥ 2 randomizations (`draws`) has per-sample values that are its
//!   draws' means per image, and bounds from the crossed design's standard error and
//!   Satterthwaite degrees of freedom ([`super::stats::Crossed`]) instead of n and std;
//! * a result beside a passing negative control is inconclusive where its bounds would decide;
//! * each negative control's record is itself such a result of the check (re-derived from its
//!   per-sample values and draws by the same rules), and every result of one check carries the
//!   same controls ([`super::merge`]);
//! * each sign of a sign-ambiguous method is re-derived the same way from its own evidence, the
//!   result keeps the worse of the two verdicts, and its numbers are that sign's.
//!
//! [`super::merge`] adds the rules about the report around the results: one
//! suite (its SHA-256), no partial merge as a shard, no check without results, and the checks
//! 0..m each once in a complete merge. What these rules cannot see is a threshold or a target
//! changed together with a verdict it then agrees with: the thresholds are the suite's own, and
//! a merge that decides from the suite's parameters and the shards' evidence is issue 22's.
use super::stats::{mean, std, t_quantile, Crossed, Threshold};
use super::subject::MAX_LOOKS;
use super::{CheckResult, ErrorControl, Signs, Verdict};

/// Relative tolerance for numbers recomputed from the same float64 values (sums in another order).
const TOLERANCE: f64 = 1e-9;

/// Whether `a` and `b` agree to [`TOLERANCE`] (relative, and absolute near zero).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// Ok when `result` is consistent with its own evidence under `control`; else what contradicts
/// what, in words.
pub fn audit(result: &CheckResult, control: &ErrorControl) -> Result<(), String> {
    let s = &result.summary;
    let numbers = [
        ("mean", s.mean),
        ("std", s.std),
        ("ci_low", s.ci_low),
        ("ci_high", s.ci_high),
        ("ci_level", s.ci_level),
    ];
    if let Some((name, value)) = numbers.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("{name} = {value} is not a finite number"));
    }
    let samples = result.per_sample.len().max(s.n) * result.draws.len().max(1);
    if result.undefined > samples {
        return Err(format!(
            "undefined = {} exceeds the {samples} samples",
            result.undefined
        ));
    }
    if result.verdict == Verdict::Error {
        return Ok(());
    }
    if s.n == 0 {
        return Err(format!("a {} verdict from n = 0 samples", result.verdict));
    }
    if s.std < 0.0 {
        return Err(format!("std = {} is negative", s.std));
    }
    if !(0.0..=1.0).contains(&s.ci_level) {
        return Err(format!("ci_level = {} is not in [0, 1]", s.ci_level));
    }
    let inside = s.ci_low <= s.mean || close(s.ci_low, s.mean);
    let below = s.mean <= s.ci_high || close(s.mean, s.ci_high);
    if !(inside && below) {
        return Err(format!(
            "the mean {} lies outside its own interval [{}, {}]",
            s.mean, s.ci_low, s.ci_high
        ));
    }
    let values: Vec<f64> = result.per_sample.iter().flatten().copied().collect();
    if !result.per_sample.is_empty() {
        if values.len() != s.n {
            return Err(format!(
                "n = {} but the per-sample values hold {} numbers",
                s.n,
                values.len()
            ));
        }
        let (m, sd) = (mean(&values), std(&values));
        if !close(m, s.mean) || !close(sd, s.std) {
            return Err(format!(
                "mean {} and std {} are not those of the per-sample values ({m}, {sd})",
                s.mean, s.std
            ));
        }
    }
    if !result.draws.is_empty() {
        drawn(result)?;
    }
    if !(1..=MAX_LOOKS).contains(&result.looks) {
        return Err(format!(
            "looks = {} is not in 1..={MAX_LOOKS}",
            result.looks
        ));
    }
    // The controls first: whether the result could be decided at all rests on theirs.
    for c in &result.controls {
        let numbers = (c.mean, c.ci_low, c.ci_high);
        let record = result.restated(c.verdict, numbers, c.n, &c.basis, false);
        audit(&record, control)
            .map_err(|why| format!("its negative control {}: {why}", c.method))?;
    }
    match (result.threshold, result.findings.decided_against_threshold()) {
        (Some(threshold), _) => below_threshold(result, threshold, control)?,
        (None, true) => {
            return Err(format!(
                "a `{}` verdict records no threshold to re-derive it from",
                result.check
            ))
        }
        (None, false) => {}
    }
    // The check's own rules (the theorem's closed form and precision, …).
    result.findings.audit(result, control)?;
    if let Some(signs) = &result.signs {
        signs_agree(result, signs, control)?;
    }
    Ok(())
}

/// Each sign re-derived from its own evidence; the result is the worse sign (the computed one
/// on a tie), its verdict and its numbers.
fn signs_agree(result: &CheckResult, signs: &Signs, control: &ErrorControl) -> Result<(), String> {
    for (name, sign) in [("as computed", &signs.as_computed), ("negated", &signs.negated)] {
        let numbers = (sign.mean, sign.ci_low, sign.ci_high);
        let record = result.restated(sign.verdict, numbers, sign.n, &sign.basis, true);
        audit(&record, control).map_err(|why| format!("its {name} sign: {why}"))?;
    }
    let worse = signs.as_computed.verdict.worse(signs.negated.verdict);
    if result.verdict != worse {
        return Err(format!(
            "verdict {} but its signs gave {} and {} (the worse decides)",
            result.verdict, signs.as_computed.verdict, signs.negated.verdict
        ));
    }
    let shown = match signs.negated.verdict > signs.as_computed.verdict {
        true => &signs.negated,
        false => &signs.as_computed,
    };
    let s = &result.summary;
    let same = shown.n == s.n
        && shown.mean == s.mean
        && shown.ci_low == s.ci_low
        && shown.ci_high == s.ci_high
        && shown.basis.per_sample == result.per_sample
        && shown.basis.draws == result.draws;
    match same {
        true => Ok(()),
        false => Err("its numbers are not those of the sign its verdict comes from".into()),
    }
}

/// The draws of a repeated randomization give back the per-sample values (their means per
/// image).
fn drawn(result: &CheckResult) -> Result<(), String> {
    let n = result.per_sample.len();
    if result.draws.iter().any(|row| row.len() != n) {
        return Err(format!(
            "the draws do not each hold one value per sample ({n})"
        ));
    }
    if result.draws.iter().flatten().any(|v| !v.is_finite()) {
        return Err("a draw holds a number that is not finite".into());
    }
    let design = Crossed::of(&result.draws);
    let agree = design
        .per_image
        .iter()
        .zip(&result.per_sample)
        .all(|(m, v)| v.is_some_and(|v| close(*m, v)));
    match agree {
        true => Ok(()),
        false => Err("the per-sample values are not the draws' means per image".into()),
    }
}

/// Which Student-t bounds a result reports.
#[derive(Clone, Copy)]
enum Bounds {
    /// One-sided bounds at 1 − α each, level 1 − 2α ([`super::stats::judge_below`]).
    OneSidedPair,
    /// A two-sided 1 − α interval (the theorem).
    TwoSided,
}

/// The bounds are exactly the Student-t bounds of the result's n and std at the run's
/// per-verdict error shared over L looks, for some L in the result's looks..=[`MAX_LOOKS`]: the
/// level and the half-width are recomputed and must agree (an interval made narrower, wider or
/// given another level does not).
fn student_t_bounds(
    result: &CheckResult,
    control: &ErrorControl,
    bounds: Bounds,
) -> Result<(), String> {
    let s = &result.summary;
    if s.n < 2 {
        return Err(format!("an interval from n = {} sample", s.n));
    }
    let (df, se) = match result.draws.is_empty() {
        true => ((s.n - 1) as f64, s.std / (s.n as f64).sqrt()),
        false => {
            let design = Crossed::of(&result.draws);
            (design.df, design.se)
        }
    };
    // Bounds clipped to the statistic's range (`Summary::within`) are compared clipped.
    let clip = |low: f64, high: f64| match s.range {
        Some([a, b]) => (low.max(a), high.min(b)),
        None => (low, high),
    };
    for looks in result.looks.max(1)..=MAX_LOOKS {
        let alpha = control.per_verdict_error / looks as f64;
        let (level, quantile) = match bounds {
            Bounds::OneSidedPair => (1.0 - 2.0 * alpha, t_quantile(1.0 - alpha, df)),
            Bounds::TwoSided => (1.0 - alpha, t_quantile(1.0 - alpha / 2.0, df)),
        };
        let half = quantile * se;
        let (low, high) = clip(s.mean - half, s.mean + half);
        if close(level, s.ci_level) && close(low, s.ci_low) && close(high, s.ci_high) {
            return Ok(());
        }
    }
    let up = s.ci_high - s.mean;
    Err(format!(
        "the bounds ±{up} at level {} are not the Student-t bounds of n = {} and std = {} (or of \
         its draws) at a per-verdict error of {:.2e}",
        s.ci_level, s.n, s.std, control.per_verdict_error
    ))
}

/// The rules for a verdict on a mean against a threshold ([`super::stats::judge_below`]).
pub fn below_threshold(
    result: &CheckResult,
    threshold: Threshold,
    control: &ErrorControl,
) -> Result<(), String> {
    against_threshold(result, threshold, false, control)
}

/// The rules for a verdict on a mean against a threshold ([`super::stats::judge_above`]): pass
/// iff the lower bound is above it, fail iff the upper bound is not (Efficient MPRT's rise).
pub fn above_threshold(
    result: &CheckResult,
    threshold: Threshold,
    control: &ErrorControl,
) -> Result<(), String> {
    against_threshold(result, threshold, true, control)
}

/// [`below_threshold`], or with `above` its mirror image (`judge_above` is `judge_below` on the
/// negated values, as in `super::stats`).
fn against_threshold(
    result: &CheckResult,
    threshold: Threshold,
    above: bool,
    control: &ErrorControl,
) -> Result<(), String> {
    let s = &result.summary;
    if !threshold.value.is_finite() {
        return Err(format!("threshold {} is not finite", threshold.value));
    }
    student_t_bounds(result, control, Bounds::OneSidedPair)?;
    let (bar, passing, failing) = match above {
        false => (threshold, s.ci_high, s.ci_low),
        true => {
            let mirrored = Threshold {
                value: -threshold.value,
                ..threshold
            };
            (mirrored, -s.ci_low, -s.ci_high)
        }
    };
    let verdict = if bar.below(passing) {
        Verdict::Pass
    } else if !bar.below(failing) {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    // A check separates only when every negative control fails (`super::controls`).
    let verdict = match result.separates() {
        true => verdict,
        false => Verdict::Inconclusive,
    };
    // A verdict the check gives whatever its bounds say (a class-agnostic method's fail).
    let forced = result.findings.forced_verdict();
    if verdict != result.verdict && forced != Some(result.verdict) {
        let symbol = match (above, threshold.inclusive) {
            (false, _) => threshold.symbol(),
            (true, true) => ">=",
            (true, false) => ">",
        };
        return Err(format!(
            "verdict {} but its bounds [{}, {}] against the threshold {symbol} {} give {verdict}",
            result.verdict, s.ci_low, s.ci_high, threshold.value
        ));
    }
    Ok(())
}

/// The theorem's interval: exactly the two-sided Student-t interval of the result's n and std
/// at the run's per-verdict error shared over some number of looks (as [`audit`] checks the
/// one-sided bounds of a verdict against a threshold).
pub fn two_sided_bounds(result: &CheckResult, control: &ErrorControl) -> Result<(), String> {
    student_t_bounds(result, control, Bounds::TwoSided)
}
