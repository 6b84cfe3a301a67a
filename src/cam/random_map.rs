//! The blurred random map: uniform noise at the explained layer's resolution, which the
//! pipeline upsamples bilinearly like every map, so the final map is smooth random blobs. A
//! negative control of the localisation checks (`src/check/localisation.rs`): it knows nothing
//! of the image or the model, so a check it passes cannot tell localisation from chance on its
//! data. Not a method a user picks.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use crate::model::init::Init;
use tch::Tensor;

pub struct RandomMap {
    /// Seed of the noise; the same seed gives the same maps for the same batch shape. Checks set
    /// it from their stream `localisation/random-map`.
    pub seed: u64,
}

impl CamMethod for RandomMap {
    fn family(&self) -> super::Family {
        super::Family::Control
    }
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "random-map"
    }
    fn title(&self) -> &str {
        "blurred random map"
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
        Ok(Init::new(self.seed, ctx.activations.device()).uniform(&[n, h, w], 1.0))
    }
}
