//! "GradCAM with absolute gradients": channel weights w_k = mean_ij |∂y_c/∂A_k(i,j)|,
//! cam = Σ_k w_k A_k. A new CAM method written outside blindspot, against its public trait.
//! Every weight is non-negative, so whatever the activations hold behind a wall shows up in the
//! map: the wall check should catch it.
use blindspot::{weighted_sum, CamContext, CamMethod};
use tch::{Kind, Tensor};

pub struct AbsGradCam;

impl CamMethod for AbsGradCam {
    fn name(&self) -> &str {
        "abs-gradcam"
    }
    fn title(&self) -> &str {
        "AbsGradCAM"
    }
    fn summary(&self) -> &str {
        "GradCAM with the spatial mean of |gradient| as channel weights"
    }
    fn raw_map(&self, ctx: &CamContext) -> blindspot::Result<Tensor> {
        let weights = ctx
            .grads()?
            .abs()
            .mean_dim([2, 3].as_slice(), false, Kind::Float);
        Ok(weighted_sum(&weights, ctx.activations))
    }
}
