//! Input invariance (Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim, "The
//! (Un)reliability of Saliency Methods", in Explainable AI, LNCS 11700, 2019): shift every input
//! by a constant `c` and compensate the model exactly — `features'(x) = features(x − c)`, the
//! first layer's bias compensation, for any split model ([`Shifted`]) — so that the shifted
//! model computes on `x + c` the activations, gradients and logits the model computes on `x`. A
//! method that reads only the model's function at the explained layer must give the same map; one
//! that runs the model on perturbed or masked inputs sees the shift: ScoreCAM's masked input
//! `m ⊙ (x + c)` reaches the original features as `m ⊙ x − (1 − m) c`, not `m ⊙ x`
//! (docs/checks.md derives which built-in methods must pass).
//!
//! Per image: `d = max over pixels |M(x) − M'(x + c)|`, the largest change of the final maps
//! (both in [0, 1]), each explaining the class the model predicts on `x`. Mean `d` is judged
//! against `tolerance` with [`super::stats::judge_below`]: pass iff the one-sided upper bound is
//! at most the tolerance, fail iff the lower bound is above it, inconclusive otherwise. `d` is
//! defined for every pair of maps, so no value is undefined.
use super::invariance::Comparison;
use super::{Check, CheckContext, Findings, Outcome, Subject};
use crate::cam::CamMethod;
use crate::error::Result;
use crate::model::shift::Shifted;
use serde::{Deserialize, Serialize};

/// Default shift of every input value (in the normalised input space the model reads).
pub const SHIFT: f64 = 1.0;
/// Default tolerance on mean d, the largest change of a map in [0, 1].
pub const TOLERANCE: f64 = 0.01;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct InputInvarianceCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// The constant added to every input value (the shifted model subtracts it first).
    #[arg(long, default_value_t = SHIFT, allow_negative_numbers = true)]
    pub shift: f64,
    /// Pass iff the upper bound of the mean largest map change is at most this.
    #[arg(long, default_value_t = TOLERANCE)]
    pub tolerance: f64,
}

impl Default for InputInvarianceCheck {
    fn default() -> Self {
        InputInvarianceCheck {
            subject: Subject::default(),
            shift: SHIFT,
            tolerance: TOLERANCE,
        }
    }
}

/// The input-invariance check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInvarianceFindings {
    pub detail: InputInvarianceDetail,
}

/// The generic table line and badge (the mean largest change).
impl super::CheckFindings for InputInvarianceFindings {
    fn badge_label(&self, _check: &str) -> Option<String> {
        Some(format!(
            "input invariance · {}",
            super::result::badge_model(&self.detail.model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInvarianceDetail {
    /// The shift c.
    pub shift: f64,
    /// The largest change of the logits between the model on x and the shifted model on x + c
    /// (the compensation's own rounding).
    pub logit_change: f64,
    /// The largest change of any map value over all images.
    pub largest_map_change: f64,
    pub model: String,
    pub data: String,
}

impl InputInvarianceCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        InputInvarianceCheck {
            subject,
            ..Self::default()
        }
    }
}

impl Check for InputInvarianceCheck {
    const NAME: &'static str = "input-invariance";
    const ABOUT: &'static str =
        "Input invariance: the maps of x and of x + c on a model that subtracts c first";
    type Findings = InputInvarianceFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("shift", self.shift, -1e3, 1e3, false)?;
        if self.shift == 0.0 {
            return Err("shift = 0 compares a map with itself: give a non-zero shift".into());
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
        let shifted_model = Shifted::new(model.as_ref(), self.shift);
        let shifted = &x + self.shift;
        let comparison = Comparison {
            model: model.as_ref(),
            x: &x,
            other: &shifted_model,
            other_x: &shifted,
            batch: self.subject.batch_size,
        };
        let baseline = comparison.baseline()?;
        let what = format!(
            "every input value is shifted by {} and the model subtracts it first",
            self.shift
        );
        let statistic = "mean d: the largest change of a map when the input is shifted and the \
                         model compensates";
        let findings = |largest| {
            Findings::new(InputInvarianceFindings {
                detail: InputInvarianceDetail {
                    shift: self.shift,
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
