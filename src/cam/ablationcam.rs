//! AblationCAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanation for Deep Convolutional
//! Network via Gradient-free Localization", WACV 2020), with pytorch-grad-cam's semantics.
//!
//! y = y_c(A);  y_k = y_c(A with channel k ablated);  w_k = (y − y_k) / y;  cam = Σ_k w_k A_k.
//! Ablation sets A_k to 0 when min(A) = 0 (every ReLU layer), else to min(A) − 1e7.
//!
//! Only the head is re-run: the features of an image do not change when one of its channels is
//! ablated, so the N·V ablated activation tensors go through `head` in chunks of `batch_size`.
//!
//! On a token model (a vision transformer, [`crate::SplitModel::tokens`]) the channel is
//! ablated in every token of the layer's output, the prefix (class) tokens included, and min(A)
//! is taken over all of them: pytorch-grad-cam's `AblationLayerVit`. Which channel of the layer
//! a grid channel is comes from `to_grid` itself ([`CamContext::grid_channels`]): a layer may
//! carry channels the grid does not read (a ViT explained at a block's norm1 carries the block's
//! input), which are neither ablated nor in min(A). (pytorch-grad-cam ablates the rows of one
//! of its batches in turn in one tensor and takes min(A) after each, so the i-th row of a batch
//! gets min(A) − (i + 1)·1e7 when min(A) ≠ 0; here every row gets
//! min(A) − 1e7. Behind a LayerNorm, as in a transformer's head, a channel that far out
//! normalises to the same token either way.)
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct AblationCam {
    /// Ablated activation tensors per head call.
    pub batch_size: i64,
}

impl Default for AblationCam {
    fn default() -> Self {
        AblationCam { batch_size: 512 }
    }
}

impl AblationCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        // Channels second: a CNN's activations as they are, a token model's tokens with their
        // last (channel) dimension moved there.
        let last = ctx.layer.dim() as i64 - 1;
        let a = match ctx.model.tokens() {
            true => ctx.layer.transpose(1, last),
            false => ctx.layer.shallow_clone(),
        };
        let size = a.size();
        let (n, c) = (size[0], size[1]);
        let per_image: i64 = size[1..].iter().product();
        let ones = vec![1i64; size.len() - 2];
        let device = a.device();
        // The layer's channel behind each grid channel: all of them, in order, but where a token
        // model's layer carries more than the grid reads (a ViT explained at a block's norm1
        // carries the block's input beside it).
        let sources = ctx.grid_channels()?;
        let v = sources.size()[0];
        let all = Tensor::arange(n, (Kind::Int64, device));
        let original = ctx.target_scores(ctx.logits, &all);
        let minimum = a
            .index_select(1, &sources)
            .flatten(1, -1)
            .amin([1].as_slice(), false);
        let ablation_value = (&minimum - 1e7).where_self(&minimum.ne(0.0), &minimum.zeros_like());
        let jobs = Tensor::arange(n * v, (Kind::Int64, device));
        let owners = jobs.divide_scalar_mode(v, "floor");
        let channels = sources.index_select(0, &jobs.remainder(v));
        // Each ablated copy of A is built, masked and ablated: three [V, h, w] tensors alive.
        let chunk = crate::limits::items_within(
            &format!("AblationCAM's ablated activations of {:?}", &size[1..]),
            "ablationcam",
            12 * per_image as u128,
            self.batch_size,
        )?;
        let mut scores = Vec::new();
        let mut start = 0;
        while start < n * v {
            crate::progress::poll(|| "ablating channels (AblationCAM)".into())?;
            let len = chunk.min(n * v - start);
            let who = owners.narrow(0, start, len);
            let which = channels.narrow(0, start, len);
            let logits = tch::no_grad(|| -> Result<Tensor> {
                let batch = a.index_select(0, &who);
                let shape = |second: i64| [&[len, second][..], &ones].concat();
                let hit = which.one_hot(c).to_kind(Kind::Float).view(shape(c).as_slice());
                let value = ablation_value
                    .index_select(0, &who)
                    .view(shape(1).as_slice());
                let ablated: Tensor = &batch * (1.0 - &hit) + &hit * value;
                match ctx.model.tokens() {
                    true => ctx.model.head(&ablated.transpose(1, last).contiguous()),
                    false => ctx.model.head(&ablated),
                }
            })?;
            scores.push(ctx.target_scores(&logits, &who));
            start += len;
        }
        let ablated = Tensor::cat(&scores, 0).view([n, v]);
        let y = original.unsqueeze(1);
        let weights = (&y - ablated) / &y;
        Ok(weights)
    }
}

impl CamMethod for AblationCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "ablationcam"
    }
    fn title(&self) -> &str {
        "AblationCAM"
    }
    fn summary(&self) -> &str {
        "channel weights = relative drop of the target logit when the channel is ablated \
         (head re-run only)"
    }
    fn reference(&self) -> Option<&str> {
        Some("AblationCAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    super::method::channel_weighted_methods!();
}
