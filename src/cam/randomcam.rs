//! RandomCAM (pytorch-grad-cam's negative control): channel weights w_k ~ U(−1, 1) i.i.d.,
//! cam = Σ_k w_k A_k. A method that any sane sanity check must fail.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use crate::model::init::Init;
use tch::Tensor;

pub struct RandomCam {
    /// Seed of the weight draw; the same seed gives the same weights for the same batch shape.
    /// Runs set it from their stream `method/randomcam`, so `--seed` changes the maps.
    pub seed: u64,
}

impl RandomCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let (n, v, _, _) = ctx
            .activations
            .size4()
            .expect("activations are [N, V, h, w]");
        let weights = Init::new(self.seed, ctx.activations.device()).uniform(&[n, v], 1.0);
        Ok(weights)
    }
}

impl CamMethod for RandomCam {
    fn family(&self) -> super::Family {
        super::Family::Control
    }
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "randomcam"
    }
    fn title(&self) -> &str {
        "RandomCAM"
    }
    fn summary(&self) -> &str {
        "negative control: channel weights drawn from U(-1, 1)"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    super::method::channel_weighted_methods!();
}
