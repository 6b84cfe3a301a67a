//! What the theorem check finds per configuration ([`TheoremFindings`]): data only; how it shows
//! and defends them is [`super::render`].
use serde::{Deserialize, Serialize};

/// How each draw's GradCAM values become the Monte Carlo statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    /// The mean of GC = ReLU(S) itself.
    Plain,
    /// GC − S/2 = |S|/2, with S = Σ_v α_v B_v the raw GradCAM map GradCAM computes before its
    /// ReLU. For a fixed class α is linear in the dense weights, whose law is symmetric, so
    /// E\[S\] = 0 exactly and E\[|S|/2\] = E\[GC\]: the same expectation with about a quarter of
    /// the variance (a control variate with β = ½). Not valid for the argmax class, which uses
    /// Plain.
    ControlVariate,
}

/// Which class GradCAM explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClassChoice {
    /// A fixed class score y_c, as the theorem states it (the model has one output).
    Fixed,
    /// The argmax of 10 logits, as the authors' notebook does (larger expectation; no closed form).
    Argmax,
}

/// One reading of the talk's bound at one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundReading {
    /// False iff the interval's upper end is below the bound.
    pub holds: bool,
    /// The reading takes the square root of a negative number here.
    pub vacuous: bool,
    /// The bound per unit ‖m‖; None where vacuous.
    pub value: Option<f64>,
}

/// The talk's bound in its three readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// (V − 20√V)·…
    pub linear: BoundReading,
    /// (V − 20√V)/√V·…
    pub over_sqrt: BoundReading,
    /// √(V − 20√V)·…
    pub sqrt: BoundReading,
}

/// The theorem check's own numbers for one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoremFindings {
    pub detail: TheoremDetail,
    pub bounds: Bounds,
    pub class: ClassChoice,
    /// The exact value (times `closed_form_factor`).
    pub closed_form: f64,
    /// The closed form lies in the interval (always false for `argmax`).
    pub consistent: bool,
    /// The Monte Carlo mean of E\[GC_ij\]/‖m_ij‖.
    pub estimate: f64,
    pub filters: i64,
    pub input_scale: f64,
    pub tau: f64,
}

impl TheoremFindings {
    /// `V=512 tau=1 scale=0.5`: what tells the configurations of one run apart.
    pub fn configuration(&self) -> String {
        format!(
            "V={} tau={} scale={}",
            self.filters, self.tau, self.input_scale
        )
    }
}

/// Mean and standard deviation of the plain estimator, beside the control variate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainEstimate {
    pub mean: f64,
    pub std: f64,
}

/// One pixel behind the wall, to read the estimate in units of GC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplePixel {
    pub row: i64,
    pub col: i64,
    pub patch_norm: f64,
    pub expected_gc: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoremDetail {
    pub draws: usize,
    /// Half-width of the 95% interval relative to the estimate: the precision reached.
    pub estimator: Estimator,
    pub plain_estimate: PlainEstimate,
    pub relative_half_width: f64,
    /// The precision a pass needs (`relative_half_width` of the check's parameters).
    pub target_relative_half_width: f64,
    pub n_vis: i64,
    pub pixels_behind_wall: i64,
    pub expected_sqrt_chi: f64,
    pub example_pixel: ExamplePixel,
}
