//! ScoreCAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
//! Networks", CVPR Workshops 2020), with pytorch-grad-cam's semantics.
//!
//! U_k = bilinear upsample of A_k to the input size (align_corners = true);
//! Ũ_k = (U_k − min U_k) / (max U_k − min U_k + 1e-8);  s_k = y_c(x ⊙ Ũ_k) (the raw logit);
//! w = softmax_k(s);  cam = Σ_k w_k A_k.
//!
//! Batched: the N·V masked inputs of a batch are built and scored in chunks of `batch_size`
//! under no-grad; each chunk's masks are built once, in one upsampling call.
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
        "channel weights = softmax of the target logit on the input masked by each upsampled channel"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let a = ctx.activations;
        let (n, v, h, w) = a.size4().expect("activations are [N, V, h, w]");
        let (height, width) = (ctx.input.size()[2], ctx.input.size()[3]);
        let flat = a.reshape([n * v, 1, h, w]);
        let owners = Tensor::arange(n, (Kind::Int64, a.device())).repeat_interleave_self_int(v, None, None);
        let mut scores = Vec::new();
        let mut start = 0;
        while start < n * v {
            let len = self.batch_size.max(1).min(n * v - start);
            let chunk_owners = owners.narrow(0, start, len);
            let logits = tch::no_grad(|| -> Result<Tensor> {
                let up = flat.narrow(0, start, len).upsample_bilinear2d([height, width], true, None, None);
                let lo = up.amin([1, 2, 3].as_slice(), true);
                let hi = up.amax([1, 2, 3].as_slice(), true);
                let masks = (up - &lo) / (hi - lo + 1e-8);
                ctx.model.forward(&(ctx.input.index_select(0, &chunk_owners) * masks))
            })?;
            scores.push(ctx.target_scores(&logits, &chunk_owners));
            start += len;
        }
        let weights = Tensor::cat(&scores, 0).view([n, v]).softmax(-1, Kind::Float);
        Ok(weighted_sum(&weights, a))
    }
}
