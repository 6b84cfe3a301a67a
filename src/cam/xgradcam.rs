//! XGradCAM (Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
//! CNNs", BMVC 2020).
//!
//! w_k = Σ_{ij} g_k(i,j) A_k(i,j) / (Σ_{ij} A_k(i,j) + 1e-7);  cam = Σ_k w_k A_k.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct XGradCam;

impl XGradCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let (g, a) = (ctx.grads()?, ctx.activations);
        let sum_a = a.sum_dim_intlist([2, 3].as_slice(), true, Kind::Float);
        let weights =
            (g * a / (sum_a + 1e-7)).sum_dim_intlist([2, 3].as_slice(), false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for XGradCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "xgradcam"
    }
    fn title(&self) -> &str {
        "XGradCAM"
    }
    fn summary(&self) -> &str {
        "channel weights = activation-weighted gradient sum over the activation sum"
    }
    fn reference(&self) -> Option<&str> {
        Some("XGradCAM")
    }
    super::method::channel_weighted_methods!();
}
