//! ScoreCAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
//! Networks", CVPR Workshops 2020), with pytorch-grad-cam's semantics.
//!
//! U_k = bilinear upsample of A_k to the input size (align_corners = true);
//! Ũ_k = (U_k − min U_k) / (max U_k − min U_k + 1e-8);  s_k = y_c(x ⊙ Ũ_k) (the raw logit);
//! w = softmax_k(s);  cam = Σ_k w_k A_k.
//!
//! Batched: the masked inputs of a batch are built and scored in chunks under no-grad (the chunk
//! size follows the device, see [`ScoreCam::chunk_size`]); each chunk's masks are built once, in
//! one upsampling call. No redundant forwards:
//! a channel that is zero everywhere (common after a ReLU) has the mask 0 / (0 + 1e-8) = 0, so
//! its masked input is the zero image, whatever the image; the zero image is scored once per
//! batch and only the other channels are run through the model. (Such a channel's score only
//! scales the raw map through the softmax's denominator, so the final map does not depend on it;
//! the raw map is still the literal loop's, which tests/reference.rs checks on dead channels.)
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

#[derive(Default)]
pub struct ScoreCam {
    /// Masked inputs per forward pass; None: [`ScoreCam::chunk_size`] picks it for the device.
    pub batch_size: Option<i64>,
}

/// Masked inputs per forward on a CPU: on the exported small VGG (TorchScript, 32 images, 5
/// repetitions) chunks of 16 and 64 gave 64.0 and 79.6 images/s with the allocator keeping
/// freed blocks ([`crate::limits::keep_freed_blocks`]; 71.3 and 46.5 without it); on the
/// built-in one before, 34.6 and 51.5 (docs/performance.md). The memory budget still bounds it
/// ([`crate::limits::items_within`]).
const CPU_CHUNK: i64 = 64;
/// On a GPU whose free memory cannot be read.
const GPU_CHUNK: i64 = 64;

impl ScoreCam {
    /// Masked inputs per forward: `batch_size` when set; else [`CPU_CHUNK`] on a CPU, and on a GPU
    /// as many as fit in half its free memory (between 16 and 1,024) at an estimated 512 bytes
    /// per input pixel — the input, its mask and two activations of 64 float channels at full
    /// resolution alive at once, as in VGG's first block (the largest layer of common CNNs). An
    /// estimate: a chunk that still runs out of memory is halved and tried again.
    pub fn chunk_size(&self, device: tch::Device, height: i64, width: i64) -> i64 {
        if let Some(size) = self.batch_size {
            return size.max(1);
        }
        let bytes = 512 * (height * width).max(1) as u64;
        match device {
            tch::Device::Cpu => CPU_CHUNK,
            _ => crate::device::chunk_for_memory(device, bytes, GPU_CHUNK, (16, 1024)),
        }
    }
}

impl ScoreCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let a = ctx.activations;
        let (n, v, h, w) = a.size4().expect("activations are [N, V, h, w]");
        let size = ctx.input.size();
        let (height, width) = (size[2], size[3]);
        let device = a.device();
        let flat = a.reshape([n * v, 1, h, w]);
        let owners =
            Tensor::arange(n, (Kind::Int64, device)).repeat_interleave_self_int(v, None, None);
        // Every channel starts with the zero image's score; the live ones are overwritten below.
        let zero_logits = tch::no_grad(|| {
            ctx.model.forward(&Tensor::zeros(
                [1, size[1], height, width],
                (Kind::Float, device),
            ))
        })?;
        let scores = ctx.target_scores(
            &zero_logits.expand([n * v, zero_logits.size()[1]], false),
            &owners,
        );
        let live = flat
            .ne(0.0)
            .flatten(1, -1)
            .any_dim(1, false)
            .nonzero()
            .squeeze_dim(1);
        let total = live.size()[0];
        // Whatever the device's estimate, a chunk stays within the memory budget.
        let mut chunk = crate::limits::items_within(
            &format!("ScoreCAM's masked input of {height}x{width}"),
            "scorecam",
            512 * (height * width) as u128,
            self.chunk_size(device, height, width),
        )?;
        let mut live_scores = Vec::new();
        let mut start = 0;
        while start < total {
            let scored =
                crate::device::halving(&mut chunk, total - start, "scoring masked inputs", |len| {
                    let channels = live.narrow(0, start, len);
                    let chunk_owners = owners.index_select(0, &channels);
                    let logits = tch::no_grad(|| -> Result<Tensor> {
                        let up = flat.index_select(0, &channels).upsample_bilinear2d(
                            [height, width],
                            true,
                            None,
                            None,
                        );
                        let lo = up.amin([1, 2, 3].as_slice(), true);
                        let hi = up.amax([1, 2, 3].as_slice(), true);
                        let masks = (up - &lo) / (hi - lo + 1e-8);
                        ctx.model
                            .forward(&(ctx.input.index_select(0, &chunk_owners) * masks))
                    })?;
                    Ok((logits, chunk_owners))
                });
            let ((logits, chunk_owners), len) = scored?;
            live_scores.push(ctx.target_scores(&logits, &chunk_owners));
            start += len;
        }
        let scores = if live_scores.is_empty() {
            scores
        } else {
            scores.index_copy(0, &live, &Tensor::cat(&live_scores, 0))
        };
        let weights = scores.view([n, v]).softmax(-1, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for ScoreCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "scorecam"
    }
    fn title(&self) -> &str {
        "ScoreCAM"
    }
    fn summary(&self) -> &str {
        "channel weights = softmax of the target logit on the input masked by each \
         upsampled channel"
    }
    fn reference(&self) -> Option<&str> {
        Some("ScoreCAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    super::method::channel_weighted_methods!();
}
