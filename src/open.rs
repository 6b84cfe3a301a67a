//! Opening any model specification: a built-in blindspot trains (`builtin:stack-*`, from the
//! trained-model store), another architecture of the zoo, or a user's TorchScript file, wrapped
//! in a post-hoc wall when asked. Above the model and training layers, which it joins.
use crate::error::{Error, Result};
use crate::model::wall::{RowRange, Walled};
use crate::model::{ModelOptions, SplitModel};
use crate::{model, train};
use tch::Device;

/// Why the model `spec` names cannot be walked layer by layer ([`SplitModel::steps`]: guided
/// backpropagation's ReLUs, FullGrad's biases), known from the specification alone; None when it
/// can. A TorchScript file keeps its layers inside its graph; a built-in vision transformer has
/// GELUs and LayerNorms, no ReLUs or convolution biases to walk.
pub fn without_steps(spec: &str) -> Option<String> {
    match spec.strip_prefix("builtin:") {
        None => Some(format!(
            "{} keeps them inside its TorchScript graph",
            crate::io::escape::one_line(spec)
        )),
        Some(name) if is_transformer_preset(name) => Some(format!(
            "{spec} is a vision transformer (GELUs and LayerNorms, no ReLU or BatchNorm to walk)"
        )),
        Some(_) => None,
    }
}

/// Whether `name` is a trained preset whose architecture is a vision transformer (its recipe
/// says so: `stack-vit`, `stack-vit-masked`).
fn is_transformer_preset(name: &str) -> bool {
    train::presets::config(name, 0)
        .is_some_and(|c| matches!(c.model, model::network::Architecture::Vit(_)))
}

/// Opens any model specification: `builtin:stack-*` (trained on first use, cached), another
/// `builtin:NAME` (an architecture with seeded random or loaded weights), or a TorchScript file;
/// wrapped in a post-hoc wall when `options.mask_rows` is given.
pub fn open_model(
    spec: &str,
    device: Device,
    options: &ModelOptions,
) -> Result<Box<dyn SplitModel>> {
    // The row range is parsed first: a typo must not cost a training.
    let rows = options
        .mask_rows
        .as_deref()
        .map(RowRange::parse)
        .transpose()?;
    let model = open_unwalled(spec, device, options)?;
    Ok(match rows {
        Some(rows) => Box::new(Walled::new(model, rows)),
        None => model,
    })
}

fn open_unwalled(
    spec: &str,
    device: Device,
    options: &ModelOptions,
) -> Result<Box<dyn SplitModel>> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        if let Some(trained) = train::presets::open(name, options.seed, device)? {
            if options.weights.is_some() {
                return Err(Error::input(
                    format!("{spec} is trained by blindspot and takes no --weights"),
                    spec,
                    "drop --weights, or load them into an architecture such as builtin:small-vgg",
                ));
            }
            return Ok(trained.model);
        }
    }
    model::zoo::open(spec, device, options).map_err(|e| match e {
        Error::Unknown { kind, name, known } => {
            let presets: Vec<String> = train::presets::PRESETS
                .iter()
                .map(|(n, _)| format!("builtin:{n}"))
                .collect();
            Error::Unknown {
                kind,
                name,
                known: format!("{}, {known}", presets.join(", ")),
            }
        }
        other => other,
    })
}
