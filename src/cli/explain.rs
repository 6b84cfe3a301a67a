//! `blindspot explain`: one method, one model, one batch of images → maps .npy.
use crate::cam::{explain_batched, method_named, pipeline::validate_input};
use crate::error::Error;
use crate::io::npy::{self, DType};
use crate::seed::Seeds;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Images, float32 [N, C, H, W], already normalised.
    #[arg(long)]
    pub input: PathBuf,
    /// The method's command-line name (see `blindspot methods`).
    #[arg(long)]
    pub method: String,
    /// One target class per image, int64 [N]; default: the argmax class.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Where to write the maps, float32 [N, H, W] in [0, 1].
    #[arg(long)]
    pub out: PathBuf,
    /// Images per forward/backward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: i64,
    /// Run seed of random methods (RandomCAM's stream `method/randomcam`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Reads an `.npy` array given by `flag`, whose element type must be one of `expected`.
fn read_array(path: &Path, flag: &str, expected: &[DType], want: &str) -> Result<Tensor> {
    npy::read_as(path, flag, expected, want)
        .with_context(|| format!("reading {flag} {}", path.display()))
}

pub fn run(args: ExplainArgs) -> Result<()> {
    crate::limits::int("--batch-size", args.batch_size, 1, 4096)
        .map_err(|e| Error::input(e, "blindspot explain", "e.g. --batch-size 64"))?;
    crate::io::refuse_special(&args.out)?;
    let method = method_named(&args.method, &Seeds::new(args.seed))?;
    let model = args.model.open()?;
    let x = read_array(
        &args.input,
        "--input",
        &[DType::F32],
        "float32 [N, C, H, W]",
    )?;
    validate_input(
        &x,
        model.as_ref(),
        &format!("--input {}", args.input.display()),
    )?;
    let targets = match &args.targets {
        Some(path) => {
            let t = read_array(path, "--targets", &[DType::I64, DType::I32], "int64 [N]")?;
            if t.dim() != 1 {
                return Err(Error::input(
                    format!(
                        "--targets {} has shape {:?}; expected [N]",
                        path.display(),
                        t.size()
                    ),
                    path.display().to_string(),
                    "save one class index per image as a 1-D int64 array",
                )
                .into());
            }
            Some(t.to_kind(Kind::Int64))
        }
        None => None,
    };
    let explanation = explain_batched(
        method.as_ref(),
        model.as_ref(),
        &x,
        targets.as_ref(),
        args.batch_size,
    )
    .with_context(|| {
        format!(
            "explaining {} with {}",
            args.input.display(),
            method.title()
        )
    })?;
    npy::write(&args.out, &explanation.maps)
        .with_context(|| format!("writing --out {}", args.out.display()))?;
    eprintln!(
        "{}: {} map(s) of {}x{} written to {}",
        method.title(),
        explanation.maps.size()[0],
        explanation.maps.size()[1],
        explanation.maps.size()[2],
        args.out.display()
    );
    Ok(())
}
