//! HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
//! convolutional neural networks", 2020).
//!
//! cam(i,j) = Σ_k ∂y_c/∂A_k(i,j) · A_k(i,j)  (element-wise, no spatial averaging: exactly zero
//! wherever the head does not read A). A sum that cancels to rounding noise in every image is
//! refused with a message (a transformer's block input, [`ensure_not_cancelled`]).
use super::{CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// At most this share of the terms' magnitudes in every image, a sum of g·A terms is rounding
/// noise, not a map: float32 sums of V terms carry up to V·2⁻²⁴ of their magnitudes (6e-8 per
/// term), far below 1e-5 for the layers blindspot sees; measured, the ViT fixture's sums keep
/// 3e-7–8e-7 (cancelled), Swin's 2e-4 (its LayerNorm's ε), the CNNs' 0.4–1.
const CANCELLED: f64 = 1e-5;

/// Refuses a map whose terms cancel in every image ([`CANCELLED`]). On a layer that only a
/// LayerNorm reads (a vision transformer's block input: its patch tokens reach the class token
/// through the next block's norm1 alone), scaling a token leaves the output unchanged, so
/// Σ_k A_k ∂y/∂A_k = 0 by Euler's theorem for functions homogeneous of degree 0
/// (docs/theory.md): the "map" is float32 rounding that min–max normalisation would blow up to
/// [0, 1]. A map of exact zeros is left to the checks (a constant map).
fn ensure_not_cancelled(ctx: &CamContext, terms: &Tensor, raw: &Tensor) -> Result<()> {
    let magnitude = terms
        .abs()
        .sum_dim_intlist(1, false, Kind::Float)
        .amax([1, 2].as_slice(), false);
    let size = raw.abs().amax([1, 2].as_slice(), false);
    let live = magnitude.gt(0.0);
    let cancelled = size.le_tensor(&(&magnitude * CANCELLED)).logical_and(&live);
    let all = cancelled.all().int64_value(&[]) == 1;
    if !all || live.any().int64_value(&[]) == 0 {
        return Ok(());
    }
    let ratio = (size / magnitude).max().double_value(&[]);
    Err(Error::model(
        format!(
            "HiResCAM's map cancels to rounding noise on this layer: the sum over channels is at \
             most {ratio:.1e} of the terms' magnitudes in every image. Where only a LayerNorm \
             reads the layer (a transformer's block input), scaling a token leaves the output \
             unchanged, so the sum over channels of A·∂y/∂A is exactly 0 (Euler's theorem; \
             docs/theory.md)"
        ),
        ctx.model.name(),
        "explain the normalised tokens instead (a split whose head starts after the LayerNorm, \
         as builtin:stack-vit's does), or use a method that weights channels (gradcam)",
    ))
}

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
        let terms = ctx.grads()? * ctx.activations;
        let raw = terms.sum_dim_intlist(1, false, Kind::Float);
        ensure_not_cancelled(ctx, &terms, &raw)?;
        Ok(raw)
    }
    fn has_channel_maps(&self) -> bool {
        true
    }
    fn channel_maps(&self, ctx: &CamContext) -> Result<Option<Tensor>> {
        Ok(Some(ctx.grads()? * ctx.activations))
    }
}
