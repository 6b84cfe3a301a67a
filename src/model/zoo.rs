//! Model specifications on the command line and in suites: a TorchScript file path, or
//! `builtin:NAME` for the built-in zoo.
use super::rcnn::{Rcnn, RcnnConfig};
use super::torchscript::TorchScriptModel;
use super::vgg::{Vgg, VggConfig};
use super::{ModelOptions, SplitModel};
use crate::error::{Error, Result};
use crate::seed::{streams, Seeds};
use std::path::Path;
use tch::Device;

/// The built-in models: name and one-line description.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "rcnn",
        "Theorem 1's simple CNN (29x29x1, V=256, k=2, 10 classes, N(0,1) weights, \
         bottom pooled rows 7..13 dead)",
    ),
    ("rcnn-baseline", "the same rCNN without the wall"),
    (
        "small-vgg",
        "VGG-style 64x64 RGB network with BatchNorm, 8x8x64 CAM layer, 6 classes, \
         feature rows 4..7 dead",
    ),
    (
        "small-vgg-baseline",
        "the same small network without the wall",
    ),
    (
        "vgg16-masked",
        "the paper's masked VGG16 (224x224, 256x14x14 CAM layer, feature rows 5..13 dead)",
    ),
    (
        "vgg16-baseline",
        "the paper's VGG16 architecture without the wall",
    ),
];

/// Opens a model: `builtin:NAME` or a path to a TorchScript split model.
pub fn open(spec: &str, device: Device, options: &ModelOptions) -> Result<Box<dyn SplitModel>> {
    let Some(name) = spec.strip_prefix("builtin:") else {
        if options.weights.is_some() {
            return Err(Error::input(
                "--weights only applies to built-in models",
                spec,
                "a TorchScript file carries its own weights; drop --weights",
            ));
        }
        return Ok(Box::new(TorchScriptModel::load(Path::new(spec), device)?));
    };
    let label = format!("builtin:{name}");
    // The model seed's stream of initial weights (the same one training starts from).
    let seed = Seeds::new(options.seed).stream(streams::MODEL_INIT).seed();
    let model: Box<dyn SplitModel> = match name {
        "rcnn" | "rcnn-baseline" => {
            if options.weights.is_some() {
                return Err(Error::input(
                    "builtin:rcnn takes no --weights",
                    spec,
                    "the rCNN is defined by its seed; drop --weights",
                ));
            }
            let config = RcnnConfig {
                masked: name == "rcnn",
                ..RcnnConfig::default()
            };
            Box::new(Rcnn::new(config, seed, device))
        }
        "small-vgg" | "small-vgg-baseline" => {
            let dead = (name == "small-vgg").then_some((4, 8));
            vgg(VggConfig::small(6, dead), &label, seed, device, options)?
        }
        "vgg16-masked" | "vgg16-baseline" => vgg(
            VggConfig::vgg16_masked(name == "vgg16-masked"),
            &label,
            seed,
            device,
            options,
        )?,
        _ => {
            return Err(Error::Unknown {
                kind: "built-in model",
                name: spec.to_string(),
                known: BUILTINS
                    .iter()
                    .map(|(n, _)| format!("builtin:{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };
    Ok(model)
}

fn vgg(
    config: VggConfig,
    label: &str,
    seed: u64,
    device: Device,
    options: &ModelOptions,
) -> Result<Box<dyn SplitModel>> {
    Ok(Box::new(match &options.weights {
        Some(weights) => {
            let mut model = Vgg::for_loading(config, label, device);
            model.load(weights)?;
            model
        }
        None => Vgg::new(config, label, seed, device),
    }))
}
