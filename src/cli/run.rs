//! `blindspot run`: the main job. Runs a suite (the default one: STACK-SYNTH, the models
//! blindspot trains itself, every built-in method, wall leakage, Theorem 1 and randomization),
//! prints the verdict table and writes the report to an output folder.
use crate::check::shard::{shard_of, ShardSource};
use crate::check::request::Request;
use crate::check::suite::Suite;
use crate::data::folder::Preprocess;
use crate::device::{device_name, parse_device};
use crate::error::Error;
use crate::report::escape::printable;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct RunArgs {
    /// A suite shipped in checks/ (default, theorem, paper, property) or a suite file.
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
    /// Weights (safetensors) for every check that declares `needs_weights` (the paper suite's
    /// wall check; a suite with none refuses them).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Overrides the suite's seed (every random stream of the run derives from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a deterministic K-th of the suite's checks (K/N, 1-based), for CI matrices and job
    /// arrays; `blindspot merge` combines the shard reports. Without it the shard comes from a
    /// Slurm job array (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX with --shards or BLINDSPOT_SHARDS); this flag overrides both.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// The number of shards for a Kubernetes Indexed Job (its completions), whose pods know only
    /// their index; also BLINDSPOT_SHARDS.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Overrides the suite's family-wise error (the chance of any wrong pass or fail).
    #[arg(long)]
    pub family_wise_error: Option<f64>,
    /// Expect every verdict the suite declares no expectation for to pass (exit 1 otherwise).
    #[arg(long)]
    pub expect_pass: bool,
    /// Keep external methods' job folders (for debugging an adapter).
    #[arg(long)]
    pub keep_jobs: bool,
}

/// Prints the last line of a run: every verdict as expected, or which were not; true when all
/// were.
pub fn report_expectations(report: &crate::check::Report) -> bool {
    let unexpected = report.unexpected();
    if !unexpected.is_empty() {
        println!("\nunexpected verdicts (exit code 1):");
        for r in &unexpected {
            println!("  {}", printable(&r.expectation_line()));
        }
    }
    println!("\n{}", printable(&report.expectation_summary()));
    unexpected.is_empty()
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' report.json files.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Output folder for the merged report (report.json, report.md, junit.xml, badges/, figures/).
    #[arg(long)]
    pub out: PathBuf,
    /// Merge even when shards are missing; the report is then marked partial.
    #[arg(long)]
    pub allow_partial: bool,
}

/// Reads a shard's report, naming a schema it does not speak.
fn read_report(path: &std::path::Path) -> Result<crate::report::Report> {
    let text = crate::io::read_text(path, "the report", crate::io::REPORT_LIMIT)?;
    let place = path.display().to_string();
    let not_report = |e: String| {
        Error::input(
            format!("{} is not a blindspot report: {e}", path.display()),
            &place,
            "pass report.json files written by `blindspot run --shard`",
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_report(e.to_string()))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("no schema");
    if schema != crate::report::SCHEMA {
        return Err(Error::input(
            format!(
                "{} has schema `{schema}`; this blindspot reads `{}`",
                path.display(),
                crate::report::SCHEMA
            ),
            &place,
            "merge reports written by the same blindspot version (rerun the shards)",
        )
        .into());
    }
    Ok(serde_json::from_value(value).map_err(|e| not_report(e.to_string()))?)
}

/// `blindspot merge`: shard reports back into the report one machine would have written.
pub fn merge(args: MergeArgs) -> Result<bool> {
    let staged = crate::io::StagedDir::begin(&args.out)?;
    let shards = args
        .reports
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let registry = crate::check::Registry::builtin();
    let merged = crate::check::merge::merge(shards, args.allow_partial, &registry)?;
    crate::report::write_report(&merged, None, staged.path())?;
    staged.commit()?;
    print!("{}", printable(&crate::report::table::render(&merged)));
    if let Some(partial) = &merged.partial {
        println!("PARTIAL report: {partial}");
    }
    println!(
        "merged {} shard reports into {}",
        args.reports.len(),
        args.out.display()
    );
    Ok(report_expectations(&merged))
}

pub fn run(args: RunArgs) -> Result<bool> {
    let start = Instant::now();
    let device = parse_device(&args.device)?;
    let mut suite = Suite::open(&args.suite, &crate::check::Registry::builtin())?;
    suite.override_inputs(
        args.data.as_deref(),
        args.preprocess,
        args.weights.as_deref(),
    )?;
    let found = shard_of(args.shard.as_deref(), args.shards, |name| {
        std::env::var(name).ok()
    })?;
    let shard = found.map(|(shard, _)| shard);
    if let Some(((k, n), source)) = found.filter(|(_, s)| *s != ShardSource::Flag) {
        let from = match source {
            ShardSource::Slurm => "the Slurm job array (SLURM_ARRAY_TASK_ID)",
            _ => "the Kubernetes Indexed Job (JOB_COMPLETION_INDEX)",
        };
        crate::io::note!("blindspot run: shard {k}/{n}, from {from}; --shard overrides it");
    }
    let out = args.out.clone().unwrap_or_else(|| match shard {
        Some((k, n)) => PathBuf::from("out").join(format!("{}-shard-{k}-of-{n}", suite.name)),
        None => PathBuf::from("out").join(&suite.name),
    });
    // The output folder is staged (and so proved writable) before any work.
    let staged = crate::io::StagedDir::begin(&out)
        .with_context(|| format!("preparing the output folder {}", out.display()))?;
    crate::io::note!(
        "blindspot run: suite `{}` ({}), seed {}, device {}",
        suite.name,
        suite.description,
        args.seed.unwrap_or(suite.seed),
        device_name(device)
    );
    let name = suite.name.clone();
    let run = Request::suite(suite, "blindspot run")
        .named_by_flags()
        .with_seed(args.seed)
        .with_family_wise_error(args.family_wise_error)
        .with_device(Some(args.device.clone()))
        .with_expect_pass(args.expect_pass)
        .with_keep_jobs(args.keep_jobs)
        .with_shard(shard)
        .run()
        .with_context(|| format!("running the suite `{name}`"))?;
    let report = &run.report;
    // The report first: a standard output that cannot be written (a full disk, a closed pipe)
    // must not lose the work.
    let dir = staged.path().to_path_buf();
    let files = crate::report::write_report(report, run.galleries.first(), &dir)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    staged
        .commit()
        .with_context(|| format!("writing the report to {}", out.display()))?;
    print!("{}", printable(&crate::report::table::render(report)));
    for e in &report.evidence {
        println!(
            "evidence: {} of the {} work units of check {} ({}); `blindspot merge` completes the \
             check",
            e.records.len(),
            e.units,
            e.index,
            e.check
        );
    }
    print!(
        "\n{}",
        printable(&crate::report::table::slowest(&report.timing))
    );
    println!(
        "\nwrote {} files: report.html, report.json, report.md, junit.xml, badges/, figures/",
        files.len()
    );
    println!(
        "\nreport: {}  ({:.0}s)",
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(report_expectations(report))
}
