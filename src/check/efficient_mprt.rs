//! Efficient MPRT (Hedström, Weber, Lapuschkin & Höhne, "Sanity Checks Revisited: An Exploration
//! to Repair the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS 2023):
//! instead of a similarity between the maps of the trained and the randomized model, which the
//! maps' preprocessing and noise sway, compare their complexity. An explanation of a model that
//! learned something is structured; of a model whose every layer is random, it should be noisier.
//!
//! Per image: H(e) is the Shannon entropy (nats) of a `bins`-bin histogram of the final map's
//! values over [0, 1] (Quantus' `discrete_entropy`, 100 bins), and the statistic is the relative
//! rise (H(e_random) − H(e_trained)) / H(e_trained), with every layer randomized (the model
//! cascading and bottom-up randomization end in: the same replacement weights, stream
//! `randomization/weights`, sub-stream of the layer's position from the output side). A map of
//! the trained model with zero entropy (constant) has no relative rise: it counts 0 (no evidence
//! of a rise) and is reported as undefined. Mean rise is judged with
//! [`super::stats::judge_above`]: pass iff the one-sided lower bound is above `threshold` (0: the
//! complexity rises), fail iff the upper bound is at or below it, inconclusive otherwise.
use super::randomization::{layers_top_down, randomize, Distribution, Snapshot};
use super::stats::{judge_above, mean, percent, Threshold};
use super::{Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::{explain_batched, CamMethod};
use crate::error::Result;
use crate::seed::streams;
use crate::SplitModel;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Default histogram bins (Quantus' default).
pub const BINS: i64 = 100;
/// Default threshold on the mean relative rise of the entropy.
pub const THRESHOLD: f64 = 0.0;

fn bins() -> i64 {
    BINS
}

fn threshold() -> f64 {
    THRESHOLD
}

fn distribution() -> Distribution {
    Distribution::Gaussian
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct EfficientMprtCheck {
    /// The trained model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// How a layer's parameters are replaced.
    #[arg(long, value_enum, default_value_t = Distribution::Gaussian)]
    #[serde(default = "distribution")]
    pub distribution: Distribution,
    /// Bins of the histogram whose entropy measures a map's complexity.
    #[arg(long, default_value_t = BINS)]
    #[serde(default = "bins")]
    pub bins: i64,
    /// Pass iff the lower bound of the mean relative entropy rise is above this.
    #[arg(long, default_value_t = THRESHOLD, allow_negative_numbers = true)]
    #[serde(default = "threshold")]
    pub threshold: f64,
}

/// The Efficient MPRT check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientMprtFindings {
    pub detail: EfficientMprtDetail,
}

impl super::CheckFindings for EfficientMprtFindings {
    fn badge_label(&self, _check: &str) -> Option<String> {
        Some("efficient MPRT".into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientMprtDetail {
    /// Mean entropy (nats) of the trained model's maps.
    pub entropy_trained: f64,
    /// Mean entropy (nats) of the fully randomized model's maps.
    pub entropy_randomized: f64,
    pub bins: i64,
    pub distribution: Distribution,
    /// The randomized layers, output side first.
    pub layers_top_down: Vec<String>,
    pub model: String,
    pub data: String,
    pub threshold: f64,
}

/// The Shannon entropy (nats) of each map's `bins`-bin histogram over [0, 1]: maps [N, H, W] ->
/// [N], one scatter of the bin counts for the whole batch.
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
    pub fn new(subject: Subject) -> Self {
        EfficientMprtCheck {
            subject,
            distribution: Distribution::Gaussian,
            bins: BINS,
            threshold: THRESHOLD,
        }
    }

    /// Every method's maps of the trained and of the fully randomized model, the trained model
    /// restored afterwards.
    fn maps(
        &self,
        methods: &[Box<dyn CamMethod>],
        model: &dyn SplitModel,
        x: &Tensor,
        ctx: &CheckContext,
    ) -> Result<(Vec<Tensor>, Vec<Tensor>, Vec<String>)> {
        let groups = layers_top_down(model)?;
        let batch = self.subject.batch_size;
        let targets = tch::no_grad(|| model.forward(x))?.argmax(1, false);
        let explain = |m: &Box<dyn CamMethod>| {
            explain_batched(m.as_ref(), model, x, Some(&targets), batch).map(|e| e.maps)
        };
        let trained = methods.iter().map(explain).collect::<Result<Vec<_>>>()?;
        let snapshot = Snapshot::take(&groups);
        let weights = ctx.stream(streams::RANDOMIZATION_WEIGHTS);
        for (step, group) in groups.iter().enumerate() {
            randomize(group, self.distribution, weights.at(step as u64));
        }
        let randomized = methods.iter().map(explain).collect::<Result<Vec<_>>>();
        snapshot.restore();
        let layers = groups.iter().map(|g| g.layer.clone()).collect();
        Ok((trained, randomized?, layers))
    }
}

impl Check for EfficientMprtCheck {
    const NAME: &'static str = "efficient-mprt";
    const ABOUT: &'static str =
        "Efficient MPRT (Hedström et al. 2023): map entropy before and after full randomization";
    type Findings = EfficientMprtFindings;

    fn subject(&self) -> Option<&Subject> {
        Some(&self.subject)
    }

    fn subject_mut(&mut self) -> Option<&mut Subject> {
        Some(&mut self.subject)
    }

    /// Each method's results depend on its own maps alone: shards may split the methods.
    fn split_by_method(&self) -> bool {
        true
    }

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::int("bins", self.bins, 2, 10_000)?;
        crate::limits::real("threshold", self.threshold, -1e3, 1e3, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let model = self.subject.open(ctx)?;
        let x = self
            .subject
            .images(model.as_ref(), ctx)?
            .to_device(ctx.device);
        let (trained, randomized, layers) = self.maps(methods, model.as_ref(), &x, ctx)?;
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
        for ((method, a), b) in methods.iter().zip(&trained).zip(&randomized) {
            let (h_trained, h_random) = (
                to_vec(entropies(a, self.bins)),
                to_vec(entropies(b, self.bins)),
            );
            let rises: Vec<Option<f64>> = h_trained
                .iter()
                .zip(&h_random)
                .map(|(&h0, &h1)| (h0 > 0.0).then(|| (h1 - h0) / h0))
                .collect();
            let undefined = rises.iter().filter(|r| r.is_none()).count();
            let values: Vec<f64> = rises.iter().map(|r| r.unwrap_or(0.0)).collect();
            let (verdict, s) = judge_above(&values, alpha, bar);
            let reason = match verdict {
                Verdict::Pass => format!(
                    "mean entropy rise = {:.3}: lower bound {:.3} > {t}",
                    s.mean, s.ci_low
                ),
                Verdict::Fail => format!(
                    "mean entropy rise = {:.3}: upper bound {:.3} <= {t}",
                    s.mean, s.ci_high
                ),
                _ => format!(
                    "mean entropy rise = {:.3}: bounds {:.3}..{:.3} straddle {t}",
                    s.mean, s.ci_low, s.ci_high
                ),
            };
            let detail = EfficientMprtDetail {
                entropy_trained: mean(&h_trained),
                entropy_randomized: mean(&h_random),
                bins: self.bins,
                distribution: self.distribution,
                layers_top_down: layers.clone(),
                model: model.name(),
                data: self.subject.data.describe(&ctx.seeds),
                threshold: t,
            };
            let findings = Findings::new(EfficientMprtFindings { detail });
            results.push(CheckResult {
                reason,
                statistic: "mean relative rise of the maps' entropy when every layer is \
                            randomized"
                    .into(),
                rule: rule.clone(),
                per_sample: values.iter().map(|&v| Some(v)).collect(),
                undefined,
                ..CheckResult::new(Self::NAME, method.as_ref(), verdict, s, findings)
            });
        }
        Ok(Outcome::new(results))
    }
}
