//! GradCAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017).
//!
//! w_k = (1/hw) Σ_{ij} ∂y_c/∂A_k(i,j);  cam = Σ_k w_k A_k.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct GradCam;

impl GradCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let weights = ctx.grads()?.mean_dim([2, 3].as_slice(), false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for GradCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "gradcam"
    }
    fn title(&self) -> &str {
        "GradCAM"
    }
    fn summary(&self) -> &str {
        "channel weights = spatial mean of the gradient; cam = sum_k w_k A_k"
    }
    fn reference(&self) -> Option<&str> {
        Some("GradCAM")
    }
    super::method::channel_weighted_methods!();
}
