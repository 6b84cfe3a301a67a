//! `blindspot check wall|theorem|randomization|data-randomization|class-sensitivity|SUITE.toml`.
use crate::check::class_sensitivity::ClassSensitivityCheck;
use crate::check::data_randomization::DataRandomizationCheck;
use crate::check::randomization::{Distribution, Mode, RandomizationCheck};
use crate::check::suite::{CheckSpec, MethodList, Suite};
use crate::check::theorem::{ClassChoice, TheoremCheck};
use crate::check::wall::WallCheck;
use crate::check::CheckContext;
use crate::data::folder::Preprocess;
use crate::data::DataSpec;
use crate::device::parse_device;
use crate::error::Error;
use crate::report::{table, CheckRun, Report};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Subcommand)]
pub enum Which {
    /// Wall leakage (the paper's Table 1) on a walled model.
    Wall(WallArgs),
    /// Theorem 1 Monte Carlo on the masked rCNN.
    Theorem(TheoremArgs),
    /// Cascading or independent model randomization (Adebayo et al.).
    Randomization(RandomizationArgs),
    /// True-label model vs random-label model (Adebayo et al.).
    DataRandomization(DataRandomizationArgs),
    /// Random-logit test: predicted-class map vs another class's map.
    ClassSensitivity(ClassSensitivityArgs),
    /// A suite file: `blindspot check SUITE.toml --json OUT`.
    #[command(external_subcommand)]
    Suite(Vec<String>),
}

/// Options every check takes.
#[derive(Args, Clone)]
pub struct Common {
    /// Methods: all, none, or a comma-separated list of names.
    #[arg(long, default_value = "all")]
    pub methods: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Write the JSON report here (docs/report-schema.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// An external method, NAME=COMMAND with {job} for the job file (docs/external-methods.md); repeatable.
    #[arg(long, value_name = "NAME=COMMAND")]
    pub external: Vec<String>,
    /// Seconds an external command may take per job.
    #[arg(long, default_value_t = 600.0)]
    pub external_timeout: f64,
}

impl Common {
    /// The built-in methods named by --methods, then the --external ones.
    pub fn methods(&self) -> Result<Vec<Box<dyn crate::cam::CamMethod>>> {
        let mut methods = MethodList::Named(self.methods.clone()).resolve()?;
        for text in &self.external {
            methods.push(Box::new(crate::cam::external::ExternalMethod::parse(
                text,
                self.external_timeout,
            )?));
        }
        Ok(methods)
    }
}

/// Where the images come from.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Images as float32 [N, C, H, W] .npy, normalised.
    #[arg(long, group = "images")]
    pub input: Option<PathBuf>,
    /// A folder of JPEG/PNG images.
    #[arg(long, group = "images")]
    pub data: Option<PathBuf>,
    /// N STACK-SYNTH images.
    #[arg(long, group = "images")]
    pub synthetic: Option<i64>,
    /// Folder preprocessing.
    #[arg(long, value_enum, default_value = "as-is")]
    pub preprocess: Preprocess,
    /// Folder image size.
    #[arg(long, default_value_t = 224)]
    pub size: i64,
}

impl DataArgs {
    fn spec(&self) -> Result<DataSpec> {
        match (&self.input, &self.data, self.synthetic) {
            (Some(input), None, None) => Ok(DataSpec::Npy {
                input: input.clone(),
            }),
            (None, Some(folder), None) => Ok(DataSpec::Folder {
                folder: folder.clone(),
                preprocess: self.preprocess,
                size: self.size,
            }),
            (None, None, Some(n)) => Ok(DataSpec::Synthetic {
                synthetic: n,
                seed: None,
                size: 64,
            }),
            _ => Err(Error::input(
                "no images given",
                "blindspot check",
                "pass one of --input X.npy, --data DIR or --synthetic N",
            )
            .into()),
        }
    }
}

#[derive(Args)]
pub struct WallArgs {
    /// Seed of built-in models (their initialisation, or training for builtin:stack-*).
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Feature rows to mask post hoc (inclusive), for a model without its own wall.
    #[arg(long, value_name = "FIRST..LAST")]
    pub mask_rows: Option<String>,
    /// Weights for a built-in architecture.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// The unmasked baseline model, for comparison.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Pass threshold on the upper bound of mean mu (a fraction: 0.01 = 1%).
    #[arg(long, default_value_t = 0.01)]
    pub threshold: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct TheoremArgs {
    /// Numbers of filters V.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64,256,512,1024,2048,4096"
    )]
    pub filters: Vec<i64>,
    /// A fixed number of draws per configuration (default: until the half-width is under 2%).
    #[arg(long)]
    pub draws: Option<i64>,
    #[arg(long, default_value_t = 1.0)]
    pub tau: f64,
    /// Explain the argmax class of 10 logits instead of a fixed class.
    #[arg(long)]
    pub argmax: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct RandomizationArgs {
    /// Seed of built-in models (their initialisation, or training for builtin:stack-*).
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "cascading")]
    pub mode: Mode,
    #[arg(long, value_enum, default_value = "gaussian")]
    pub distribution: Distribution,
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct DataRandomizationArgs {
    /// Seed of built-in models (their initialisation, or training for builtin:stack-*).
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    #[arg(long, default_value = "builtin:stack-masked")]
    pub model: String,
    #[arg(long, default_value = "builtin:stack-randlabels")]
    pub random_labels_model: String,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct ClassSensitivityArgs {
    /// Seed of built-in models (their initialisation, or training for builtin:stack-*).
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Parser)]
#[command(name = "blindspot check SUITE.toml")]
struct SuiteArgs {
    suite: PathBuf,
    #[arg(long)]
    json: Option<PathBuf>,
    /// Overrides the suite's seed.
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Runs one declared check and prints/writes its report.
fn run_one(spec: CheckSpec, common: &Common) -> Result<()> {
    let device = parse_device(&common.device)?;
    let methods = common.methods()?;
    let check = spec.as_check();
    let ctx = CheckContext {
        device,
        seed: common.seed,
    };
    let mut report = Report::new(check.name().into(), common.seed, device);
    report.results = check
        .run(&methods, &ctx)
        .with_context(|| format!("running the {} check", check.name()))?;
    report.checks.push(CheckRun {
        check: check.name().into(),
        params: check.params(),
        index: 0,
        results: report.results.len(),
    });
    finish(&report, &common.json)
}

pub fn finish(report: &Report, json: &Option<PathBuf>) -> Result<()> {
    print!("{}", table::render(report));
    if let Some(path) = json {
        report
            .write_json(path)
            .with_context(|| format!("writing --json {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(())
}

pub fn run(args: CheckArgs) -> Result<()> {
    match args.which {
        Which::Wall(a) => {
            let spec = WallCheck {
                model: a.model,
                mask_rows: a.mask_rows,
                weights: a.weights,
                baseline: a.baseline,
                baseline_weights: None,
                data: a.data.spec()?,
                threshold: a.threshold,
                level: 0.95,
                batch_size: 32,
                model_seed: a.model_seed,
            };
            run_one(CheckSpec::Wall(spec), &a.common)
        }
        Which::Theorem(a) => {
            let mut spec = TheoremCheck {
                filters: a.filters,
                tau: a.tau,
                class: if a.argmax {
                    ClassChoice::Argmax
                } else {
                    ClassChoice::Fixed
                },
                ..TheoremCheck::default()
            };
            if let Some(d) = a.draws {
                spec.min_draws = d;
                spec.max_draws = d;
            }
            run_one(CheckSpec::Theorem(spec), &a.common)
        }
        Which::Randomization(a) => {
            let spec = RandomizationCheck {
                model: a.model,
                weights: None,
                mask_rows: None,
                data: a.data.spec()?,
                mode: a.mode,
                distribution: a.distribution,
                threshold: a.threshold,
                level: 0.95,
                batch_size: 32,
                model_seed: a.model_seed,
            };
            run_one(CheckSpec::Randomization(spec), &a.common)
        }
        Which::DataRandomization(a) => {
            let spec = DataRandomizationCheck {
                model: a.model,
                random_labels_model: a.random_labels_model,
                data: a.data.spec()?,
                threshold: a.threshold,
                level: 0.95,
                batch_size: 32,
                model_seed: a.model_seed,
            };
            run_one(CheckSpec::DataRandomization(spec), &a.common)
        }
        Which::ClassSensitivity(a) => {
            let spec = ClassSensitivityCheck {
                model: a.model,
                data: a.data.spec()?,
                threshold: a.threshold,
                level: 0.95,
                batch_size: 32,
                model_seed: a.model_seed,
            };
            run_one(CheckSpec::ClassSensitivity(spec), &a.common)
        }
        Which::Suite(words) => {
            let args = SuiteArgs::try_parse_from(
                std::iter::once("blindspot check".to_string()).chain(words),
            )
            .map_err(|e| {
                Error::input(
                    e.to_string()
                        .lines()
                        .next()
                        .unwrap_or("bad arguments")
                        .to_string(),
                    "blindspot check SUITE.toml",
                    "usage: blindspot check SUITE.toml [--json OUT] [--seed S] [--device D]",
                )
            })?;
            let mut suite = Suite::load(&args.suite)?;
            if let Some(seed) = args.seed {
                suite.seed = seed;
            }
            let device = parse_device(&args.device)?;
            let report = suite
                .run(device, None)
                .with_context(|| format!("running the suite {}", args.suite.display()))?;
            finish(&report, &args.json)
        }
    }
}
