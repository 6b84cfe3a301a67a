//! Efficient MPRT (Hedström, Weber, Lapuschkin & Höhne, "Sanity Checks Revisited: An Exploration
//! to Repair the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS 2023):
//! instead of a similarity between the maps of the trained and the randomized model, which the
//! maps' preprocessing and noise sway, compare their complexity. An explanation of a model that
//! learned something is structured; of a model whose every layer is random, it should be noisier.
//!
//! Per image: H(e) is the Shannon entropy (nats) of a `bins`-bin histogram of the final map's
//! values over [0, 1] (Quantus' `discrete_entropy`, 100 bins), and the statistic is the relative
//! rise (H(e_random) − H(e_trained)) / H(e_trained), with every layer randomized (the model
//! cascading and bottom-up randomization end in: draw r's layer at position s from the output
//! side takes sub-stream (r, s) of `randomization/weights`, as there). The full randomization is
//! drawn `draws` times independently and the bounds come from the crossed images × draws design
//! ([`super::stats::Crossed`]); the negative controls ([`super::controls`]) run beside. A map of
//! the trained model with zero entropy (constant) has no relative rise: it counts 0 (no evidence
//! of a rise) and is reported as undefined. An (image, draw) pair on which the randomized
//! network's explained layer is constant over every position in every channel meets a dead
//! network (a normalisation scale drawn at 0, say), where every map is constant whatever the
//! method; they are counted (`degenerate`), and when they are more than half, every rise of −1
//! measures the randomization rather than the methods: each verdict is inconclusive with that
//! reason, whatever the bounds say. (A method whose own maps turn constant on a live random
//! network — GradCAM's, once the head is random — is not degenerate: that is its answer.) Mean
//! rise is judged with
//! [`super::stats::judge_above`]: pass iff the one-sided lower bound is above `threshold` (0: the
//! complexity rises), fail iff the upper bound is at or below it, inconclusive otherwise.
use super::controls;
use super::randomization::{layers_top_down, one_draw, randomize, Distribution, Snapshot};
use super::randomization::{DRAWS, MAX_DRAWS};
use super::stats::{judge_above_crossed, mean, percent, Crossed, ErrorControl, Threshold};
use super::{Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::{explain_all, CamMethod};
use crate::error::Result;
use crate::io::number::fixed;
use crate::seed::streams;
use crate::SplitModel;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Default histogram bins (Quantus' default).
pub const BINS: i64 = 100;
/// Default threshold on the mean relative rise of the entropy.
pub const THRESHOLD: f64 = 0.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct EfficientMprtCheck {
    /// The trained model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// How a layer's parameters are replaced.
    #[arg(long, value_enum, default_value_t = Distribution::Gaussian)]
    pub distribution: Distribution,
    /// Bins of the histogram whose entropy measures a map's complexity.
    #[arg(long, default_value_t = BINS)]
    pub bins: i64,
    /// Pass iff the lower bound of the mean relative entropy rise is above this.
    #[arg(long, default_value_t = THRESHOLD, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Independent full randomizations (R ≥ 1); the bounds account for images and draws.
    #[arg(long, default_value_t = DRAWS)]
    pub draws: usize,
}

impl Default for EfficientMprtCheck {
    fn default() -> Self {
        EfficientMprtCheck {
            subject: Subject::default(),
            distribution: Distribution::Gaussian,
            bins: BINS,
            threshold: THRESHOLD,
            draws: DRAWS,
        }
    }
}

/// The Efficient MPRT check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientMprtFindings {
    pub detail: EfficientMprtDetail,
}

impl super::CheckFindings for EfficientMprtFindings {
    /// The verdict on the mean rise against the threshold its findings record: exactly the
    /// one-sided Student-t bounds of the crossed design, pass iff the lower bound is above the
    /// threshold, fail iff the upper bound is at or below it (inconclusive beside a passing
    /// negative control).
    fn audit(
        &self,
        result: &CheckResult,
        control: &ErrorControl,
    ) -> std::result::Result<(), String> {
        let bar = Threshold {
            value: self.detail.threshold,
            inclusive: false,
        };
        super::audit::above_threshold(result, bar, control)
    }

    /// A degenerate randomization (a dead randomized network on most images and draws) decides
    /// nothing, whatever the bounds say.
    fn forced_verdict(&self) -> Option<Verdict> {
        let dead = degenerate(self.detail.degenerate, self.detail.degenerate_of);
        dead.then_some(Verdict::Inconclusive)
    }

    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!(
            "efficient MPRT · {}, every layer",
            super::result::badge_model(&self.detail.model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientMprtDetail {
    /// Mean entropy (nats) of the trained model's maps.
    pub entropy_trained: f64,
    /// Mean entropy (nats) of the fully randomized models' maps (over every draw).
    pub entropy_randomized: f64,
    /// Independent full randomizations drawn.
    #[serde(default = "one_draw")]
    pub draws: usize,
    pub bins: i64,
    pub distribution: Distribution,
    /// The randomized layers, output side first.
    pub layers_top_down: Vec<String>,
    pub model: String,
    pub data: String,
    pub threshold: f64,
    /// (image, draw) pairs on which the randomized network's explained layer is constant over
    /// every position (a dead network).
    #[serde(default)]
    pub degenerate: usize,
    /// (image, draw) pairs: images × draws.
    #[serde(default)]
    pub degenerate_of: usize,
}

/// How many of the images `x` meet a dead network: `model`'s explained layer constant over every
/// position in every channel (every map of them is constant, whatever the method).
pub fn dead_images(model: &dyn SplitModel, x: &Tensor, batch: i64) -> Result<usize> {
    let mut dead = 0;
    for start in (0..x.size()[0]).step_by(batch.max(1) as usize) {
        let chunk = x.narrow(0, start, batch.min(x.size()[0] - start));
        let a = model.to_grid(&tch::no_grad(|| model.features(&chunk))?)?;
        let flat = a.flatten(2, -1);
        let spread = flat.amax([2].as_slice(), false) - flat.amin([2].as_slice(), false);
        let constant = spread.eq(0.0).all_dim(1, false);
        dead += constant.sum(Kind::Int64).int64_value(&[]) as usize;
    }
    Ok(dead)
}

/// The reason of a verdict on the mean rise (summary `s`, of `design`) against `t`.
fn reason(verdict: Verdict, s: &super::stats::Summary, design: &Crossed, t: f64) -> String {
    let over = match design.draws() {
        1 => String::new(),
        r => format!(" (mean of {r} independent randomizations)"),
    };
    let mean = fixed(s.mean, 3);
    match verdict {
        Verdict::Pass => format!(
            "mean entropy rise{over} = {mean}: lower bound {} > {t}",
            fixed(s.ci_low, 3)
        ),
        Verdict::Fail => format!(
            "mean entropy rise{over} = {mean}: upper bound {} <= {t}",
            fixed(s.ci_high, 3)
        ),
        _ => format!(
            "mean entropy rise{over} = {mean}: bounds {}..{} straddle {t}; {}",
            fixed(s.ci_low, 3),
            fixed(s.ci_high, 3),
            design.narrowing()
        ),
    }
}

/// Whether `dead` of `of` (image, draw) pairs meeting a dead network make the randomization
/// degenerate: more than half of them (module doc).
pub fn degenerate(dead: usize, of: usize) -> bool {
    of > 0 && 2 * dead > of
}

/// The Shannon entropy (nats) of each map's `bins`-bin histogram over [0, 1]: maps [N, H, W] ->
/// \[N\], one scatter of the bin counts for the whole batch.
pub fn entropies(maps: &Tensor, bins: i64) -> Tensor {
    let n = maps.size()[0];
    let flat = maps.flatten(1, -1).to_kind(Kind::Double);
    let pixels = flat.size()[1] as f64;
    let index = (flat * bins as f64)
        .floor()
        .clamp(0.0, (bins - 1) as f64)
        .to_kind(Kind::Int64);
    let counts = Tensor::zeros([n, bins], (Kind::Double, maps.device())).scatter_add(
        1,
        &index,
        &index.ones_like().to_kind(Kind::Double),
    );
    let p = counts / pixels;
    // 0 log 0 = 0: log of the empty bins is taken at 1.
    let logs = p.where_self(&p.gt(0.0), &p.ones_like()).log();
    -(p * logs).sum_dim_intlist(1, false, Kind::Double)
}

impl EfficientMprtCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        EfficientMprtCheck {
            subject,
            ..Self::default()
        }
    }

    /// Every method's maps of the trained model and, per draw, of the fully randomized one, the
    /// trained model restored afterwards.
    #[allow(clippy::type_complexity)]
    fn maps(
        &self,
        methods: &[&dyn CamMethod],
        model: &dyn SplitModel,
        x: &Tensor,
        ctx: &CheckContext,
    ) -> Result<(Vec<Tensor>, Vec<Vec<Tensor>>, Vec<String>, usize)> {
        let groups = layers_top_down(model)?;
        let batch = self.subject.batch_size;
        let targets = tch::no_grad(|| model.forward(x))?.argmax(1, false);
        // Each batch's forward shared by the methods.
        let explain = || -> Result<Vec<Tensor>> {
            let all = explain_all(methods, model, x, Some(&targets), batch)?;
            Ok(all.into_iter().map(|e| e.maps).collect())
        };
        let trained = explain()?;
        let snapshot = Snapshot::take(&groups);
        let weights = ctx.stream(streams::RANDOMIZATION_WEIGHTS);
        let mut dead = 0;
        let randomized = (0..self.draws)
            .map(|draw| {
                for (step, group) in groups.iter().enumerate() {
                    let stream = weights.at(draw as u64).at(step as u64);
                    randomize(group, self.distribution, stream);
                }
                dead += dead_images(model, x, batch)?;
                explain()
            })
            .collect::<Result<Vec<_>>>();
        snapshot.restore();
        let layers = groups.iter().map(|g| g.layer.clone()).collect();
        Ok((trained, randomized?, layers, dead))
    }
}

impl Check for EfficientMprtCheck {
    const NAME: &'static str = "efficient-mprt";
    const ABOUT: &'static str =
        "Efficient MPRT (Hedström et al. 2023): map entropy before and after full randomization";
    type Findings = EfficientMprtFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::int("bins", self.bins, 2, 10_000)?;
        crate::limits::count("draws", self.draws, 1, MAX_DRAWS)?;
        crate::limits::real("threshold", self.threshold, -1e3, 1e3, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let model = self.subject.open(ctx)?;
        let x = self
            .subject
            .images(model.as_ref(), ctx)?
            .to_device(ctx.device);
        if x.size()[0] < 2 {
            return Ok(Outcome::too_few_images(Self::NAME, methods, x.size()[0]));
        }
        let controls = controls::methods(ctx);
        let all = controls::with_controls(methods, &controls);
        let (trained, randomized, layers, dead) = self.maps(&all, model.as_ref(), &x, ctx)?;
        let images = (x.size()[0] as usize) * self.draws;
        let degenerate_draws = degenerate(dead, images);
        let alpha = ctx.alpha();
        let t = self.threshold;
        let rule = format!(
            "pass iff the one-sided lower Student-t bound ({} per side) of the mean relative rise \
             of the maps' entropy ({} bins) when every layer is randomized is > {t}; fail iff \
             the upper bound is <= {t}; inconclusive otherwise; a constant trained-model map \
             counts 0",
            percent(1.0 - alpha),
            self.bins
        );
        let bar = Threshold {
            value: t,
            inclusive: false,
        };
        let to_vec = |t: Tensor| Vec::<f64>::try_from(t.to_device(tch::Device::Cpu)).expect("f64");
        let mut results = Vec::new();
        for (i, (method, a)) in all.iter().zip(&trained).enumerate() {
            let h_trained = to_vec(entropies(a, self.bins));
            let h_random: Vec<Vec<f64>> = randomized
                .iter()
                .map(|draw| to_vec(entropies(&draw[i], self.bins)))
                .collect();
            // A constant trained-model map has no relative rise: it counts 0.
            let rises: Vec<Vec<f64>> = h_random
                .iter()
                .map(|row| {
                    h_trained
                        .iter()
                        .zip(row)
                        .map(|(&h0, &h1)| if h0 > 0.0 { (h1 - h0) / h0 } else { 0.0 })
                        .collect()
                })
                .collect();
            let undefined = h_trained.iter().filter(|&&h| h <= 0.0).count() * self.draws;
            let design = Crossed::of(&rises);
            let (verdict, s) = judge_above_crossed(&design, alpha, bar);
            let decided = match degenerate_draws {
                true => Verdict::Inconclusive,
                false => verdict,
            };
            let reason = match degenerate_draws {
                true => format!(
                    "the randomization is degenerate: on {dead} of {images} (image, draw) pairs \
                     the randomized network's explained layer is constant over every position \
                     (a dead network, e.g. a normalisation scale drawn at 0), so every map is \
                     constant and the rise {} says nothing of the method; try another \
                     --distribution",
                    fixed(s.mean, 3)
                ),
                false => reason(verdict, &s, &design, t),
            };
            let detail = EfficientMprtDetail {
                entropy_trained: mean(&h_trained),
                entropy_randomized: mean(&h_random.concat()),
                draws: self.draws,
                bins: self.bins,
                distribution: self.distribution,
                layers_top_down: layers.clone(),
                model: model.name(),
                data: self.subject.data.describe(&ctx.seeds),
                threshold: t,
                degenerate: dead,
                degenerate_of: images,
            };
            let findings = Findings::new(EfficientMprtFindings { detail });
            results.push(CheckResult {
                reason,
                statistic: "mean relative rise of the maps' entropy when every layer is \
                            randomized"
                    .into(),
                rule: rule.clone(),
                per_sample: design.per_image.iter().map(|&v| Some(v)).collect(),
                undefined,
                draws: if self.draws > 1 { rises } else { Vec::new() },
                ..CheckResult::new(Self::NAME, *method, decided, s, findings)
            });
        }
        Ok(Outcome::new(controls::apply(results, controls.len())))
    }
}
