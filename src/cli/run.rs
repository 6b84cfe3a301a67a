//! `blindspot run`: the main job. Runs a suite (the default one: STACK-SYNTH, the models
//! blindspot trains itself, every built-in method, wall leakage, Theorem 1 and randomization),
//! prints the verdict table and writes the report to an output folder.
use crate::check::suite::Suite;
use crate::check::Check;
use crate::data::folder::Preprocess;
use crate::data::{DataSpec, FOLDER_SIZE};
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
    /// Overrides the suite's seed (every random stream of the run derives from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a deterministic K-th of the suite's checks (K/N, 1-based), for CI matrices and job
    /// arrays; `blindspot merge` combines the shard reports.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

/// Parses `K/N` with 1 <= K <= N.
pub fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        let fix = "write K/N with 1 <= K <= N, e.g. --shard 2/3";
        Error::input(format!("`{text}` is not a shard"), "--shard", fix)
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let number = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
    let (k, n) = (number(k)?, number(n)?);
    if k == 0 || n == 0 || k > n {
        return Err(bad().into());
    }
    Ok((k, n))
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' report.json files.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Output folder for the merged report (report.json, report.md, junit.xml, badges/, figures/).
    #[arg(long)]
    pub out: PathBuf,
}

/// `blindspot merge`: shard reports back into the report one machine would have written.
pub fn merge(args: MergeArgs) -> Result<()> {
    let mut shards = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let report: crate::report::Report = serde_json::from_str(&text).map_err(|e| {
            Error::input(
                format!("{} is not a blindspot report: {e}", path.display()),
                path.display().to_string(),
                "pass report.json files written by `blindspot run --shard`",
            )
        })?;
        shards.push(report);
    }
    let merged = crate::report::Report::merge(shards)?;
    crate::report::write_dir(&merged, &args.out)?;
    crate::report::figures::report_figures(&merged, &args.out)?;
    print!("{}", crate::report::table::render(&merged));
    println!(
        "merged {} shard reports into {}",
        args.reports.len(),
        args.out.display()
    );
    Ok(())
}

/// Applies --data / --preprocess / --weights to every image check of a suite.
fn override_inputs(suite: &mut Suite, args: &RunArgs) {
    for entry in &mut suite.checks {
        let wall = entry.check.name() == crate::check::wall::WallCheck::NAME;
        let Some(subject) = entry.check.subject_mut() else {
            continue;
        };
        if wall && args.weights.is_some() {
            subject.weights = args.weights.clone();
        }
        if let Some(folder) = &args.data {
            let (preprocess, size) = match &subject.data {
                DataSpec::Folder {
                    preprocess, size, ..
                } => (args.preprocess.unwrap_or(*preprocess), *size),
                _ => (args.preprocess.unwrap_or(Preprocess::AsIs), FOLDER_SIZE),
            };
            subject.data = DataSpec::Folder {
                folder: folder.clone(),
                preprocess,
                size,
            };
        }
    }
}

/// Refuses a suite whose image folders do not exist, before any work starts.
fn check_inputs(suite: &Suite) -> Result<()> {
    for entry in &suite.checks {
        let data = entry.check.subject().map(|s| &s.data);
        if let Some(DataSpec::Folder { folder, .. }) = data {
            if !folder.is_dir() {
                return Err(Error::input(
                    format!("the image folder {} does not exist", folder.display()),
                    format!("suite {}", suite.name),
                    "pass --data DIR with your STACK-MIX / STACK-GEN images \
                     (see checks/paper.toml)",
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
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let out = args.out.clone().unwrap_or_else(|| match shard {
        Some((k, n)) => PathBuf::from("out").join(format!("{}-shard-{k}-of-{n}", suite.name)),
        None => PathBuf::from("out").join(&suite.name),
    });
    eprintln!(
        "blindspot run: suite `{}` ({}), seed {}, device {}",
        suite.name,
        suite.description,
        suite.seed,
        device_name(device)
    );
    let run = suite
        .run(device, shard)
        .with_context(|| format!("running the suite `{}`", suite.name))?;
    let report = &run.report;
    print!("{}", crate::report::table::render(report));
    let mut files = crate::report::write_dir(report, &out)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    files.extend(crate::report::figures::report_figures(report, &out)?);
    if let Some(gallery) = run.galleries.first() {
        let path = out.join("figures/figure1.png");
        crate::report::figures::figure1(gallery, &path)?;
        files.push(path);
    }
    println!(
        "\nwrote {} files: report.json, report.md, junit.xml, badges/, figures/",
        files.len()
    );
    println!(
        "\nreport: {}  ({:.0}s)",
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
