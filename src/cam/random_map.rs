//! The blurred random map: uniform noise at the explained layer's resolution, which the
//! pipeline upsamples bilinearly like every map, so the final map is smooth random blobs. A
//! negative control of the localisation checks (`src/check/localisation.rs`): it knows nothing
//! of the image or the model, so a check it passes cannot tell localisation from chance on its
//! data. Not a method a user picks.
//!
//! Two kinds: signed noise, U(−1, 1), which the final map's ReLU sets to 0 in about half the
//! places (blobs on a flat ground, like a ReLU'd CAM: the localisation checks'), and symmetric
//! noise, U(0, 1), which no ReLU touches, so that the final map's distribution is the same under
//! v ↦ 1 − v (bilinear upsampling and min–max normalisation commute with it): a map whose
//! expected ranking of the pixels is the same read from either end (the faithfulness checks').
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use crate::model::init::Init;
use tch::Tensor;

pub struct RandomMap {
    /// Seed of the noise; the same seed gives the same maps for the same batch shape. Checks set
    /// it from their stream `localisation/random-map`.
    pub seed: u64,
    /// U(0, 1) noise (true) rather than U(−1, 1) (module doc).
    pub symmetric: bool,
}

impl CamMethod for RandomMap {
    fn family(&self) -> super::Family {
        super::Family::Control
    }
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        match self.symmetric {
            false => "random-map",
            true => "symmetric-random-map",
        }
    }
    fn title(&self) -> &str {
        match self.symmetric {
            false => "blurred random map",
            true => "blurred symmetric random map",
        }
    }
    fn summary(&self) -> &str {
        "negative control: uniform noise at the explained layer's resolution, upsampled"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let (n, _, h, w) = ctx
            .activations
            .size4()
            .expect("activations are [N, V, h, w]");
        let noise = Init::new(self.seed, ctx.activations.device()).uniform(&[n, h, w], 1.0);
        Ok(match self.symmetric {
            false => noise,
            true => (noise + 1.0) / 2.0,
        })
    }
}
