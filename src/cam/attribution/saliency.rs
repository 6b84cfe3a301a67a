//! Saliency (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising
//! Image Classification Models and Saliency Maps", ICLR Workshop 2014), with captum's semantics
//! (`captum.attr.Saliency`, `abs=True`).
//!
//! attribution = |∂y_c/∂x| per input channel;  raw map = Σ_channels |∂y_c/∂x|  (≥ 0).
use super::Attribution;
use super::super::CamContext;
use crate::error::Result;
use tch::Tensor;

pub struct Saliency;

impl Attribution for Saliency {
    fn name(&self) -> &str {
        "saliency"
    }
    fn title(&self) -> &str {
        "Saliency"
    }
    fn summary(&self) -> &str {
        "|gradient of the target logit with respect to the input|, summed over channels"
    }
    fn captum_reference(&self) -> &str {
        "Saliency"
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::gradients(ctx.model, ctx.input, ctx.targets)?.abs())
    }
}

/// Input × Gradient (Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box", 2016),
/// with captum's semantics (`captum.attr.InputXGradient`).
///
/// attribution = x ⊙ ∂y_c/∂x;  raw map = Σ_channels x ⊙ ∂y_c/∂x  (signed; the final map reads
/// its magnitude).
pub struct InputXGradient;

impl Attribution for InputXGradient {
    fn name(&self) -> &str {
        "input-x-gradient"
    }
    fn title(&self) -> &str {
        "InputXGradient"
    }
    fn summary(&self) -> &str {
        "input times the gradient of the target logit, summed over channels (signed)"
    }
    fn captum_reference(&self) -> &str {
        "InputXGradient"
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(super::gradients(ctx.model, ctx.input, ctx.targets)? * ctx.input)
    }
}
