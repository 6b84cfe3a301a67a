//! GradCAMElementWise (pytorch-grad-cam's element-wise variant of Grad-CAM, after HiResCAM).
//!
//! cam(i,j) = Σ_k ReLU(∂y_c/∂A_k(i,j) · A_k(i,j)).
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct GradCamElementWise;

impl CamMethod for GradCamElementWise {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "gradcam-elementwise"
    }
    fn title(&self) -> &str {
        "GradCAMElementWise"
    }
    fn summary(&self) -> &str {
        "element-wise ReLU(gradient x activation), summed over channels"
    }
    fn reference(&self) -> Option<&str> {
        Some("GradCAMElementWise")
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok((ctx.grads()? * ctx.activations)
            .relu()
            .sum_dim_intlist(1, false, Kind::Float))
    }
    fn has_channel_maps(&self) -> bool {
        true
    }
    fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
        Ok(Some((ctx.grads()? * ctx.activations).relu()))
    }
}
