//! FEM, the Feature Explanation Method (Fuad, Martin, Giot, Bourqui, Benois-Pineau & Zemmari,
//! "Features understanding in 3D CNNs for actions recognition in video", IPTA 2020), with
//! pytorch-grad-cam's semantics (`pytorch_grad_cam.FEM`, k = 2).
//!
//! Per image and channel: th_k = mean(A_k) + k · std(A_k) (the population standard deviation
//! over the map); w_k = the share of A_k's positions above th_k; cam = Σ_k w_k A_k. No
//! gradients, no target: class-agnostic, like EigenCAM.
use super::{weighted_sum, CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct Fem {
    /// The threshold's number of standard deviations above the mean.
    pub k: f64,
}

impl Default for Fem {
    fn default() -> Self {
        Fem { k: 2.0 }
    }
}

impl Fem {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let a = ctx.activations;
        let dims = [2i64, 3].as_slice();
        let mean = a.mean_dim(dims, true, Kind::Float);
        let std = a.std_dim(dims, false, true);
        let above = a.gt_tensor(&(mean + std * self.k)).to_kind(Kind::Float);
        let weights = above.mean_dim(dims, false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for Fem {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "fem"
    }
    fn title(&self) -> &str {
        "FEM"
    }
    fn summary(&self) -> &str {
        "channel weights = share of the channel's map above its mean + 2 standard deviations \
         (class-agnostic)"
    }
    fn reference(&self) -> Option<&str> {
        Some("FEM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(weighted_sum(&self.weights(ctx)?, ctx.activations))
    }
}
