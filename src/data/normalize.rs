//! ImageNet's normalisation, as the models consume images, and its inverse for display.
use tch::Tensor;

/// ImageNet channel means (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// (x − mean) / std per channel, for [N, 3, H, W] images in [0, 1].
pub fn normalize(images: &Tensor) -> Tensor {
    let device = images.device();
    let mean = Tensor::from_slice(&IMAGENET_MEAN)
        .to_device(device)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&IMAGENET_STD)
        .to_device(device)
        .view([1, 3, 1, 1]);
    (images - mean) / std
}

/// The inverse of [`normalize`], for display.
pub fn denormalize(images: &Tensor) -> Tensor {
    let device = images.device();
    let mean = Tensor::from_slice(&IMAGENET_MEAN)
        .to_device(device)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&IMAGENET_STD)
        .to_device(device)
        .view([1, 3, 1, 1]);
    images * std + mean
}
