//! The constant map: every pixel the same. The most degenerate explanation there is, run as a
//! negative control beside the methods in the randomization-type checks
//! (`src/check/controls.rs`); it is not a method a user picks. Its raw map is 1 at every
//! position of the explained layer, so its final map (after min-max scaling) is 0 everywhere.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct ConstantMap;

impl CamMethod for ConstantMap {
    fn family(&self) -> super::Family {
        super::Family::Control
    }
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "constant"
    }
    fn title(&self) -> &str {
        "constant map"
    }
    fn summary(&self) -> &str {
        "negative control: the same value at every position"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let (n, _, h, w) = ctx
            .activations
            .size4()
            .expect("activations are [N, V, h, w]");
        Ok(Tensor::ones(
            [n, h, w],
            (Kind::Float, ctx.activations.device()),
        ))
    }
}
