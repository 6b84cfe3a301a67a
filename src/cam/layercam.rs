//! LayerCAM (Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
//! Localization", IEEE TIP 2021).
//!
//! cam(i,j) = Σ_k ReLU(g_k(i,j)) · A_k(i,j).
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct LayerCam;

impl CamMethod for LayerCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "layercam"
    }
    fn title(&self) -> &str {
        "LayerCAM"
    }
    fn summary(&self) -> &str {
        "element-wise ReLU(gradient) x activation, summed over channels"
    }
    fn reference(&self) -> Option<&str> {
        Some("LayerCAM")
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok((ctx.grads()?.relu() * ctx.activations).sum_dim_intlist(1, false, Kind::Float))
    }
    fn has_channel_maps(&self) -> bool {
        true
    }
    fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
        Ok(Some(ctx.grads()?.relu() * ctx.activations))
    }
}
