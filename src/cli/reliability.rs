//! `blindspot reliability`: a suite under K seeds, and how often each verdict agrees
//! ([`crate::check::reliability`]).
use crate::check::reliability::Reliability;
use crate::check::suite::Suite;
use crate::device::{device_name, parse_device};
use crate::error::Error;
use crate::report::escape::{json, printable};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// The most seeds one reliability run takes.
const MAX_SEEDS: usize = 100;

#[derive(Args)]
pub struct ReliabilityArgs {
    /// A suite shipped in checks/ (default, theorem, paper, property) or a suite file.
    #[arg(long, default_value = "default")]
    pub suite: String,
    /// How many seeds to run the suite under (K ≥ 2).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// The first seed (then first + 1, …); default: the suite's own seed.
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Output folder for reliability.json and reliability.md (default: out/reliability-SUITE).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs the suite under every seed; true when every verdict was the same under all of them.
pub fn run(args: ReliabilityArgs) -> Result<bool> {
    let start = Instant::now();
    crate::limits::count("--seeds", args.seeds, 2, MAX_SEEDS)
        .map_err(|e| Error::input(e, "blindspot reliability", "use e.g. --seeds 5"))?;
    let device = parse_device(&args.device)?;
    let mut suite = Suite::open(&args.suite, &crate::check::Registry::builtin())?;
    let first = args.first_seed.unwrap_or(suite.seed);
    let seeds: Vec<u64> = (0..args.seeds as u64)
        .map(|k| {
            first.checked_add(k).ok_or_else(|| {
                Error::input(
                    format!(
                        "--first-seed {first} + {} overflows a 64-bit seed",
                        args.seeds - 1
                    ),
                    "blindspot reliability",
                    "use a smaller --first-seed",
                )
            })
        })
        .collect::<std::result::Result<_, _>>()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("reliability-{}", suite.name)));
    let staged = crate::io::StagedDir::begin(&out)
        .with_context(|| format!("preparing the output folder {}", out.display()))?;
    let mut reports = Vec::new();
    for (k, &seed) in seeds.iter().enumerate() {
        crate::io::note!(
            "blindspot reliability: suite `{}`, seed {seed} ({} of {}), device {}",
            suite.name,
            k + 1,
            seeds.len(),
            device_name(device)
        );
        suite.seed = seed;
        let run = suite
            .run(device, None)
            .with_context(|| format!("running the suite `{}` under seed {seed}", suite.name))?;
        reports.push(run.report);
    }
    let reliability = Reliability::of(&suite.name, &reports);
    let table = crate::report::reliability::markdown(&reliability);
    let text = serde_json::to_string_pretty(&reliability).context("encoding reliability.json")?;
    crate::io::write_atomic(
        &staged.path().join("reliability.json"),
        json(&text).as_bytes(),
    )?;
    crate::io::write_atomic(&staged.path().join("reliability.md"), table.as_bytes())?;
    staged
        .commit()
        .with_context(|| format!("writing the reliability table to {}", out.display()))?;
    print!("{}", printable(&table));
    println!(
        "\nwrote reliability.json and reliability.md to {}  ({:.0}s)",
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(reliability.unanimous())
}
