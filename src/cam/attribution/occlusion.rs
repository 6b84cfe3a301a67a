//! Occlusion (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV
//! 2014), with captum's semantics (`captum.attr.Occlusion`, a window over every channel).
//!
//! For every position p of a k × k window moved by `stride` over the image (all channels at
//! once), the occluded image x_p = x ⊙ (1 − m_p) + b m_p (m_p the window's indicator, b the
//! baseline value) and its drop d_p = y_c(x) − y_c(x_p);
//! attribution = Σ_p d_p m_p / Σ_p m_p per pixel (the same for every channel; a pixel no window
//! covers gets 0, where captum divides 0 by 0); raw map = Σ_channels attribution (signed).
//!
//! Batched: every window's mask is one row of a [P, H·W] matrix; the occluded copies of a group of
//! images are scored in chunks without gradients, and the attributions are one matrix product of
//! the drops [N, P] with the masks.
use super::super::CamContext;
use super::Attribution;
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

pub struct Occlusion {
    /// The window's height and width k.
    pub window: i64,
    /// The step between window positions, along both axes.
    pub stride: i64,
    /// The value an occluded pixel takes.
    pub baseline: f64,
}

impl Default for Occlusion {
    /// An 8 × 8 window moved by 4 pixels, occluded with 0.
    fn default() -> Self {
        Occlusion {
            window: 8,
            stride: 4,
            baseline: 0.0,
        }
    }
}

impl Occlusion {
    /// The windows' indicators [P, H, W] over an image of `height` × `width`, row by row.
    pub fn masks(&self, height: i64, width: i64, device: tch::Device) -> Result<Tensor> {
        let (k, s) = (self.window, self.stride.max(1));
        if k < 1 || k > height || k > width {
            return Err(Error::input(
                format!("an occlusion window of {k}x{k} does not fit a {height}x{width} image"),
                "occlusion",
                format!("use a window between 1 and {}", height.min(width)),
            ));
        }
        let rows = Tensor::arange(height, (Kind::Int64, device));
        let cols = Tensor::arange(width, (Kind::Int64, device));
        let along = |axis: &Tensor, size: i64| {
            let starts = Tensor::arange_start_step(0, size - k + 1, s, (Kind::Int64, device));
            let after = axis.unsqueeze(0).ge_tensor(&starts.unsqueeze(1));
            let before = axis.unsqueeze(0).lt_tensor(&(starts.unsqueeze(1) + k));
            after.logical_and(&before).to_kind(Kind::Float)
        };
        let (r, c) = (along(&rows, height), along(&cols, width));
        let (pr, pc) = (r.size()[0], c.size()[0]);
        Ok((r.view([pr, 1, height, 1]) * c.view([1, pc, 1, width])).view([pr * pc, height, width]))
    }

}

impl Attribution for Occlusion {
    fn name(&self) -> &str {
        "occlusion"
    }
    fn title(&self) -> &str {
        "Occlusion"
    }
    fn summary(&self) -> &str {
        "drop of the target logit when an 8x8 window (stride 4) is set to 0, averaged over the \
         windows covering each pixel, summed over channels (signed)"
    }
    fn captum_reference(&self) -> &str {
        "Occlusion"
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        let x = ctx.input;
        let size = x.size();
        let (n, height, width) = (size[0], size[2], size[3]);
        let masks = self.masks(height, width, x.device())?;
        let p = masks.size()[0];
        let all = Tensor::arange(n, (Kind::Int64, x.device()));
        let original = ctx.target_scores(ctx.logits, &all);
        let keep = (masks.ones_like() - &masks).unsqueeze(1);
        let fill = (&masks * self.baseline).unsqueeze(1);
        // Images per group: the P occluded copies of each are built and scored together.
        let group = (1024 / p).max(1);
        let mut drops = Vec::new();
        for start in (0..n).step_by(group as usize) {
            let len = group.min(n - start);
            let occluded = (x.narrow(0, start, len).unsqueeze(1) * &keep.unsqueeze(0)
                + &fill.unsqueeze(0))
                .view([len * p, size[1], height, width]);
            let targets = ctx.targets.narrow(0, start, len).repeat_interleave_self_int(
                p,
                Some(0),
                None,
            );
            let scores = super::scores(ctx.model, &occluded, &targets)?.view([len, p]);
            drops.push(original.narrow(0, start, len).unsqueeze(1) - scores);
        }
        let drops = Tensor::cat(&drops, 0);
        let flat = masks.view([p, height * width]);
        let counts = flat.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        let total = drops.matmul(&flat);
        let per_pixel = (total / counts.clamp_min(1.0)).view([n, 1, height, width]);
        Ok(per_pixel.expand([n, size[1], height, width], false).contiguous())
    }
}
