//! `blindspot check NAME [ARGS]`: one registered check, its parameters parsed by clap from the
//! check's own struct (so every suite parameter is a flag), plus the options every run takes.
//! A suite file runs with `blindspot run --suite FILE`.
use crate::cam::external::ExternalMethod;
use crate::check::runner::{family_size, run_checks};
use crate::check::suite::MethodList;
use crate::check::{CheckContext, ErrorControl, Registry, Report, FAMILY_WISE_ERROR};
use crate::device::parse_device;
use crate::error::Error;
use crate::report::table;
use crate::seed::Seeds;
use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};
use std::path::PathBuf;

/// Options every check takes besides its own.
#[derive(Args, Clone)]
pub struct Common {
    /// Methods: all, none, or a comma-separated list of names.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Seed of the run's random streams (images, draws, RandomCAM; docs/architecture.md).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Chance of one or more wrong passes or fails among the run's verdicts (Bonferroni).
    #[arg(long, default_value_t = FAMILY_WISE_ERROR)]
    pub family_wise_error: f64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Write the JSON report here (docs/report-schema.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// An external method, NAME=COMMAND with {job} for the job file
    /// (docs/external-methods.md); repeatable.
    #[arg(long, value_name = "NAME=COMMAND")]
    pub external: Vec<String>,
    /// Seconds an external command may take per job.
    #[arg(long, default_value_t = 600.0)]
    pub external_timeout: f64,
    /// Expect every verdict to pass: exit 1 otherwise (a CI gate).
    #[arg(long)]
    pub expect_pass: bool,
    /// Keep external methods' job folders (for debugging an adapter).
    #[arg(long)]
    pub keep_jobs: bool,
}

impl Common {
    /// The built-in methods named by --methods, then the --external ones.
    pub fn methods(&self, seeds: &Seeds) -> Result<Vec<Box<dyn crate::cam::CamMethod>>> {
        let mut methods = MethodList::Named(self.methods.clone()).resolve(seeds)?;
        for text in &self.external {
            methods.push(Box::new(ExternalMethod::parse(
                text,
                self.external_timeout,
            )?));
        }
        Ok(methods)
    }
}

/// The `check` subcommand: one subcommand per registered check.
pub fn command(registry: &Registry) -> clap::Command {
    clap::Command::new("check")
        .about("Run one sanity check (wall, theorem, randomization, …) and print its verdicts")
        .after_help("A suite file of several checks runs with `blindspot run --suite FILE`.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands(registry.commands().into_iter().map(Common::augment_args))
}

/// Runs the check `matches` names; true when every verdict is as expected.
pub fn run(registry: &Registry, matches: &clap::ArgMatches) -> Result<bool> {
    let Some((name, sub)) = matches.subcommand() else {
        anyhow::bail!("no check named; see `blindspot check --help`");
    };
    let check = registry
        .from_matches(name, sub)
        .unwrap_or_else(|e| e.exit());
    let common = Common::from_arg_matches(sub).unwrap_or_else(|e| e.exit());
    crate::process::set_keep_jobs(common.keep_jobs);
    let device = parse_device(&common.device)?;
    let fwe = common.family_wise_error;
    if !(fwe > 0.0 && fwe < 1.0) {
        anyhow::bail!(Error::input(
            format!("--family-wise-error {fwe} is not a probability strictly between 0 and 1"),
            "blindspot check",
            "use e.g. --family-wise-error 0.01"
        ));
    }
    if let Some(path) = &common.json {
        crate::io::refuse_special(path)?;
    }
    let methods = common.methods(&Seeds::new(common.seed))?;
    let control = ErrorControl::bonferroni(fwe, family_size(&[check.as_ref()], &methods));
    let ctx = CheckContext::controlled(device, common.seed, control);
    let run = run_checks(name, &[(0, check.as_ref())], methods, &ctx)
        .with_context(|| format!("running the {name} check"))?;
    finish(&run.report, &common.json)?;
    Ok(super::run::report_expectations(
        &run.report,
        common.expect_pass,
    ))
}

/// Prints the table and writes the JSON report when asked.
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
