//! The statistics behind verdicts: sample moments, ranks and Student-t quantiles from statrs;
//! Student-t intervals, a seeded percentile bootstrap and Spearman's rank correlation (average
//! ranks for ties, as scipy) built on them.
use super::Verdict;
use crate::seed::Stream;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::statistics::{Data, OrderStatistics, RankTieBreaker, Statistics};

/// Mean, standard deviation (n − 1) and an interval for the mean of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their standard deviation (n − 1).
    pub std: f64,
    /// The interval's lower end.
    pub ci_low: f64,
    /// The interval's upper end.
    pub ci_high: f64,
    /// Coverage of [ci_low, ci_high]: two-sided level, or 1 − α of a one-sided bound (the other
    /// end is then −∞ or +∞ and reported as the sample's own min or max).
    pub ci_level: f64,
    /// How the interval was computed, e.g. "Student-t, one-sided upper 95%".
    pub interval: String,
    /// The statistic's range when its bounds were clipped to it ([`Summary::within`]): a mean
    /// of Spearman correlations lies in [−1, 1] whatever a Student-t bound of few draws says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

impl Summary {
    /// The summary of nothing: a result that could not be evaluated.
    pub fn empty() -> Self {
        Summary {
            n: 0,
            mean: 0.0,
            std: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
            ci_level: 0.0,
            interval: String::new(),
            range: None,
        }
    }

    /// The same summary with its bounds clipped to the statistic's range [`low`, `high`] (the
    /// verdict is unchanged while the threshold lies strictly inside it: a bound beyond the
    /// range is beyond the threshold either way); the words say so when a bound moved.
    pub fn within(mut self, low: f64, high: f64) -> Self {
        let (ci_low, ci_high) = (self.ci_low.max(low), self.ci_high.min(high));
        if (ci_low, ci_high) != (self.ci_low, self.ci_high) {
            let words = format!(", clipped to the statistic's range [{low}, {high}]");
            self.interval.push_str(&words);
        }
        self.ci_low = ci_low;
        self.ci_high = ci_high;
        self.range = Some([low, high]);
        self
    }
}

/// Count, mean and standard deviation of a sample (no mean or std when it is empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub n: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

impl Moments {
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Moments {
                n: 0,
                mean: None,
                std: None,
            };
        }
        Moments {
            n: values.len(),
            mean: Some(mean(values)),
            std: Some(std(values)),
        }
    }
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().mean()
}

/// Sample standard deviation with n − 1 (0 for n < 2).
pub fn std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    values.iter().std_dev()
}

/// Quantile `p` of Student's t with `df` degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).expect("df > 0").inverse_cdf(p)
}

/// Which side(s) an interval bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    TwoSided,
    Upper,
    Lower,
}

/// Student-t interval for the mean at `level` (n ≥ 2). One-sided intervals report the sample
/// minimum (Upper) or maximum (Lower) as the open end, so the numbers stay finite in JSON.
pub fn t_interval(values: &[f64], level: f64, side: Side) -> Summary {
    let n = values.len();
    let (m, s) = (mean(values), std(values));
    let se = s / (n as f64).sqrt();
    let df = (n - 1) as f64;
    let (low, high, words) = match side {
        Side::TwoSided => {
            let t = t_quantile(0.5 + level / 2.0, df);
            (
                m - t * se,
                m + t * se,
                format!("Student-t, two-sided {}", percent(level)),
            )
        }
        Side::Upper => {
            let t = t_quantile(level, df);
            (
                min(values).min(m),
                m + t * se,
                format!("Student-t, one-sided upper {}", percent(level)),
            )
        }
        Side::Lower => {
            let t = t_quantile(level, df);
            (
                m - t * se,
                max(values).max(m),
                format!("Student-t, one-sided lower {}", percent(level)),
            )
        }
    };
    Summary {
        n,
        mean: m,
        std: s,
        ci_low: low,
        ci_high: high,
        ci_level: level,
        interval: words,
        range: None,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().cloned().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
}

/// Seeded percentile bootstrap of the mean: `resamples` resamples with replacement, the
/// interval from the empirical quantiles of their means.
pub fn bootstrap_interval(
    values: &[f64],
    level: f64,
    side: Side,
    resamples: usize,
    stream: Stream,
) -> Summary {
    let n = values.len();
    let mut rng = stream.rng();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(|a, b| a.partial_cmp(b).expect("finite values"));
    let q = |p: f64| means[((p * resamples as f64).ceil() as usize).clamp(1, resamples) - 1];
    let (low, high, words) = match side {
        Side::TwoSided => (q(0.5 - level / 2.0), q(0.5 + level / 2.0), "two-sided"),
        Side::Upper => (min(values), q(level), "one-sided upper"),
        Side::Lower => (q(1.0 - level), max(values), "one-sided lower"),
    };
    Summary {
        n,
        mean: mean(values),
        std: std(values),
        ci_low: low,
        ci_high: high,
        ci_level: level,
        interval: format!(
            "percentile bootstrap ({resamples} resamples), {words} {:.0}%",
            level * 100.0
        ),
        range: None,
    }
}

/// Ranks with ties given their average rank (1-based), as scipy's `rankdata`.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    Data::new(values.to_vec()).ranks(RankTieBreaker::Average)
}

/// Pearson correlation; None when either side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let (va, vb) = (a.iter().variance(), b.iter().variance());
    if va == 0.0 || vb == 0.0 || !(va.is_finite() && vb.is_finite()) {
        return None;
    }
    Some((a.iter().covariance(b.iter()) / (va * vb).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman rank correlation (Pearson of average ranks); None when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Replaces non-finite numbers by nothing: reports never contain NaN.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A threshold that the mean of a per-sample statistic should stay below (µ behind a wall, the
/// similarity of maps that ought to differ). Results record it, so that merge can re-derive their
/// verdicts (docs/checks.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The threshold.
    pub value: f64,
    /// A bound equal to the threshold passes (`<=`) rather than fails to pass (`<`).
    pub inclusive: bool,
}

impl Threshold {
    pub(crate) fn below(&self, bound: f64) -> bool {
        bound < self.value || (self.inclusive && bound == self.value)
    }

    /// `<=` or `<`.
    pub fn symbol(&self) -> &'static str {
        if self.inclusive {
            "<="
        } else {
            "<"
        }
    }
}

/// A rate such as 0.01 as "1%" (0.001 as "0.1%").
pub fn rate(x: f64) -> String {
    let value = (x * 100.0 * 1e9).round() / 1e9;
    format!("{value}%")
}

/// A level such as 0.99985 as "99.985%", with as many decimals as its error rate needs.
pub fn percent(level: f64) -> String {
    let error = (1.0 - level) * 100.0;
    let decimals = if error >= 1.0 {
        0
    } else {
        (-error.log10()).ceil() as usize + 1
    };
    let text = format!("{:.*}", decimals, level * 100.0);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}%")
}

/// The mean of a per-sample statistic and its standard error, from R ≥ 1 independent draws of
/// a randomization crossed with the same N images (`values[r][i]`: draw r, image i).
///
/// One draw: the Student-t standard error of the images, s/√N, with N − 1 degrees of freedom.
/// R ≥ 2 draws: the grand mean's variance in a crossed random-effects design
/// (v_ri = µ + a_i + b_r + e_ri) is σ²_a/N + σ²_b/R + σ²_e/(NR); its estimate here is
/// s²_images/N + s²_draws/R, the sample variances of the images' means (over draws) and of the
/// draws' means (over images), whose expectation is the true variance plus σ²_e/(NR) — never
/// negative and conservative by the interaction counted twice — with Satterthwaite's degrees of
/// freedom. A draw that happened to be lucky for every image widens the interval instead of
/// deciding the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossed {
    /// The images' means over the draws (the per-sample values a report shows).
    pub per_image: Vec<f64>,
    /// The draws' means over the images.
    pub per_draw: Vec<f64>,
    pub mean: f64,
    pub se: f64,
    pub df: f64,
}

impl Crossed {
    /// The design of `values` (R rows of N ≥ 2 values each, R ≥ 1).
    pub fn of(values: &[Vec<f64>]) -> Self {
        let (r, n) = (values.len(), values[0].len());
        let per_image: Vec<f64> = (0..n)
            .map(|i| values.iter().map(|row| row[i]).sum::<f64>() / r as f64)
            .collect();
        let per_draw: Vec<f64> = values.iter().map(|row| mean(row)).collect();
        let se_images = std(&per_image) / (n as f64).sqrt();
        let (se, df) = match r {
            1 => (se_images, (n - 1) as f64),
            _ => {
                let images = se_images.powi(2);
                let draws = std(&per_draw).powi(2) / r as f64;
                let total = images + draws;
                let df = match total > 0.0 {
                    true => {
                        let parts =
                            images.powi(2) / (n - 1) as f64 + draws.powi(2) / (r - 1) as f64;
                        total.powi(2) / parts
                    }
                    false => (n - 1) as f64,
                };
                (total.sqrt(), df)
            }
        };
        Crossed {
            mean: mean(&per_image),
            per_image,
            per_draw,
            se,
            df,
        }
    }

    /// The number of draws.
    pub fn draws(&self) -> usize {
        self.per_draw.len()
    }

    /// What would narrow the bounds most, for an inconclusive verdict's reason: with draws, the
    /// share of the squared standard error that the images' spread and the draws' spread make
    /// (their two terms above), and which of more images or more draws shrinks it more; with one
    /// draw, more images (or draws, which average out the randomization's own spread).
    pub fn narrowing(&self) -> String {
        let n = self.per_image.len() as f64;
        let r = self.draws() as f64;
        if self.draws() < 2 {
            return "more images would narrow the bounds (or more draws, whose spread one draw \
                    cannot show)"
                .into();
        }
        let images = std(&self.per_image).powi(2) / n;
        let draws = std(&self.per_draw).powi(2) / r;
        let total = images + draws;
        if total <= 0.0 {
            return "the bounds have no spread to narrow".into();
        }
        let share = |part: f64| format!("{:.0}%", 100.0 * part / total);
        let more = if draws > images { "draws" } else { "images" };
        format!(
            "the images' spread makes {} of the squared standard error and the draws' {}: more \
             {more} would narrow the bounds most",
            share(images),
            share(draws)
        )
    }

    /// How the bounds were computed, for the report.
    fn words(&self, alpha: f64) -> String {
        let each = percent(1.0 - alpha);
        match self.draws() {
            1 => format!("Student-t, one-sided bounds at {each} each"),
            r => format!(
                "Student-t over images and {r} draws (crossed design, Satterthwaite df {:.1}), \
                 one-sided bounds at {each} each",
                self.df
            ),
        }
    }
}

/// The three-way verdict on the mean of `values` (n ≥ 2) against `threshold`, each side decided
/// at error rate `alpha`: pass iff the one-sided upper (1 − α) Student-t bound is below the
/// threshold, fail iff the one-sided lower (1 − α) bound is above it (or at it, for an exclusive
/// threshold), inconclusive when the bounds straddle it. Whatever the true mean, at most one of
/// the two wrong answers is possible and each has probability at most α. The summary's interval
/// is the pair of bounds (a two-sided 1 − 2α interval).
pub fn judge_below(values: &[f64], alpha: f64, threshold: Threshold) -> (Verdict, Summary) {
    judge_below_crossed(&Crossed::of(&[values.to_vec()]), alpha, threshold)
}

/// [`judge_below`] on the mean of a [`Crossed`] design, its bounds from the design's standard
/// error and degrees of freedom; the summary's n and std are the images' (of their means over
/// the draws).
pub fn judge_below_crossed(
    design: &Crossed,
    alpha: f64,
    threshold: Threshold,
) -> (Verdict, Summary) {
    let m = design.mean;
    let half = t_quantile(1.0 - alpha, design.df) * design.se;
    let (low, high) = (m - half, m + half);
    let verdict = if threshold.below(high) {
        Verdict::Pass
    } else if !threshold.below(low) {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    let summary = Summary {
        n: design.per_image.len(),
        mean: m,
        std: std(&design.per_image),
        ci_low: low,
        ci_high: high,
        ci_level: 1.0 - 2.0 * alpha,
        interval: design.words(alpha),
        range: None,
    };
    (verdict, summary)
}

/// [`judge_below`]'s mirror for a statistic that should rise above the threshold: pass iff the
/// one-sided lower (1 − α) bound is above it (or at it, for an inclusive threshold), fail iff
/// the upper bound is at or below it (below it, for an inclusive one), inconclusive when the
/// bounds straddle it; the same error rates.
pub fn judge_above(values: &[f64], alpha: f64, threshold: Threshold) -> (Verdict, Summary) {
    judge_above_crossed(&Crossed::of(&[values.to_vec()]), alpha, threshold)
}

/// [`judge_above`] on the mean of a [`Crossed`] design.
pub fn judge_above_crossed(
    design: &Crossed,
    alpha: f64,
    threshold: Threshold,
) -> (Verdict, Summary) {
    let negate = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
    let negated = Crossed {
        per_image: negate(&design.per_image),
        per_draw: negate(&design.per_draw),
        mean: -design.mean,
        ..design.clone()
    };
    let mirrored = Threshold {
        value: -threshold.value,
        inclusive: threshold.inclusive,
    };
    let (verdict, s) = judge_below_crossed(&negated, alpha, mirrored);
    let summary = Summary {
        mean: -s.mean,
        ci_low: -s.ci_high,
        ci_high: -s.ci_low,
        ..s
    };
    (verdict, summary)
}

/// How a run controls its error rate: Bonferroni over its verdicts. Each verdict is decided at
/// `per_verdict_error`, so the chance that any definitive verdict of the run (a pass or a fail) is
/// wrong is at most `family_wise_error`, whatever the dependence between verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorControl {
    /// Chance of one or more wrong passes or fails in the whole run.
    pub family_wise_error: f64,
    /// Sampled verdicts the run makes: one per method (per sign for a sign-ambiguous method) and
    /// check, one per theorem configuration or property case; exact verdicts count none.
    pub family_size: usize,
    /// family_wise_error / family_size.
    pub per_verdict_error: f64,
}

impl ErrorControl {
    /// Bonferroni: `family_wise_error` shared over `family_size` verdicts.
    /// With no sampled verdict (exact checks only) nothing is shared: the per-verdict error is
    /// the family's.
    pub fn bonferroni(family_wise_error: f64, family_size: usize) -> Self {
        ErrorControl {
            family_wise_error,
            family_size,
            per_verdict_error: family_wise_error / family_size.max(1) as f64,
        }
    }

    /// The one-line statement of the control, for the table and the Markdown report.
    pub fn describe(&self) -> String {
        if self.family_size == 0 {
            return "no sampled verdict: every verdict of this run is exact (no error to control)"
                .into();
        }
        // Decisions, not results: each sign of a sign-ambiguous method is decided on its own, and
        // a verdict with L looks at the data spends 1/L of its error at each (the rule's level).
        format!(
            "family-wise error {} over {} decisions (Bonferroni; each sign of a sign-ambiguous \
             method counts): each decided at {:.2e} per side, shared among its looks",
            super::stats::rate(self.family_wise_error),
            self.family_size,
            self.per_verdict_error
        )
    }
}
