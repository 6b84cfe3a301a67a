//! FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network
//! Visualization", NeurIPS 2019), with pytorch-grad-cam 1.5.7's semantics (`FullGrad`).
//!
//! map = Σ_c ψ(|x_c ⊙ ∂y/∂x_c|) + Σ_layers Σ_c ψ(|b_c · ∂y/∂z_c|), where z is the output of
//! every 2-d convolution and BatchNorm layer of the whole model (the explained layer plays no
//! part), b its bias (a BatchNorm's β − μγ/√(σ² + ε)), y the target logit, and ψ normalises one
//! channel of one image, m ↦ (m − min m)/(max(m − min m) + 1e-7), then resizes it bilinearly to
//! the input (half-pixel centres, OpenCV's `INTER_LINEAR`). The input term's ψ is per input
//! channel too. The pipeline min–max normalises the sum into the final map (pytorch-grad-cam's
//! `scale_cam_image`); every term is ≥ 0, so reading its positive part changes nothing.
//!
//! The layers and their biases come from the split model's steps ([`Step::Biased`]): every
//! built-in model (a VGG block's convolution and its folded BatchNorm are two layers, as in the
//! PyTorch model; the rCNN's convolution has no bias, so its FullGrad is the input term alone)
//! and the random property networks. A TorchScript file's layers are inside its graph: the method
//! is refused there ([`CamMethod::requires_steps`]). pytorch-grad-cam takes 2-d layers only, so
//! the dense layers of the head add no term. One forward and one backward per chunk of images
//! give the input gradient and every layer's output gradient together.
use super::attribution::by_chunks;
use super::{target_scores, CamContext, CamMethod, Family, Origin};
use crate::error::{Error, Result};
use crate::model::{SplitModel, Step};
use tch::{Kind, Tensor};

/// ψ of every channel of every image, summed over the channels: `terms` [N, C, h, w] →
/// [N, H, W]. The resize is linear, so the channels are summed at their own resolution and the
/// sum resized once (pytorch-grad-cam resizes each channel, then sums: the same map up to
/// rounding, C times the work).
fn normalised_channel_sum(terms: &Tensor, height: i64, width: i64) -> Tensor {
    let (n, c, h, w) = terms.size4().expect("terms are [N, C, h, w]");
    let each = super::pipeline::min_max(&terms.reshape([n * c, h, w]));
    let sum = each
        .reshape([n, c, h, w])
        .sum_dim_intlist([1i64].as_slice(), false, terms.kind());
    super::pipeline::resize(&sum, height, width)
}

/// FullGrad's map [N, H, W] (before the final min–max) of images `x` [N, C, H, W] for their
/// classes `targets` \[N\], in chunks of images.
pub fn full_gradient_map(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let steps = model.steps().ok_or_else(|| {
        Error::model(
            "FullGrad needs the model's layers and their biases, and this model does not expose \
             them (a TorchScript file's layers are inside its graph)",
            model.name(),
            "use a built-in model, or run pytorch-grad-cam's FullGrad on the Python model",
        )
    })?;
    let all: Vec<&Step> = steps.features.iter().chain(&steps.head).collect();
    by_chunks("FullGrad", x, targets, |x, targets| {
        let (height, width) = (x.size()[2], x.size()[3]);
        let leaf = x.detach().set_requires_grad(true);
        let mut h = leaf.shallow_clone();
        let mut layers: Vec<(Tensor, &[Tensor])> = Vec::new();
        for step in &all {
            h = match step {
                Step::Relu => h.relu(),
                Step::Map(f) => f(&h),
                Step::Biased(f, biases) => {
                    let out = f(&h);
                    layers.push((out.shallow_clone(), biases.as_slice()));
                    out
                }
            };
        }
        let score = target_scores(&h, targets).sum(Kind::Float);
        let mut wrt = vec![&leaf];
        wrt.extend(layers.iter().map(|(out, _)| out));
        let fail = |why: String| {
            Error::model(
                format!("FullGrad cannot differentiate the target logit: {why}"),
                model.name(),
                "every step must compute its output from its input with differentiable \
                 operations",
            )
        };
        if !score.requires_grad() {
            return Err(fail("it does not depend on the input through autograd".into()));
        }
        let grads = Tensor::f_run_backward(&[&score], &wrt, false, false)
            .map_err(|e| fail(crate::error::first_line(&e.to_string()).to_string()))?;
        let mut map = normalised_channel_sum(&(&grads[0] * x).abs(), height, width);
        for ((_, biases), g) in layers.iter().zip(&grads[1..]) {
            for bias in biases.iter() {
                let b = bias.to_kind(g.kind()).view([1, -1, 1, 1]);
                map += normalised_channel_sum(&(g * b).abs(), height, width);
            }
        }
        Ok(map)
    })
}

pub struct FullGrad;

impl CamMethod for FullGrad {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "fullgrad"
    }
    fn title(&self) -> &str {
        "FullGrad"
    }
    fn summary(&self) -> &str {
        "|input x input gradient| plus |bias x output gradient| of every convolution and \
         BatchNorm layer, each channel min-max normalised, summed"
    }
    fn reference(&self) -> Option<&str> {
        Some("FullGrad")
    }
    fn family(&self) -> Family {
        Family::InputLevel
    }
    fn requires_steps(&self) -> bool {
        true
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        full_gradient_map(ctx.model, ctx.input, ctx.targets)
    }
}
