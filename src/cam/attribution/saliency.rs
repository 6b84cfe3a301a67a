//! Saliency (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising
//! Image Classification Models and Saliency Maps", ICLR Workshop 2014), with captum's semantics
//! (`captum.attr.Saliency`, `abs=True`).
//!
//! attribution = |∂y_c/∂x| per input channel;  raw map = Σ_channels |∂y_c/∂x|  (≥ 0).
use super::super::{CamContext, CamMethod, Family, Origin, Reading};
use crate::error::Result;
use tch::Tensor;

pub struct Saliency;

impl Saliency {
    /// captum's attribution [N, C, H, W].
    pub fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::gradients(ctx.model, ctx.input, ctx.targets)?.abs())
    }
}

impl CamMethod for Saliency {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "saliency"
    }
    fn title(&self) -> &str {
        "Saliency"
    }
    fn summary(&self) -> &str {
        "|gradient of the target logit with respect to the input|, summed over channels"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn captum_reference(&self) -> Option<&str> {
        Some("Saliency")
    }
    fn family(&self) -> Family {
        Family::InputLevel
    }
    fn reading(&self) -> Reading {
        Reading::Magnitude
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::channel_sum(&self.attribute(ctx)?))
    }
}

/// Input × Gradient (Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box", 2016),
/// with captum's semantics (`captum.attr.InputXGradient`).
///
/// attribution = x ⊙ ∂y_c/∂x;  raw map = Σ_channels x ⊙ ∂y_c/∂x  (signed; the final map reads
/// its magnitude).
pub struct InputXGradient;

impl InputXGradient {
    /// captum's attribution [N, C, H, W].
    pub fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::gradients(ctx.model, ctx.input, ctx.targets)? * ctx.input)
    }
}

impl CamMethod for InputXGradient {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "input-x-gradient"
    }
    fn title(&self) -> &str {
        "InputXGradient"
    }
    fn summary(&self) -> &str {
        "input times the gradient of the target logit, summed over channels (signed)"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn captum_reference(&self) -> Option<&str> {
        Some("InputXGradient")
    }
    fn family(&self) -> Family {
        Family::InputLevel
    }
    fn reading(&self) -> Reading {
        Reading::Magnitude
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::channel_sum(&self.attribute(ctx)?))
    }
}
