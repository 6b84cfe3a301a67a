//! Arguments shared by several subcommands.
use crate::device::parse_device;
use crate::model::ModelOptions;
use crate::SplitModel;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use tch::Device;

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A TorchScript split model (.pt with `features` and `head`), or builtin:NAME
    /// (`blindspot models`).
    #[arg(long)]
    pub model: String,
    /// Seed of a built-in model (random initialisation, or training for builtin:stack-*).
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    /// Weights (safetensors) for a built-in VGG architecture.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Build a wall post hoc: the head no longer reads these feature rows (inclusive, e.g.
    /// 5..13 or 5..).
    #[arg(long, value_name = "FIRST..LAST")]
    pub mask_rows: Option<String>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl ModelArgs {
    pub fn device(&self) -> Result<Device> {
        Ok(parse_device(&self.device)?)
    }

    /// Opens the model on the requested device, walled when --mask-rows is given.
    pub fn open(&self) -> Result<Box<dyn SplitModel>> {
        let options = ModelOptions {
            seed: self.model_seed,
            weights: self.weights.clone(),
            mask_rows: self.mask_rows.clone(),
        };
        crate::open::open_model(&self.model, self.device()?, &options)
            .with_context(|| format!("opening --model {}", self.model))
    }
}
