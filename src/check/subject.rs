//! What every image check runs on, declared once: the model (and its post-hoc wall), the images,
//! the confidence level of the verdict and the batch size. Check structs flatten it, so suites
//! write `model = …` and the command line `--model …` for every check alike.
use super::CheckContext;
use crate::data::DataSpec;
use crate::error::Result;
use crate::model::ModelOptions;
use crate::SplitModel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Tensor;

/// Default confidence level of a check's interval.
pub const LEVEL: f64 = 0.95;
/// Default images per explain call.
pub const BATCH_SIZE: i64 = 32;

fn level() -> f64 {
    LEVEL
}
fn batch_size() -> i64 {
    BATCH_SIZE
}

/// The model, data and decision settings an image check shares with the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct Subject {
    /// The model: builtin:NAME (`blindspot models`) or a TorchScript split model (.pt).
    #[arg(long)]
    pub model: String,
    /// Weights (safetensors) for a built-in architecture.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// Post-hoc wall: feature rows the head must not read (inclusive, e.g. 5..13 or 5..).
    #[arg(long, value_name = "FIRST..LAST")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_rows: Option<String>,
    /// The images.
    #[command(flatten)]
    pub data: DataSpec,
    /// Seed of built-in models (their initialisation, or their training for builtin:stack-*);
    /// independent of --seed, which drives the data and the random draws.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub model_seed: u64,
    /// Confidence level of the verdict's bound.
    #[arg(long, default_value_t = LEVEL)]
    #[serde(default = "level")]
    pub level: f64,
    /// Images per explain call.
    #[arg(long, default_value_t = BATCH_SIZE)]
    #[serde(default = "batch_size")]
    pub batch_size: i64,
}

impl Subject {
    /// A subject with the default level and batch size.
    pub fn new(model: &str, data: DataSpec) -> Self {
        Subject {
            model: model.into(),
            weights: None,
            mask_rows: None,
            data,
            model_seed: 0,
            level: LEVEL,
            batch_size: BATCH_SIZE,
        }
    }

    /// Opens the model on the context's device, walled when `mask_rows` is given.
    pub fn open(&self, ctx: &CheckContext) -> Result<Box<dyn SplitModel>> {
        self.open_other(&self.model, self.weights.clone(), ctx)
    }

    /// Opens another model of the same check (a baseline, a random-label model) with this
    /// subject's model seed and wall.
    pub fn open_other(
        &self,
        spec: &str,
        weights: Option<PathBuf>,
        ctx: &CheckContext,
    ) -> Result<Box<dyn SplitModel>> {
        let options = ModelOptions {
            seed: self.model_seed,
            weights,
            mask_rows: self.mask_rows.clone(),
        };
        crate::open_model(spec, ctx.device, &options)
    }

    /// The images, validated against `model` (shape, channels, finite values).
    pub fn images(&self, model: &dyn SplitModel, ctx: &CheckContext) -> Result<Tensor> {
        let x = self.data.load(&ctx.seeds)?;
        crate::cam::pipeline::validate_input(&x, model, &self.data.describe(&ctx.seeds))?;
        Ok(x)
    }

    /// The model's short name for trial labels: `builtin:stack-masked` → `stack-masked`,
    /// `models/net.pt` → `net.pt`.
    pub fn model_label(&self) -> String {
        let spec = self.model.trim_start_matches("builtin:");
        spec.rsplit('/').next().unwrap_or(spec).to_string()
    }
}
