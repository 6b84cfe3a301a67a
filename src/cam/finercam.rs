//! Finer-CAM (Zhang, Mai, Hossain, Kuehl, Zhang, Shen, Berger-Wolf, Stewart, Chao & Su,
//! "Finer-CAM: Spotting the Difference Reveals Finer Details for Visual Explanation", CVPR 2025),
//! with pytorch-grad-cam's semantics (`pytorch_grad_cam.FinerCAM` over GradCAM, its default
//! comparison of the three most similar classes, α = 1).
//!
//! The classes j compared with the target c are the (up to) three whose logits are closest to
//! y_c (|y_j − y_c| ascending, c itself first and left out); with p = softmax(y),
//! s = Σ_j p_j (y_c − α y_j) / (Σ_j p_j + 1e-9), and the map is GradCAM's of s:
//! w_k = mean_ij ∂s/∂A_k, cam = Σ_k w_k A_k. The gradient flows through p too, as in
//! pytorch-grad-cam. (pytorch-grad-cam takes the argmax class, or one `target_idx` for the whole
//! batch; blindspot's explicit targets are each image's own.)
use super::{CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

pub struct FinerCam {
    /// The comparison strength α.
    pub alpha: f64,
    /// How many of the most similar classes are compared.
    pub comparisons: i64,
}

impl Default for FinerCam {
    fn default() -> Self {
        FinerCam {
            alpha: 1.0,
            comparisons: 3,
        }
    }
}

impl FinerCam {
    /// The channel weights w \[N, V\] of the batch in `ctx`.
    fn weights(&self, ctx: &CamContext) -> Result<Tensor> {
        let model = ctx.model;
        let leaf = ctx.layer.detach().set_requires_grad(true);
        let logits = model.head(&leaf)?;
        let classes = logits.size()[1];
        let m = self.comparisons.min(classes - 1).max(0);
        let targets = ctx.targets.unsqueeze(1);
        let own = logits.gather(1, &targets, false);
        let score = match m {
            // One class: nothing to compare with, pytorch-grad-cam's empty sum is 0.
            0 => own.squeeze_dim(1) * 0.0,
            _ => {
                let closeness = (logits.detach() - own.detach()).abs();
                let order = closeness.argsort(1, false);
                let compared = order.narrow(1, 1, m);
                let p = logits.softmax(1, Kind::Float).gather(1, &compared, false);
                let others = logits.gather(1, &compared, false);
                let margin = (&p * (&own - others * self.alpha)).sum_dim_intlist(
                    [1i64].as_slice(),
                    false,
                    Kind::Float,
                );
                margin / (p.sum_dim_intlist([1i64].as_slice(), false, Kind::Float) + 1e-9)
            }
        };
        let g = crate::model::gradient(&score.sum(Kind::Float), &leaf).map_err(|e| {
            Error::model(
                format!(
                    "cannot differentiate Finer-CAM's margin with respect to the CAM layer: {e}"
                ),
                model.name(),
                "`head` must compute the logits from its input A with differentiable operations",
            )
        })?;
        let weights = model.to_grid(&g)?.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
        Ok(weights)
    }
}

impl CamMethod for FinerCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "finercam"
    }
    fn title(&self) -> &str {
        "FinerCAM"
    }
    fn summary(&self) -> &str {
        "GradCAM of the target logit's softmax-weighted margin over the three most similar \
         classes"
    }
    fn reference(&self) -> Option<&str> {
        Some("FinerCAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    super::method::channel_weighted_methods!();
}
