//! Implementation invariance (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep
//! Networks", ICML 2017): two networks that compute the same function must get the same
//! explanation. The check draws one function-preserving reparameterisation of the model's
//! explained layer ([`Reparameterised`]): channel j of the new layer is channel π(j) of the old
//! one times c_j, c_j drawn log-uniformly on [1/`max_scale`, `max_scale`] and π a uniformly
//! random permutation (both from the run's `implementation-invariance/reparameterisation`
//! stream), and the head divides by c and undoes π first. The reparameterised model's logits are
//! the model's up to float32 rounding (reported as `logit_change`).
//!
//! Per image: `d = max over pixels |M(x) − M'(x)|`, the largest change of the final maps (both
//! in [0, 1]), each explaining the class the model predicts. Mean `d` is judged against
//! `tolerance` with [`super::stats::judge_below`] as in input invariance: pass iff the one-sided
//! upper bound is at most the tolerance, fail iff the lower bound is above it.
//!
//! What each method must do follows from how its weights scale (docs/checks.md derives every
//! built-in method): with A' = c A, the gradient is g' = g / c, so GradCAM's weight w_k =
//! mean(g_k) scales as 1/c_k and w_k A_k is unchanged, as is every product g ⊙ A (HiResCAM,
//! GradCAMElementWise, LayerCAM, EigenGradCAM); a weight computed from masked or ablated inputs
//! (ScoreCAM, AblationCAM), from the activations alone (EigenCAM, FEM, KPCA-CAM, Opti-CAM's
//! softmax) or at random (RandomCAM) does not scale, so its product with c_k A_k changes.
use super::invariance::Comparison;
use super::{Check, CheckContext, Findings, Outcome, Subject};
use crate::cam::CamMethod;
use crate::error::Result;
use crate::model::reparam::Reparameterised;
use crate::seed::streams;
use rand::seq::SliceRandom;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Default largest channel factor (c is drawn on [1/8, 8]).
pub const MAX_SCALE: f64 = 8.0;
/// Default tolerance on mean d, the largest change of a map in [0, 1].
pub const TOLERANCE: f64 = 0.01;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct ImplementationInvarianceCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// The largest channel factor: c is drawn log-uniformly on [1/max_scale, max_scale].
    #[arg(long, default_value_t = MAX_SCALE)]
    pub max_scale: f64,
    /// Whether the channels are also permuted.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub permute: bool,
    /// Pass iff the upper bound of the mean largest map change is at most this.
    #[arg(long, default_value_t = TOLERANCE)]
    pub tolerance: f64,
}

impl Default for ImplementationInvarianceCheck {
    fn default() -> Self {
        ImplementationInvarianceCheck {
            subject: Subject::default(),
            max_scale: MAX_SCALE,
            permute: true,
            tolerance: TOLERANCE,
        }
    }
}

/// The implementation-invariance check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImplementationInvarianceFindings {
    pub detail: ImplementationInvarianceDetail,
}

/// The generic table line and badge (the mean largest change).
impl super::CheckFindings for ImplementationInvarianceFindings {
    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!(
            "implementation invariance · {}",
            super::result::badge_model(&self.detail.model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImplementationInvarianceDetail {
    /// Channels of the explained layer.
    pub channels: usize,
    /// The smallest and largest channel factor drawn.
    pub smallest_scale: f64,
    pub largest_scale: f64,
    /// Whether the channels were permuted.
    pub permuted: bool,
    /// The largest change of the logits between the model and its reparameterisation (float32
    /// rounding of c · a / c).
    pub logit_change: f64,
    /// The largest change of any map value over all images.
    pub largest_map_change: f64,
    pub model: String,
    pub data: String,
}

impl ImplementationInvarianceCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        ImplementationInvarianceCheck {
            subject,
            ..Self::default()
        }
    }

    /// c and π for `channels` channels, from the run's stream: the same on every machine.
    pub fn reparameterisation(&self, channels: usize, ctx: &CheckContext) -> (Vec<f64>, Vec<i64>) {
        let mut rng = ctx.stream(streams::REPARAMETERISATION).rng();
        let log = self.max_scale.ln();
        let scales = (0..channels)
            .map(|_| (rng.random_range(-1.0..=1.0) * log).exp())
            .collect();
        let mut permutation: Vec<i64> = (0..channels as i64).collect();
        if self.permute {
            permutation.shuffle(&mut rng);
        }
        (scales, permutation)
    }
}

impl Check for ImplementationInvarianceCheck {
    const NAME: &'static str = "implementation-invariance";
    const ABOUT: &'static str = "Implementation invariance: the maps of a model and of the same \
                                 function with its explained channels rescaled and permuted";
    type Findings = ImplementationInvarianceFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("max_scale", self.max_scale, 1.0, 1e3, false)?;
        if self.max_scale == 1.0 && !self.permute {
            return Err("max_scale = 1 without a permutation compares a model with itself: \
                        give max_scale > 1 or permute = true"
                .into());
        }
        crate::limits::real("tolerance", self.tolerance, 0.0, 1.0, true)?;
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
        let a = tch::no_grad(|| model.features(&x.narrow(0, 0, 1)))?;
        let channels = a.size().get(1).copied().unwrap_or(0).max(0) as usize;
        let (scales, permutation) = self.reparameterisation(channels, ctx);
        let smallest_scale = scales.iter().copied().fold(f64::INFINITY, f64::min);
        let largest_scale = scales.iter().copied().fold(0.0, f64::max);
        let other = Reparameterised::new(model.as_ref(), scales, permutation);
        let comparison = Comparison {
            model: model.as_ref(),
            x: &x,
            other: &other,
            other_x: &x,
            batch: self.subject.batch_size,
        };
        let baseline = comparison.baseline()?;
        let how = match self.permute {
            true => "permuted and rescaled",
            false => "rescaled",
        };
        let what = format!(
            "the explained layer's channels are {how} (c on [1/{m}, {m}]) and the head undoes it",
            m = self.max_scale
        );
        let statistic = "mean d: the largest change of a map when the explained layer is \
                         reparameterised and the function kept";
        let findings = |largest| {
            Findings::new(ImplementationInvarianceFindings {
                detail: ImplementationInvarianceDetail {
                    channels,
                    smallest_scale,
                    largest_scale,
                    permuted: self.permute,
                    logit_change: baseline.logit_change,
                    largest_map_change: largest,
                    model: model.name(),
                    data: self.subject.data.describe(&ctx.seeds),
                },
            })
        };
        let results = comparison.judge(
            Self::NAME,
            methods,
            ctx,
            &baseline,
            self.tolerance,
            (statistic, &what),
            findings,
        )?;
        Ok(Outcome::new(results))
    }
}
