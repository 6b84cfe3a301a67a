//! GradCAM++ (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations
//! for Deep Convolutional Networks", WACV 2018), with pytorch-grad-cam's Eq. 19 special case that
//! uses powers of the first-order gradient g:
//!
//! S_k = Σ_{ab} A_k(a,b);  α_k(i,j) = g² / (2g² + S_k g³ + 1e-6), 0 where g = 0;
//! w_k = Σ_{ij} α_k(i,j) ReLU(g_k(i,j));  cam = Σ_k w_k A_k.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct GradCamPlusPlus;

impl GradCamPlusPlus {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let g = ctx.grads()?;
        let a = ctx.activations;
        let g2 = g * g;
        let g3 = &g2 * g;
        let sum_a = a.sum_dim_intlist([2, 3].as_slice(), true, Kind::Float);
        let alpha = &g2 / (&g2 * 2.0 + sum_a * g3 + 1e-6);
        let alpha = alpha.where_self(&g.ne(0.0), &alpha.zeros_like());
        let weights = (g.relu() * alpha).sum_dim_intlist([2, 3].as_slice(), false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for GradCamPlusPlus {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "gradcam++"
    }
    fn title(&self) -> &str {
        "GradCAM++"
    }
    fn summary(&self) -> &str {
        "channel weights = sum of alpha * ReLU(gradient), alpha from g^2 and g^3 (Eq. 19)"
    }
    fn reference(&self) -> Option<&str> {
        Some("GradCAMPlusPlus")
    }
    super::method::channel_weighted_methods!();
}
