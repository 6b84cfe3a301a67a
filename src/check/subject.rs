//! What every image check runs on, declared once: the model (and its post-hoc wall), the images,
//! how many looks at more images an inconclusive verdict may take, and the batch size. Check
//! structs flatten it, so suites write `model = …` and the command line `--model …` for every
//! check alike. (The confidence level is not a check's parameter: the run derives it from its
//! family-wise error, see [`super::ErrorControl`].)
use super::CheckContext;
use crate::data::DataSpec;
use crate::error::Result;
use crate::model::ModelOptions;
use crate::SplitModel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Tensor;

/// Default number of looks: the declared images, then twice and four times as many.
pub const LOOKS: usize = 3;
/// The most looks a check may take (each spends 1/looks of the verdict's error).
pub const MAX_LOOKS: usize = 6;
/// Default images per explain call.
pub const BATCH_SIZE: i64 = 32;

fn looks() -> usize {
    LOOKS
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
    /// Looks at the data: a verdict still inconclusive after look k < looks is decided again
    /// on twice the images (STACK-SYNTH data only; every look spends 1/looks of the verdict's
    /// error rate).
    #[arg(long, default_value_t = LOOKS)]
    #[serde(default = "looks")]
    pub looks: usize,
    /// Images per explain call.
    #[arg(long, default_value_t = BATCH_SIZE)]
    #[serde(default = "batch_size")]
    pub batch_size: i64,
    /// Refuse to run without `weights` (a suite setting, e.g. the paper's): a table from a
    /// randomly initialised architecture would look like a result.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_weights: bool,
}

/// The embedded default: builtin:stack-masked (trained by blindspot on first use) on 64
/// STACK-SYNTH images, as the default suite's wall check. A suite's check must still name its
/// `model` and `data`: flattened into a check, a subject is never filled in from this.
impl Default for Subject {
    fn default() -> Self {
        let data = DataSpec::Synthetic {
            synthetic: 64,
            seed: None,
            size: crate::data::SYNTH_SIZE,
        };
        Subject::new("builtin:stack-masked", data)
    }
}

impl Subject {
    /// A subject with the default looks and batch size.
    pub fn new(model: &str, data: DataSpec) -> Self {
        Subject {
            model: model.into(),
            weights: None,
            mask_rows: None,
            data,
            model_seed: 0,
            looks: LOOKS,
            batch_size: BATCH_SIZE,
            needs_weights: false,
        }
    }

    /// Opens the model on the context's device, walled when `mask_rows` is given, and records
    /// it (with its SHA-256) for the report.
    pub fn open(&self, ctx: &CheckContext) -> Result<Box<dyn SplitModel>> {
        self.open_other(&self.model, self.weights.clone(), ctx)
    }

    /// Refuses a batch size, a number of looks or data outside their ranges.
    pub fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::int("batch_size", self.batch_size, 1, 4096)?;
        crate::limits::count("looks", self.looks, 1, MAX_LOOKS)?;
        if let Some(rows) = &self.mask_rows {
            crate::model::wall::RowRange::parse(rows).map_err(|e| e.to_string())?;
        }
        self.data.validate()
    }

    /// The looks this subject allows: `looks` for STACK-SYNTH data, which can grow, else one.
    pub fn effective_looks(&self) -> usize {
        match self.data {
            DataSpec::Synthetic { .. } => self.looks.max(1),
            _ => 1,
        }
    }

    /// The same subject with `factor` times the STACK-SYNTH images (the first ones stay: a set
    /// of N images is a prefix of the set of 2N).
    pub fn grown(&self, factor: i64) -> Subject {
        let mut grown = self.clone();
        if let DataSpec::Synthetic { synthetic, .. } = &mut grown.data {
            *synthetic *= factor;
        }
        grown
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
        let model = crate::open::open_model(spec, ctx.device, &options)?;
        ctx.record_model(spec, model.as_ref());
        Ok(model)
    }

    /// The images, validated against `model` (shape, channels, finite values), on which the
    /// model's explained layer must reach its output
    /// (`cam::pipeline::ensure_live_layer`).
    pub fn images(&self, model: &dyn SplitModel, ctx: &CheckContext) -> Result<Tensor> {
        let x = self.data.load(&ctx.seeds)?;
        let place = self.data.describe(&ctx.seeds);
        crate::cam::pipeline::validate_input(&x, model, &place)?;
        crate::cam::pipeline::ensure_live_layer(&x, model, &place)?;
        Ok(x)
    }

    /// The model's short name for trial labels: `builtin:stack-masked` → `stack-masked`,
    /// `models/net.pt` → `net.pt`.
    pub fn model_label(&self) -> String {
        let spec = self.model.trim_start_matches("builtin:");
        spec.rsplit('/').next().unwrap_or(spec).to_string()
    }
}
