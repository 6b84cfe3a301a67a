//! ScoreCAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
//! Networks", CVPR Workshops 2020), with pytorch-grad-cam's semantics.
//!
//! U_k = bilinear upsample of A_k to the input size (align_corners = true);
//! Ũ_k = (U_k − min U_k) / (max U_k − min U_k + 1e-8);  s_k = y_c(x ⊙ Ũ_k) (the raw logit);
//! w = softmax_k(s);  cam = Σ_k w_k A_k.
//!
//! Batched: the masked inputs of a batch are built and scored in chunks of `batch_size` under
//! no-grad; each chunk's masks are built once, in one upsampling call. No redundant forwards:
//! a channel that is zero everywhere (common after a ReLU) has the mask 0 / (0 + 1e-8) = 0, so
//! its masked input is the zero image, whatever the image; the zero image is scored once per
//! batch and only the other channels are run through the model. (Such a channel's score only
//! scales the raw map through the softmax's denominator, so the final map does not depend on it;
//! the raw map is still the literal loop's, which tests/reference.rs checks on dead channels.)
use super::{weighted_sum, CamContext, CamMethod};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct ScoreCam {
    /// Masked inputs per forward pass.
    pub batch_size: i64,
}

impl Default for ScoreCam {
    fn default() -> Self {
        ScoreCam { batch_size: 16 }
    }
}

impl CamMethod for ScoreCam {
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
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
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
        let mut live_scores = Vec::new();
        let mut start = 0;
        while start < total {
            let len = self.batch_size.max(1).min(total - start);
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
            live_scores.push(ctx.target_scores(&logits, &chunk_owners));
            start += len;
        }
        let scores = if live_scores.is_empty() {
            scores
        } else {
            scores.index_copy(0, &live, &Tensor::cat(&live_scores, 0))
        };
        let weights = scores.view([n, v]).softmax(-1, Kind::Float);
        Ok(weighted_sum(&weights, a))
    }
}
