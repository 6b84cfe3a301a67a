//! SmoothGrad (Smilkov, Thorat, Kim, Viégas & Wattenberg, "SmoothGrad: removing noise by adding
//! noise", ICML Workshop 2017) over Saliency, with captum's semantics
//! (`captum.attr.NoiseTunnel(Saliency(model))`, `nt_type="smoothgrad"`).
//!
//! attribution = (1/S) Σ_s |∂y_c/∂x (x + ε_s)|, ε_s ~ N(0, σ²) per input value, σ = `noise` ×
//! (max x − min x) of each image (the paper's noise level; captum takes σ itself);
//! raw map = Σ_channels attribution (≥ 0).
//!
//! The noise comes from the method's named stream (`method/smoothgrad`): the same seed gives the
//! same noise for the same batch, so `--seed` changes it and a run replays it. Batched: the S
//! noisy copies of a group of images are one batch, image-major as captum stacks them.
use super::super::CamContext;
use super::Attribution;
use crate::error::Result;
use crate::model::init::Init;
use tch::{Kind, Tensor};

pub struct SmoothGrad {
    /// Noisy copies S per image (captum's `nt_samples`).
    pub samples: usize,
    /// The noise level: σ over each image's value range.
    pub noise: f64,
    /// Seed of the noise draw (runs set it from the stream `method/smoothgrad`).
    pub seed: u64,
}

impl SmoothGrad {
    /// The paper's settings: 50 copies at a noise level of 15%.
    pub fn new(seed: u64) -> Self {
        SmoothGrad {
            samples: 50,
            noise: 0.15,
            seed,
        }
    }

    /// The noise ε [N·S, C, H, W] for the images `x` [N, C, H, W], image-major (rows
    /// n·S..(n + 1)·S are image n's copies).
    pub fn noise_for(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        let s = self.samples.max(1) as i64;
        let mut shape = size.clone();
        shape[0] *= s;
        let flat = x.flatten(1, -1);
        let range = (flat.amax(1, true) - flat.amin(1, true))
            .repeat_interleave_self_int(s, Some(0), None)
            .view([-1, 1, 1, 1]);
        Init::new(self.seed, x.device()).normal(&shape, 1.0) * range * self.noise
    }

    /// captum's attribution [N, C, H, W] with the given noise `noise` [N·S, C, H, W],
    /// image-major.
    pub fn attribute_with(&self, ctx: &CamContext, noise: &Tensor) -> Result<Tensor> {
        let x = ctx.input;
        let n = x.size()[0];
        let s = noise.size()[0] / n.max(1);
        // Images per group: S noisy copies of each go through the model together.
        let group = (256 / s.max(1)).max(1);
        let mut parts = Vec::new();
        for start in (0..n).step_by(group as usize) {
            let len = group.min(n - start);
            let images = x.narrow(0, start, len);
            let noisy = images.repeat_interleave_self_int(s, Some(0), None)
                + noise.narrow(0, start * s, len * s);
            let targets = ctx
                .targets
                .narrow(0, start, len)
                .repeat_interleave_self_int(s, Some(0), None);
            let grads = super::gradients(ctx.model, &noisy, &targets)?.abs();
            let mut shape = images.size();
            shape.insert(1, s);
            parts.push(
                grads
                    .view(shape.as_slice())
                    .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                    / s as f64,
            );
        }
        Ok(Tensor::cat(&parts, 0))
    }
}

impl Attribution for SmoothGrad {
    fn name(&self) -> &str {
        "smoothgrad"
    }
    fn title(&self) -> &str {
        "SmoothGrad"
    }
    fn summary(&self) -> &str {
        "Saliency averaged over 50 noisy copies of the input (noise 15% of its range)"
    }
    fn captum_reference(&self) -> &str {
        "NoiseTunnel(Saliency)"
    }
    /// The attribution [N, C, H, W] with the method's own noise.
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        let bytes = 4 * self.samples as u128 * ctx.input.numel() as u128;
        crate::limits::fits("SmoothGrad's noise", "smoothgrad", bytes)?;
        self.attribute_with(ctx, &self.noise_for(ctx.input))
    }
}
