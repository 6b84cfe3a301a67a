//! What `blindspot merge` verifies of a result it did not compute: a shard's report.json is a
//! file anyone could have edited, so every result is re-derived from its own evidence and a
//! result whose verdict, interval or moments contradict that evidence is refused (never
//! repaired). The rules:
//!
//! * every number is finite, `std ≥ 0`, `ci_low ≤ mean ≤ ci_high`, the level in [0, 1] (1: an exact
//!   verdict);
//! * the per-sample values give back `n`, the mean and the standard deviation (to 1e-9,
//!   relative), and `undefined` counts no more samples than there are;
//! * a verdict on a mean against a threshold (wall, randomization, data randomization, class
//!   sensitivity: the result carries its [`Threshold`]) has the symmetric Student-t bounds of its
//!   sample, at least as wide as the run's per-verdict error demands, and the verdict those bounds
//!   give against the threshold;
//! * a theorem configuration with a fixed class fails exactly when its closed form lies outside
//!   its interval, and its estimate is its mean;
//! * a sign-ambiguous method keeps the worse of its two signs' verdicts.
//!
//! Sequential looks only widen an interval, so a result decided after a second look passes the
//! width rule too. Issue 22's exact merge will decide verdicts from shard evidence itself; until
//! then these rules make a tampered shard a refusal rather than a verdict.
use super::outcome::{CheckResult, ErrorControl, Findings, Verdict};
use super::stats::{mean, std, t_quantile, Threshold};
use super::theorem::ClassChoice;

/// Relative tolerance for numbers recomputed from the same float64 values (sums in another order).
const TOLERANCE: f64 = 1e-9;

fn close(a: f64, b: f64) -> bool {
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
    if result.undefined > result.per_sample.len().max(s.n) {
        return Err(format!(
            "undefined = {} exceeds the {} samples",
            result.undefined,
            result.per_sample.len().max(s.n)
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
    if let Some(threshold) = result.threshold {
        below_threshold(result, threshold, control)?;
    }
    if let Findings::Theorem(t) = &result.findings {
        if !close(t.estimate, s.mean) {
            return Err(format!(
                "the estimate {} is not the mean {}",
                t.estimate, s.mean
            ));
        }
        let within = s.ci_low <= t.closed_form && t.closed_form <= s.ci_high;
        let fixed = t.class == ClassChoice::Fixed;
        if t.consistent != (fixed && within) {
            return Err(format!(
                "`consistent: {}` but the closed form {} lies {} [{}, {}]",
                t.consistent,
                t.closed_form,
                if within { "inside" } else { "outside" },
                s.ci_low,
                s.ci_high
            ));
        }
        if (result.verdict == Verdict::Fail) != (fixed && !within) {
            return Err(format!(
                "verdict {} but the closed form {} lies {} the interval",
                result.verdict,
                t.closed_form,
                if within { "inside" } else { "outside" }
            ));
        }
    }
    if let Some(signs) = &result.signs {
        let worse = signs.as_computed.verdict.worse(signs.negated.verdict);
        if result.verdict != worse {
            return Err(format!(
                "verdict {} but its signs gave {} and {} (the worse decides)",
                result.verdict, signs.as_computed.verdict, signs.negated.verdict
            ));
        }
    }
    Ok(())
}

/// The rules for a verdict on a mean against a threshold ([`super::stats::judge_below`]).
fn below_threshold(
    result: &CheckResult,
    threshold: Threshold,
    control: &ErrorControl,
) -> Result<(), String> {
    let s = &result.summary;
    if !threshold.value.is_finite() {
        return Err(format!("threshold {} is not finite", threshold.value));
    }
    if s.n < 2 {
        return Err(format!("a verdict on a mean from n = {} sample", s.n));
    }
    let (up, down) = (s.ci_high - s.mean, s.mean - s.ci_low);
    if !close(up, down) {
        return Err(format!(
            "the bounds [{}, {}] are not symmetric about the mean {}",
            s.ci_low, s.ci_high, s.mean
        ));
    }
    // The narrowest bounds the run's error rate allows: t(1 − α) · std / √n.
    let t = t_quantile(1.0 - control.per_verdict_error, (s.n - 1) as f64);
    let least = t * s.std / (s.n as f64).sqrt();
    if up < least && !close(up, least) {
        return Err(format!(
            "the bounds ±{up} are narrower than the ±{least} that a per-verdict error of {:.2e} \
             needs at n = {} and std = {}",
            control.per_verdict_error, s.n, s.std
        ));
    }
    let verdict = if threshold.below(s.ci_high) {
        Verdict::Pass
    } else if !threshold.below(s.ci_low) {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    // A class-agnostic method fails whatever its bounds say (its SSIM is 1 everywhere).
    let agnostic =
        matches!(&result.findings, Findings::ClassSensitivity(f) if f.detail.class_agnostic);
    if verdict != result.verdict && !(agnostic && result.verdict == Verdict::Fail) {
        return Err(format!(
            "verdict {} but its bounds [{}, {}] against the threshold {} {} give {verdict}",
            result.verdict,
            s.ci_low,
            s.ci_high,
            threshold.symbol(),
            threshold.value
        ));
    }
    Ok(())
}
