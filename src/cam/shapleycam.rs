//! ShapleyCAM (Cai, "CAMs as Shapley Value-based Explainers", 2025, arXiv:2501.06261), with
//! pytorch-grad-cam's semantics (`pytorch_grad_cam.ShapleyCAM`).
//!
//! g = ∂y_c/∂A and the Hessian-vector product Hv = (∂²y_c/∂A²) A (the gradient of g · A with A
//! held constant); w_k = mean_ij (g − ½ Hv)_k; cam = Σ_k w_k A_k. A second-order correction of
//! GradCAM: where the head is piecewise linear in A (ReLU, max-pooling and dense layers, as in
//! every built-in model) Hv = 0 almost everywhere and ShapleyCAM is GradCAM.
//!
//! Only the head is differentiated twice: the gradient is taken with its graph, then g · A is
//! differentiated again. A head whose gradient does not depend on A at all (no graph left) gives
//! Hv = 0, as pytorch-grad-cam's `allow_unused` does.
use super::{target_scores, CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

pub struct ShapleyCam;

impl ShapleyCam {
    /// The Hessian-vector product (∂²(Σ_n y_{n,c_n})/∂A²) A and the gradient g, per image, as
    /// grids: both are taken on the explained layer's output (a token model's tokens, the
    /// vector A its tokens, prefix tokens included, on the channels the grid reads:
    /// [`CamContext::grid_read_layer`], pytorch-grad-cam's hooked activations) and read through
    /// [`crate::SplitModel::to_grid`], as pytorch-grad-cam's `reshape_transform` reads them.
    pub fn gradient_and_hvp(ctx: &CamContext) -> Result<(Tensor, Tensor)> {
        let model = ctx.model;
        let leaf = ctx.layer.detach().set_requires_grad(true);
        let logits = model.head(&leaf)?;
        let score = target_scores(&logits, ctx.targets).sum(Kind::Float);
        let refuse = |e: tch::TchError| {
            let message = crate::error::first_line(&e.to_string()).to_string();
            // libtorch has no second derivative of its fused attention kernels (a transformer's
            // `scaled_dot_product_attention`); PyTorch, and so pytorch-grad-cam, stops there too.
            let fix = match message.contains("not implemented") {
                true => "ShapleyCAM needs the head's second derivative, which libtorch does not \
                         implement for this operation (a transformer's fused attention): explain \
                         this model with another method, or export it with attention computed \
                         by plain matrix products",
                false => "`head` must compute the logits from its input A with differentiable \
                          operations",
            };
            Error::model(
                format!(
                    "cannot differentiate the target logit twice with respect to the CAM layer: \
                     {message}"
                ),
                model.name(),
                fix,
            )
        };
        let g = Tensor::f_run_backward(&[&score], &[&leaf], true, true)
            .map_err(refuse)?
            .remove(0);
        let hvp = match g.requires_grad() {
            false => g.zeros_like(),
            true => {
                let product = (&g * ctx.grid_read_layer()?.detach()).sum(Kind::Float);
                match Tensor::f_run_backward(&[&product], &[&leaf], false, false) {
                    Ok(mut grads) if grads[0].defined() => grads.remove(0),
                    Ok(_) => g.zeros_like(),
                    Err(e) => return Err(refuse(e)),
                }
            }
        };
        Ok((model.to_grid(&g.detach())?, model.to_grid(&hvp.detach())?))
    }
}

impl ShapleyCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let (g, hvp) = Self::gradient_and_hvp(ctx)?;
        let weights = (g - hvp * 0.5).mean_dim([2i64, 3].as_slice(), false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for ShapleyCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "shapleycam"
    }
    fn title(&self) -> &str {
        "ShapleyCAM"
    }
    fn summary(&self) -> &str {
        "channel weights = spatial mean of the gradient minus half the Hessian-vector product \
         with the activations"
    }
    fn reference(&self) -> Option<&str> {
        Some("ShapleyCAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    super::method::channel_weighted_methods!();
}
