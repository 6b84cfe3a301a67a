//! Guided Backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for
//! Simplicity: The All Convolutional Net", ICLR Workshop 2015) and Guided GradCAM (Selvaraju et
//! al., "Grad-CAM", ICCV 2017), with captum's semantics (`captum.attr.GuidedBackprop`,
//! `captum.attr.GuidedGradCam`).
//!
//! Guided backpropagation is the input gradient with every ReLU's backward replaced by
//! g_in = max(g_out, 0) ⊙ 1(z > 0) (z the ReLU's input): only positive gradient flows back, and
//! only where the unit was active. It needs the model's ReLUs, which a split model gives as
//! [`crate::model::Steps`] (every built-in model, walled, shifted or remembered; the random
//! property networks): each map between ReLUs is differentiated by autograd, the ReLUs by the
//! guided rule. A TorchScript model's ReLUs are inside its graph: the method is refused there
//! with a message (captum's hooks on a Python model do it; `blindspot.adapters.captum`).
//!
//! Guided GradCAM = guided backpropagation ⊙ GradCAM's map (ReLU(Σ_k w_k A_k), w_k the spatial
//! mean of ∂y_c/∂A_k) resized to the input by nearest neighbour (captum's default); raw map = Σ
//! over channels (both signed; the final maps read their magnitude).
use super::super::CamContext;
use super::Attribution;
use crate::error::{Error, Result};
use crate::model::{SplitModel, Step};
use tch::{Kind, Tensor};

/// The gradient of each image's target logit with respect to its input `x` [N, C, H, W], taken
/// through the model's steps; at each ReLU the guided rule when `guided`, else the ReLU's own
/// derivative (then it is the plain input gradient: a test holds it to autograd's).
pub fn step_gradients(
    model: &dyn SplitModel,
    x: &Tensor,
    targets: &Tensor,
    guided: bool,
) -> Result<Tensor> {
    let steps = model.steps().ok_or_else(|| {
        Error::model(
            "guided backpropagation needs the model's ReLUs, and this model does not expose them \
             (a TorchScript file's ReLUs are inside its graph)",
            model.name(),
            "use a built-in model, or run captum's GuidedBackprop on the Python model \
             (blindspot.adapters.captum(\"GuidedBackprop\"))",
        )
    })?;
    let all: Vec<&Step> = steps.features.iter().chain(&steps.head).collect();
    // Per step: the leaf and output of a map, or the input of a ReLU.
    let mut saved: Vec<(Option<Tensor>, Tensor)> = Vec::with_capacity(all.len());
    let mut h = x.detach();
    for step in &all {
        match step.function() {
            None => {
                let next = h.relu();
                saved.push((None, std::mem::replace(&mut h, next)));
            }
            Some(f) => {
                let leaf = h.detach().set_requires_grad(true);
                let out = f(&leaf);
                h = out.detach();
                saved.push((Some(leaf), out));
            }
        }
    }
    let classes = h.size()[1];
    let mut g = targets.one_hot(classes).to_kind(h.kind());
    for (leaf, tensor) in saved.iter().rev() {
        g = match leaf {
            None => {
                let active = tensor.gt(0.0).to_kind(g.kind());
                match guided {
                    true => g.relu() * active,
                    false => g * active,
                }
            }
            Some(leaf) => crate::model::gradient(&(tensor * &g).sum(Kind::Float), leaf)
                .map_err(|e| {
                    Error::model(
                        format!("cannot differentiate a step of the model: {e}"),
                        model.name(),
                        "every step must compute its output from its input with \
                         differentiable operations",
                    )
                })?,
        };
    }
    Ok(g)
}

/// Guided backpropagation's attribution [N, C, H, W], in chunks of images.
pub fn guided_backprop(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Result<Tensor> {
    super::by_chunks("guided backpropagation", x, targets, |x, targets| {
        step_gradients(model, x, targets, true)
    })
}

pub struct GuidedBackprop;

impl Attribution for GuidedBackprop {
    fn name(&self) -> &str {
        "guided-backprop"
    }
    fn title(&self) -> &str {
        "GuidedBackprop"
    }
    fn summary(&self) -> &str {
        "input gradient passing only positive gradients back through each ReLU, summed over \
         channels (signed)"
    }
    fn captum_reference(&self) -> &str {
        "GuidedBackprop"
    }
    fn requires_steps(&self) -> bool {
        true
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        guided_backprop(ctx.model, ctx.input, ctx.targets)
    }
}

pub struct GuidedGradCam;

impl Attribution for GuidedGradCam {
    fn name(&self) -> &str {
        "guided-gradcam"
    }
    fn title(&self) -> &str {
        "GuidedGradCAM"
    }
    fn summary(&self) -> &str {
        "guided backpropagation times GradCAM's map (nearest-neighbour resized), summed over \
         channels (signed)"
    }
    fn captum_reference(&self) -> &str {
        "GuidedGradCam"
    }
    fn uses_gradients(&self) -> bool {
        true
    }
    fn requires_steps(&self) -> bool {
        true
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        let size = ctx.input.size();
        let weights = ctx.grads()?.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
        let cam = super::super::weighted_sum(&weights, ctx.activations).relu().unsqueeze(1);
        let cam = cam.upsample_nearest2d([size[2], size[3]], None, None);
        Ok(guided_backprop(ctx.model, ctx.input, ctx.targets)? * cam)
    }
}
