//! ImageNet's normalisation, as the models consume images, and its inverse for display.
use tch::{Device, Tensor};

/// ImageNet channel means (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The means and standard deviations as [1, 3, 1, 1] tensors on `device`.
fn statistics(device: Device) -> (Tensor, Tensor) {
    let channels = |values: &[f32; 3]| {
        Tensor::from_slice(values)
            .to_device(device)
            .view([1, 3, 1, 1])
    };
    (channels(&IMAGENET_MEAN), channels(&IMAGENET_STD))
}

/// (x − mean) / std per channel, for [N, 3, H, W] images in [0, 1].
pub fn normalize(images: &Tensor) -> Tensor {
    let (mean, std) = statistics(images.device());
    (images - mean) / std
}

/// The inverse of [`normalize`], for display.
pub fn denormalize(images: &Tensor) -> Tensor {
    let (mean, std) = statistics(images.device());
    images * std + mean
}
