//! HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
//! convolutional neural networks", 2020).
//!
//! cam(i,j) = Σ_k ∂y_c/∂A_k(i,j) · A_k(i,j)  (element-wise, no spatial averaging: exactly zero
//! wherever the head does not read A).
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct HiResCam;

impl CamMethod for HiResCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "hirescam"
    }
    fn title(&self) -> &str {
        "HiResCAM"
    }
    fn summary(&self) -> &str {
        "element-wise gradient x activation, summed over channels"
    }
    fn reference(&self) -> Option<&str> {
        Some("HiResCAM")
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok((ctx.grads()? * ctx.activations).sum_dim_intlist(1, false, Kind::Float))
    }
    fn has_channel_maps(&self) -> bool {
        true
    }
    fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
        Ok(Some(ctx.grads()? * ctx.activations))
    }
}
