//! Smooth MPRT (Hedström, Weber, Lapuschkin & Höhne, "Sanity Checks Revisited: An Exploration to
//! Repair the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS 2023): model
//! randomization ([`super::randomization`]) on maps denoised by averaging. Each map is the mean
//! of a method's maps over `samples` copies of the image, the k-th with Gaussian noise of σ =
//! `noise` × (max − min) of the image and the last noise-free (Quantus: 50 copies, 0.1), so that
//! shattered-gradient noise, which randomization also produces, does not pass for a changed
//! explanation. The copies are drawn once (stream `smooth-mprt/noise`) and shared by the trained
//! model and every randomized one. The layer orders, the statistic (Spearman of the absolute
//! maps) and the rule are model randomization's.
use super::randomization::{RandomizationCheck, RandomizationFindings, Smoothing};
use super::{Check, CheckContext, Outcome};
use crate::cam::CamMethod;
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// Default noisy copies per map (the last noise-free).
pub const SAMPLES: usize = 10;
/// Default σ of the noise, as a share of each image's value range (Quantus' default).
pub const NOISE: f64 = 0.1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SmoothMprtCheck {
    /// The model, its images, the layer order, the distribution and the threshold.
    #[command(flatten)]
    #[serde(flatten)]
    pub randomization: RandomizationCheck,
    /// Copies of each image a map is averaged over (the last one noise-free).
    #[arg(long, default_value_t = SAMPLES)]
    pub samples: usize,
    /// σ of the Gaussian noise, as a share of each image's value range (max − min).
    #[arg(long, default_value_t = NOISE, allow_negative_numbers = true)]
    pub noise: f64,
}

impl Default for SmoothMprtCheck {
    fn default() -> Self {
        SmoothMprtCheck {
            randomization: RandomizationCheck::default(),
            samples: SAMPLES,
            noise: NOISE,
        }
    }
}

impl SmoothMprtCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: super::Subject) -> Self {
        SmoothMprtCheck {
            randomization: RandomizationCheck::new(subject),
            ..Self::default()
        }
    }

    /// The same check with another layer order.
    #[cfg(feature = "internals")]
    pub fn with_mode(mut self, mode: super::randomization::Mode) -> Self {
        self.randomization.mode = mode;
        self
    }

    /// The same check with another distribution of the replacement weights.
    #[cfg(feature = "internals")]
    pub fn with_distribution(mut self, distribution: super::randomization::Distribution) -> Self {
        self.randomization.distribution = distribution;
        self
    }
}

impl Check for SmoothMprtCheck {
    const NAME: &'static str = "smooth-mprt";
    const ABOUT: &'static str =
        "Smooth MPRT (Hedström et al. 2023): model randomization on noise-averaged maps";
    type Findings = RandomizationFindings;

    super::plugin::image_check_methods!(randomization.subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::count("samples", self.samples, 1, 1000)?;
        crate::limits::real("noise", self.noise, 0.0, 10.0, false)?;
        self.randomization.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let smoothing = Smoothing {
            samples: self.samples,
            noise: self.noise,
        };
        self.randomization
            .run_as(Self::NAME, Some(smoothing), methods, ctx)
    }
}
