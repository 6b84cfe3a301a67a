//! Data: STACK-SYNTH, the embedded synthetic two-object dataset ([`synth`]), and image folders
//! such as the paper's STACK-MIX / STACK-GEN ([`folder`]). Images are RGB in [0, 1] until
//! [`normalize`] applies ImageNet's mean and standard deviation.
pub mod folder;
pub mod synth;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Tensor;

/// Where a check's images come from, as suites and the command line declare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum DataSpec {
    /// `synthetic = N`: the first N STACK-SYNTH images of stream `seed` (default: the suite's seed).
    Synthetic {
        synthetic: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        #[serde(default = "default_synth_size")]
        size: i64,
    },
    /// `input = "X.npy"`: normalised float32 [N, C, H, W].
    Npy { input: PathBuf },
    /// `folder = "DIR"`: JPEG/PNG files, preprocessed and normalised.
    Folder {
        folder: PathBuf,
        #[serde(default = "default_preprocess")]
        preprocess: folder::Preprocess,
        #[serde(default = "default_folder_size")]
        size: i64,
    },
}

fn default_synth_size() -> i64 {
    64
}
fn default_preprocess() -> folder::Preprocess {
    folder::Preprocess::AsIs
}
fn default_folder_size() -> i64 {
    224
}

impl DataSpec {
    /// Loads the images, normalised, [N, C, H, W] on the CPU.
    pub fn load(&self, default_seed: u64) -> Result<Tensor> {
        match self {
            DataSpec::Synthetic {
                synthetic,
                seed,
                size,
            } => {
                if *synthetic < 2 {
                    return Err(Error::input(
                        format!("synthetic = {synthetic}: a check needs at least 2 images"),
                        "data",
                        "use synthetic = 32 or more",
                    ));
                }
                let config = synth::SynthConfig {
                    height: *size,
                    width: *size,
                    band_start: size - size / 4,
                };
                Ok(synth::StackSynth::generate(
                    &config,
                    *synthetic,
                    seed.unwrap_or(default_seed),
                    0,
                )
                .normalized())
            }
            DataSpec::Npy { input } => {
                let array = crate::io::npy::read(input)?;
                if array.dtype != crate::io::npy::DType::F32 {
                    return Err(Error::input(
                        format!(
                            "{} holds {} values; expected float32 [N, C, H, W]",
                            input.display(),
                            array.dtype.numpy_name()
                        ),
                        input.display().to_string(),
                        "save it with numpy as float32",
                    ));
                }
                Ok(array.to_tensor())
            }
            DataSpec::Folder {
                folder,
                preprocess,
                size,
            } => Ok(folder::load(folder, *size, *preprocess)?.images),
        }
    }

    /// A short description for reports.
    pub fn describe(&self, default_seed: u64) -> String {
        match self {
            DataSpec::Synthetic {
                synthetic,
                seed,
                size,
            } => {
                format!(
                    "STACK-SYNTH x{synthetic} ({size}x{size}, seed {})",
                    seed.unwrap_or(default_seed)
                )
            }
            DataSpec::Npy { input } => input.display().to_string(),
            DataSpec::Folder {
                folder,
                preprocess,
                size,
            } => format!("{} ({preprocess:?}, {size}x{size})", folder.display()),
        }
    }
}

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
