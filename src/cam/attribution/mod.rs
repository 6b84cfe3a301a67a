//! Input-level attribution methods: the attribution of each image's target score to its input
//! pixels, [N, C, H, W], through the whole model (`features`, then `head`, by autograd), on any
//! split model — built-in or TorchScript. captum 0.9 is the reference (`fixtures/generate.py`
//! writes its attributions; the parity tests compare them element by element).
//!
//! A method implements [`Attribution`] (its attribution and names); [`InputLevel`] makes it a
//! [`CamMethod`] whose raw map is the attribution summed over the input channels, [N, H, W]
//! (captum's `visualize_image_attr` does the same before showing a map), at the input's
//! resolution, and whose final map reads that sum's magnitude
//! ([`super::Reading::Magnitude`]; Saliency's and SmoothGrad's are ≥ 0 already), so a check
//! sees evidence against the class as well as for it (docs/methods.md, "Input-level methods").
//!
//! Every method is batched: the inputs it differentiates (Integrated Gradients' steps,
//! SmoothGrad's noisy copies, Occlusion's occluded images) are one batch dimension, run through
//! the model in chunks within the memory budget ([`gradients`], [`scores`]).
pub mod guided;
pub mod integrated_gradients;
pub mod occlusion;
pub mod saliency;
pub mod smoothgrad;

use super::{target_scores, CamContext, CamMethod, Family, Origin, Reading};
use crate::error::{Error, Result};
use crate::model::SplitModel;
use tch::{Device, Kind, Tensor};

/// An input-level method: captum's attribution of each image's target score to its input
/// pixels, [N, C, H, W]. [`InputLevel`] makes it a [`CamMethod`].
pub trait Attribution {
    /// The command-line name (`saliency`).
    fn name(&self) -> &str;
    /// The display name (`Saliency`).
    fn title(&self) -> &str;
    /// One line for `blindspot methods`.
    fn summary(&self) -> &str;
    /// The captum 0.9 class it reproduces attribution for attribution.
    fn captum_reference(&self) -> &str;
    /// Whether it also reads ∂y_c/∂A at the explained layer (Guided GradCAM's GradCAM factor).
    fn uses_gradients(&self) -> bool {
        false
    }
    /// Whether it needs the model's layers one by one (guided backpropagation's ReLUs).
    fn requires_steps(&self) -> bool {
        false
    }
    /// The attribution [N, C, H, W] of the batch in `ctx`.
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor>;
}

/// An [`Attribution`] as a built-in method: the raw map is the attribution summed over the input
/// channels, read by its magnitude.
pub struct InputLevel<A>(pub A);

impl<A: Attribution> CamMethod for InputLevel<A> {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        self.0.name()
    }
    fn title(&self) -> &str {
        self.0.title()
    }
    fn summary(&self) -> &str {
        self.0.summary()
    }
    fn uses_gradients(&self) -> bool {
        self.0.uses_gradients()
    }
    fn captum_reference(&self) -> Option<&str> {
        Some(self.0.captum_reference())
    }
    fn family(&self) -> Family {
        Family::InputLevel
    }
    fn reading(&self) -> Reading {
        Reading::Magnitude
    }
    fn requires_steps(&self) -> bool {
        self.0.requires_steps()
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(channel_sum(&self.0.attribute(ctx)?))
    }
}

/// Inputs per forward and backward on a CPU (all devices: the memory budget bounds it).
const CHUNK: i64 = 64;

/// Estimated bytes per input pixel alive in a forward and backward of one image: the input, its
/// gradient and the activations autograd keeps of a VGG-style network's first blocks (64
/// float channels at full resolution, each with its ReLU mask).
const BYTES_PER_PIXEL: u128 = 1024;

/// Images per chunk for inputs of `height` × `width` on `device`, within the memory budget.
fn chunk(what: &str, device: Device, height: i64, width: i64) -> Result<i64> {
    let most = match device {
        Device::Cpu => CHUNK,
        _ => 4 * CHUNK,
    };
    crate::limits::items_within(
        what,
        "input-level methods",
        BYTES_PER_PIXEL * (height * width).max(1) as u128,
        most,
    )
}

/// `f` of every input `x` [M, C, H, W] with its class `targets` \[M\], in chunks of images
/// within the memory budget (halved where a device runs out of memory), concatenated: for work
/// whose value for an input depends on that input alone. `what` names it in messages.
pub fn by_chunks(
    what: &str,
    x: &Tensor,
    targets: &Tensor,
    mut f: impl FnMut(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let size = x.size();
    let (m, height, width) = (size[0], size[2], size[3]);
    let mut chunk = chunk(what, x.device(), height, width)?;
    let mut parts = Vec::new();
    let mut start = 0;
    while start < m {
        let (part, len) = crate::device::halving(&mut chunk, m - start, what, |len| {
            f(&x.narrow(0, start, len), &targets.narrow(0, start, len))
        })?;
        parts.push(part);
        start += len;
    }
    Ok(Tensor::cat(&parts, 0))
}

/// ∂y_{t_m}(x_m)/∂x_m for every input `x` [M, C, H, W] and its class `targets` \[M\]: one
/// backward per chunk of inputs (each input's gradient depends on that input alone).
pub fn gradients(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Result<Tensor> {
    by_chunks("input gradients", x, targets, |x, targets| {
        let leaf = x.detach().set_requires_grad(true);
        let score = target_scores(&model.forward(&leaf)?, targets);
        crate::model::gradient(&score.sum(Kind::Float), &leaf).map_err(|e| {
            Error::model(
                format!("cannot differentiate the target logit with respect to the input: {e}"),
                model.name(),
                "`features` and `head` must compute the logits from the input with \
                 differentiable operations",
            )
        })
    })
}

/// y_{t_m}(x_m) for every input `x` [M, C, H, W] and its class `targets` \[M\], without
/// gradients, in chunks.
pub fn scores(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Result<Tensor> {
    by_chunks("scored inputs", x, targets, |x, targets| {
        let logits = tch::no_grad(|| model.forward(x))?;
        Ok(target_scores(&logits, targets))
    })
}

/// The raw map of an attribution [N, C, H, W]: its sum over the channels, [N, H, W].
pub fn channel_sum(attribution: &Tensor) -> Tensor {
    attribution.sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
}
