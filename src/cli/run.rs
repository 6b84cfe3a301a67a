//! `blindspot run`: the main job. Runs a suite (the default one: STACK-SYNTH, the models
//! blindspot trains itself, every built-in method, wall leakage, Theorem 1 and randomization),
//! prints the verdict table and writes the report to an output folder.
use crate::check::suite::{CheckSpec, Suite};
use crate::data::folder::Preprocess;
use crate::data::DataSpec;
use crate::device::{device_name, parse_device};
use crate::error::Error;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct RunArgs {
    /// A suite shipped in checks/ (default, theorem, paper) or a suite file.
    #[arg(long, default_value = "default")]
    pub suite: String,
    /// Output folder (default: out/SUITE).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Image folder for every check that reads images (the paper suite needs it).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Preprocessing of --data images.
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    /// Weights (safetensors) for the wall check's built-in model (the paper suite needs them).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Overrides the suite's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Applies --data / --preprocess / --weights to a suite.
fn override_inputs(suite: &mut Suite, args: &RunArgs) {
    for entry in &mut suite.checks {
        let data = match &mut entry.spec {
            CheckSpec::Wall(c) => {
                if args.weights.is_some() {
                    c.weights = args.weights.clone();
                }
                Some(&mut c.data)
            }
            CheckSpec::Randomization(c) => Some(&mut c.data),
            CheckSpec::DataRandomization(c) => Some(&mut c.data),
            CheckSpec::ClassSensitivity(c) => Some(&mut c.data),
            CheckSpec::Theorem(_) => None,
        };
        if let (Some(data), Some(folder)) = (data, &args.data) {
            let (preprocess, size) = match data {
                DataSpec::Folder { preprocess, size, .. } => (args.preprocess.unwrap_or(*preprocess), *size),
                _ => (args.preprocess.unwrap_or(Preprocess::AsIs), 224),
            };
            *data = DataSpec::Folder { folder: folder.clone(), preprocess, size };
        }
    }
}

/// Refuses a suite whose image folders do not exist, before any work starts.
fn check_inputs(suite: &Suite) -> Result<()> {
    for entry in &suite.checks {
        let data = match &entry.spec {
            CheckSpec::Wall(c) => Some(&c.data),
            CheckSpec::Randomization(c) => Some(&c.data),
            CheckSpec::DataRandomization(c) => Some(&c.data),
            CheckSpec::ClassSensitivity(c) => Some(&c.data),
            CheckSpec::Theorem(_) => None,
        };
        if let Some(DataSpec::Folder { folder, .. }) = data {
            if !folder.is_dir() {
                return Err(Error::input(
                    format!("the image folder {} does not exist", folder.display()),
                    format!("suite {}", suite.name),
                    "pass --data DIR with your STACK-MIX / STACK-GEN images (see checks/paper.toml)",
                )
                .into());
            }
        }
    }
    Ok(())
}

pub fn run(args: RunArgs) -> Result<()> {
    let start = Instant::now();
    let device = parse_device(&args.device)?;
    let mut suite = Suite::named(&args.suite)?;
    if let Some(seed) = args.seed {
        suite.seed = seed;
    }
    override_inputs(&mut suite, &args);
    check_inputs(&suite)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&suite.name));
    eprintln!("blindspot run: suite `{}` ({}), seed {}, device {}", suite.name, suite.description, suite.seed, device_name(device));
    let report = suite.run(device, None).with_context(|| format!("running the suite `{}`", suite.name))?;
    print!("{}", crate::report::table::render(&report));
    let json = out.join("report.json");
    report.write_json(&json).with_context(|| format!("writing {}", json.display()))?;
    println!("\nreport: {}  ({:.0}s)", out.display(), start.elapsed().as_secs_f64());
    Ok(())
}
