//! Sobel edge map: the model-free "edge detector" baseline of Adebayo et al. ("Sanity Checks for
//! Saliency Maps", NeurIPS 2018), as pytorch-grad-cam's `sobel_cam` computes it, on float input.
//!
//! gray = 0.299 R + 0.587 G + 0.114 B (the channel mean for other channel counts);
//! gx, gy = 3×3 Sobel responses with reflect-101 borders (OpenCV's default);
//! map = 0.5 |gx| + 0.5 |gy| at input resolution. It ignores the model, so it must fail every
//! model- and data-randomization check.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct Sobel;

/// The Sobel magnitude of each image's grayscale, [N, H, W].
pub fn sobel_magnitude(input: &Tensor) -> Tensor {
    let c = input.size()[1];
    let gray = if c == 3 {
        let w = Tensor::from_slice(&[0.299f32, 0.587, 0.114])
            .to_device(input.device())
            .view([1, 3, 1, 1]);
        (input * w).sum_dim_intlist(1, true, Kind::Float)
    } else {
        input.mean_dim(1, true, Kind::Float)
    };
    let padded = gray.reflection_pad2d([1, 1, 1, 1]);
    let kx = Tensor::from_slice(&[-1f32, 0., 1., -2., 0., 2., -1., 0., 1.])
        .to_device(input.device())
        .view([1, 1, 3, 3]);
    let ky = kx.transpose(2, 3).contiguous();
    let gx = padded.conv2d(&kx, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    let gy = padded.conv2d(&ky, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    ((gx.abs() + gy.abs()) * 0.5).squeeze_dim(1)
}

impl CamMethod for Sobel {
    fn family(&self) -> super::Family {
        super::Family::Control
    }
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "sobel"
    }
    fn title(&self) -> &str {
        "Sobel"
    }
    fn summary(&self) -> &str {
        "negative control: model-free Sobel edge magnitude of the input"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(sobel_magnitude(ctx.input))
    }
}
