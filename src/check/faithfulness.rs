//! Faithfulness by removing pixels in the map's order, as verdicts with a control: ROAD (Rong,
//! Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation Strategy for
//! Attribution Methods", ICML 2022) and the deletion game (Petsiuk, Das & Saenko, "RISE", BMVC
//! 2018), each with its least-relevant-first twin.
//!
//! For each fraction f ∈ {0.1, 0.2, …, 0.9} (pytorch-grad-cam's percentiles), MoRF removes the
//! k = ⌊f·(H·W − 1)⌋ + 1 pixels the final map ranks highest, LeRF the k it ranks lowest (ties
//! broken by a seeded permutation of the pixels, stream `faithfulness/ties`, so a constant map
//! removes the same pixels both ways); `road` fills them by noisy linear imputation
//! ([`crate::data::impute`], noise 0.01, stream `road/noise`), `deletion` with a constant (0,
//! the normalised data's mean colour). The score of an image is pytorch-grad-cam's
//! `ROADCombined`: the mean over the fractions of (p_LeRF − p_MoRF) / 2, p the softmax
//! probability of the explained class (the one the model predicts) on the perturbed image. It is
//! half Blücher, Vielhaben & Strodthoff's symmetric relevance gain ("Decoupling Pixel Flipping
//! and Occlusion Strategy for Consistent XAI Benchmarks", TMLR 2024), which takes the difference
//! so that what the fill does to the model cancels between the two orders.
//!
//! The exact answer that makes a control possible: a map independent of the image whose
//! distribution is symmetric under v ↦ c − v (uniform noise, upsampled bilinearly) removes, in
//! expectation, the same pixels first and last, so its expected score is exactly 0. Verdict on
//! the mean score ([`super::stats::judge_above`]) against `threshold` (0.05: removing the least
//! relevant pixels leaves the class probability 10 points above removing the most relevant ones,
//! on average over the fractions): pass iff the one-sided lower bound is above it, fail iff the
//! upper bound is at or below it, inconclusive otherwise. The blurred symmetric random map
//! ([`crate::cam::random_map::RandomMap`]) runs beside the methods as the negative control and
//! must fail (its expectation, 0, is below the threshold); until it does, every verdict is
//! inconclusive ([`super::controls::apply`]). Its score on an image is the mean over 4
//! independent maps (the first from the stream `localisation/random-map`, the others from its
//! sub-streams 1..3): one random map's score varies from image to image with where its blobs
//! fall (std 0.14 on the trained stack model under ROAD), which would leave the control
//! undecided, and the check unable to show that it separates, on fewer than about 200 images.
//! Blurring a map improves these scores (Song, Cha & Seo 2026), so the control is blurred as
//! CAMs are; pixel-level maps compete on that footing.
//!
//! pytorch-grad-cam removes every pixel at or beyond the fraction's percentile, all tied
//! pixels included (a ReLU'd map's zeros: at a high fraction its MoRF can remove the whole
//! image); blindspot removes exactly k, pytorch-grad-cam's count on maps without ties (a test
//! compares the scores with its `ROADCombined`, noise off).
use super::stats::{judge_above, percent, Threshold};
use super::{controls, Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::random_map::RandomMap;
use crate::cam::CamMethod;
use crate::data::impute::impute;
use crate::error::Result;
use crate::io::number::fixed;
use crate::model::init::Init;
use crate::model::SplitModel;
use crate::seed::{streams, Stream};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The fractions of pixels removed (pytorch-grad-cam's percentiles 10, 20, …, 90).
pub const FRACTIONS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/// Default pass threshold on the lower bound of the mean combined score.
pub const THRESHOLD: f64 = 0.05;
/// ROAD's default noise on imputed pixels (its standard deviation).
pub const NOISE: f64 = 0.01;
/// Independent random maps whose scores the control averages per image.
pub const CONTROL_DRAWS: u64 = 4;

/// ROAD: remove and impute the most and the least relevant pixels first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct RoadCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Pass iff the lower bound of the mean combined score is above this.
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
    /// Standard deviation of the noise added to imputed pixels (0: none).
    #[arg(long, default_value_t = NOISE)]
    pub noise: f64,
}

impl Default for RoadCheck {
    fn default() -> Self {
        RoadCheck {
            subject: Subject::default(),
            threshold: THRESHOLD,
            noise: NOISE,
        }
    }
}

/// Deletion: set the most and the least relevant pixels to a constant first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DeletionCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Pass iff the lower bound of the mean combined score is above this.
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
    /// The value removed pixels take, in the model's input space (0: the normalised mean).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub fill: f64,
}

impl Default for DeletionCheck {
    fn default() -> Self {
        DeletionCheck {
            subject: Subject::default(),
            threshold: THRESHOLD,
            fill: 0.0,
        }
    }
}

/// A faithfulness check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaithfulnessFindings {
    pub detail: FaithfulnessDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaithfulnessDetail {
    /// Mean over images and fractions of the class probability, most relevant removed first.
    pub morf: f64,
    /// The same, least relevant removed first.
    pub lerf: f64,
    /// The pass threshold on the mean combined score.
    pub threshold: f64,
    /// How removed pixels were filled.
    pub fill: String,
    pub model: String,
    pub data: String,
}

impl super::CheckFindings for FaithfulnessFindings {
    /// The merge's audit: the verdict the one-sided bounds give against the threshold, a rise
    /// above it passing (inconclusive unless the negative control failed).
    fn audit(
        &self,
        result: &CheckResult,
        control: &super::ErrorControl,
    ) -> std::result::Result<(), String> {
        let threshold = Threshold {
            value: self.detail.threshold,
            inclusive: false,
        };
        super::audit::above_threshold(result, threshold, control)
    }

    fn badge_label(&self, check: &str) -> Option<String> {
        super::result::badge_check_model(check, &self.detail.model)
    }
}

/// How removed pixels are filled.
#[derive(Clone, Copy, Debug)]
pub enum Fill {
    /// ROAD's noisy linear imputation with this noise.
    Imputed(f64),
    /// A constant.
    Constant(f64),
}

impl Fill {
    fn describe(self) -> String {
        match self {
            Fill::Imputed(noise) => format!("noisy linear imputation (noise {noise})"),
            Fill::Constant(value) => format!("the constant {value}"),
        }
    }
}

/// Rank of every pixel of `maps` \[N, H, W\] from the most relevant (0) to the least, \[N, H·W\]:
/// image i's ties broken by a permutation drawn from `ties.at(first + i)`.
pub fn ranks(maps: &Tensor, ties: Stream, first: i64) -> Tensor {
    let n = maps.size()[0];
    let flat = maps.to_device(Device::Cpu).to_kind(Kind::Double).reshape([n, -1]);
    let pixels = flat.size()[1];
    let mut order: Vec<i64> = Vec::with_capacity((n * pixels) as usize);
    for i in 0..n {
        let mut permutation: Vec<i64> = (0..pixels).collect();
        permutation.shuffle(&mut ties.at((first + i) as u64).rng());
        order.extend(permutation);
    }
    let permutation = Tensor::from_slice(&order).view([n, pixels]);
    let (_, sorted) = flat.gather(1, &permutation, false).sort_stable(true, 1, true);
    let pixel = permutation.gather(1, &sorted, false);
    let position = Tensor::arange(pixels, (Kind::Int64, Device::Cpu)).expand([n, pixels], false);
    Tensor::zeros([n, pixels], (Kind::Int64, Device::Cpu)).scatter(1, &pixel, &position)
}

/// How many pixels fraction `f` of `pixels` removes: ⌊f·(pixels − 1)⌋ + 1, what
/// pytorch-grad-cam's threshold at numpy's linearly interpolated percentile removes from a map
/// without ties (a virtual index within 1e-9 of an integer counts as that integer, as the
/// percentile's own arithmetic gives it).
pub fn removed_count(f: f64, pixels: i64) -> i64 {
    (f * (pixels - 1) as f64 + 1e-9).floor() as i64 + 1
}

/// The removal masks of every image, \[N, 2F, H, W\] (true: removed): MoRF at each fraction,
/// then LeRF at each.
pub fn removal_masks(ranks: &Tensor, h: i64, w: i64) -> Tensor {
    let (n, pixels) = (ranks.size()[0], h * w);
    let mut masks = Vec::with_capacity(2 * FRACTIONS.len());
    for most_first in [true, false] {
        for f in FRACTIONS {
            let k = removed_count(f, pixels);
            masks.push(match most_first {
                true => ranks.lt(k),
                false => ranks.ge(pixels - k),
            });
        }
    }
    Tensor::stack(&masks, 1).view([n, -1, h, w])
}

/// Per image, the softmax probability of its target class on each perturbed copy: `x` \[N, C, H,
/// W\] perturbed by `maps` \[N, H, W\] (images `first..` of the check's data), \[N, 2F\] (MoRF's
/// fractions, then LeRF's).
#[allow(clippy::too_many_arguments)]
pub fn probabilities(
    model: &dyn SplitModel,
    x: &Tensor,
    maps: &Tensor,
    targets: &Tensor,
    fill: Fill,
    seeds: (Stream, Stream),
    first: i64,
    batch: i64,
) -> Result<Tensor> {
    let (n, c, h, w) = x.size4().expect("images are [N, C, H, W]");
    let steps = 2 * FRACTIONS.len() as i64;
    let removed = removal_masks(&ranks(maps, seeds.0, first), h, w);
    let mut out = Vec::new();
    // Images a chunk so that each forward pass holds about `batch` perturbed copies.
    let per_chunk = (batch / steps).max(1);
    for start in (0..n).step_by(per_chunk as usize) {
        let m = per_chunk.min(n - start);
        let images = x.narrow(0, start, m).unsqueeze(1).expand([m, steps, c, h, w], false);
        let images = images.reshape([m * steps, c, h, w]);
        let mask = removed.narrow(0, start, m).reshape([m * steps, h, w]).to_device(x.device());
        let perturbed = match fill {
            Fill::Constant(value) => images.masked_fill(&mask.unsqueeze(1), value),
            Fill::Imputed(noise) => {
                let draws = (0..m).map(|i| {
                    let seed = seeds.1.at((first + start + i) as u64).seed();
                    Init::new(seed, Device::Cpu).normal(&[steps, c, h, w], noise.max(0.0))
                });
                let draws = Tensor::cat(&draws.collect::<Vec<_>>(), 0).to_device(x.device());
                let noise = (noise > 0.0).then_some(&draws);
                impute(&images, &mask, noise)
            }
        };
        let logits = tch::no_grad(|| model.forward(&perturbed))?;
        let p = logits.to_kind(Kind::Double).softmax(1, Kind::Double);
        let t = targets.narrow(0, start, m).to_device(p.device());
        let t = t.unsqueeze(1).expand([m, steps], false).reshape([m * steps, 1]);
        out.push(p.gather(1, &t, false).view([m, steps]).to_device(Device::Cpu));
    }
    Ok(Tensor::cat(&out, 0))
}

/// Per image, pytorch-grad-cam's combined score from [`probabilities`]: the mean over the
/// fractions of (p_LeRF − p_MoRF) / 2.
pub fn combined(p: &Tensor) -> Tensor {
    let f = FRACTIONS.len() as i64;
    (p.narrow(1, f, f) - p.narrow(1, 0, f)).mean_dim(1, false, Kind::Double) / 2.0
}

/// Either check's run: every method's combined score against the threshold, with the blurred
/// random map as the negative control.
fn run(
    check: &'static str,
    subject: &Subject,
    fill: Fill,
    threshold: f64,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let model = subject.open(ctx)?;
    let x = subject.images(model.as_ref(), ctx)?.to_device(ctx.device);
    let n = x.size()[0];
    if n < 2 {
        return Ok(Outcome::too_few_images(check, methods, n));
    }
    let stream = ctx.stream(streams::RANDOM_MAP);
    let control: Vec<Box<dyn CamMethod>> = (0..CONTROL_DRAWS)
        .map(|r| {
            let seed = if r == 0 { stream.seed() } else { stream.at(r).seed() };
            Box::new(RandomMap {
                seed,
                symmetric: true,
            }) as Box<dyn CamMethod>
        })
        .collect();
    let seeds = (ctx.stream(streams::TIES), ctx.stream(streams::ROAD_NOISE));
    let alpha = ctx.alpha();
    let bar = Threshold {
        value: threshold,
        inclusive: false,
    };
    let rule = format!(
        "pass iff the one-sided lower Student-t bound ({} per side) of the mean combined score \
         (the mean over removed fractions 0.1..0.9 of (p_LeRF - p_MoRF) / 2, p the class \
         probability, removed pixels filled by {}) is > {threshold}; fail iff the upper bound is \
         <= {threshold}; inconclusive otherwise",
        percent(1.0 - alpha),
        fill.describe()
    );
    let batch = subject.batch_size;
    let f = FRACTIONS.len() as i64;
    // Per image: the combined score and the mean class probabilities MoRF and LeRF, [N, 3].
    let scores = |maps: &Tensor, targets: &Tensor| -> Result<Tensor> {
        let p = probabilities(model.as_ref(), &x, maps, targets, fill, seeds, 0, batch)?;
        let morf = p.narrow(1, 0, f).mean_dim(1, false, Kind::Double);
        let lerf = p.narrow(1, f, f).mean_dim(1, false, Kind::Double);
        Ok(Tensor::stack(&[combined(&p), morf, lerf], 1))
    };
    let mut results = Vec::new();
    for method in methods {
        let e = ctx.explain(method.as_ref(), model.as_ref(), &x, None, batch)?;
        results.push(scores(&e.maps, &e.targets)?);
    }
    // The control: per image, the mean over its draws (each its own seed, so computed here
    // rather than through the run's memory of explanations, which knows a method by its name).
    let mut draws = Vec::new();
    for method in &control {
        let e = crate::cam::explain_batched(method.as_ref(), model.as_ref(), &x, None, batch)?;
        draws.push(scores(&e.maps, &e.targets)?);
    }
    results.push(Tensor::stack(&draws, 0).mean_dim(0, false, Kind::Double));
    let judged = methods.iter().map(|m| m.as_ref()).chain([control[0].as_ref()]);
    let mut out = Vec::new();
    for (method, per_image) in judged.zip(results) {
        let column = |j: i64| Vec::<f64>::try_from(per_image.select(1, j)).expect("scores");
        let (values, morf, lerf) = (column(0), column(1), column(2));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (morf, lerf) = (mean(&morf), mean(&lerf));
        // Class probabilities in [0, 1]: the combined score lies in [-1/2, 1/2].
        let (verdict, s) = judge_above(&values, alpha, bar);
        let s = s.within(-0.5, 0.5);
        let (lo, hi) = (fixed(s.ci_low, 3), fixed(s.ci_high, 3));
        let probs = format!(
            "class probability {} most relevant first, {} least relevant first",
            fixed(morf, 3),
            fixed(lerf, 3)
        );
        let reason = match verdict {
            Verdict::Pass => format!("{probs}: the score's lower bound {lo} > {threshold}"),
            Verdict::Fail => format!("{probs}: the score's upper bound {hi} <= {threshold}"),
            _ => format!("{probs}: the score's bounds {lo}..{hi} straddle {threshold}"),
        };
        let detail = FaithfulnessDetail {
            morf,
            lerf,
            threshold,
            fill: fill.describe(),
            model: model.name(),
            data: subject.data.describe(&ctx.seeds),
        };
        let findings = Findings::new(FaithfulnessFindings { detail });
        out.push(CheckResult {
            reason,
            statistic: "mean combined score (p_LeRF - p_MoRF) / 2 over removed fractions".into(),
            rule: rule.clone(),
            per_sample: values.into_iter().map(Some).collect(),
            ..CheckResult::new(check, method, verdict, s, findings)
        });
    }
    Ok(Outcome::new(controls::apply(out, 1)))
}

impl Check for RoadCheck {
    const NAME: &'static str = "road";
    const ABOUT: &'static str = "ROAD (Rong et al. 2022): the class probability with the most \
                                 against the least relevant pixels imputed";
    type Findings = FaithfulnessFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, 0.0, 0.5, false)?;
        crate::limits::real("noise", self.noise, 0.0, 10.0, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let fill = Fill::Imputed(self.noise);
        run(Self::NAME, &self.subject, fill, self.threshold, methods, ctx)
    }
}

impl Check for DeletionCheck {
    const NAME: &'static str = "deletion";
    const ABOUT: &'static str = "Deletion (Petsiuk et al. 2018): the class probability with the \
                                 most against the least relevant pixels set to a constant";
    type Findings = FaithfulnessFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, 0.0, 0.5, false)?;
        crate::limits::real("fill", self.fill, -1e6, 1e6, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let fill = Fill::Constant(self.fill);
        run(Self::NAME, &self.subject, fill, self.threshold, methods, ctx)
    }
}
