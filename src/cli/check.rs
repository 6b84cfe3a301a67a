//! `blindspot check NAME [ARGS]`: one registered check, its parameters parsed by clap from the
//! check's own struct (so every suite parameter is a flag), plus the options every run takes.
//! A suite file runs with `blindspot run --suite FILE`.
use crate::cam::external::ExternalMethod;
use crate::check::request::{Request, EXTERNAL_TIMEOUT};
use crate::check::{DynCheck, Registry, Report, FAMILY_WISE_ERROR};
use crate::device::parse_device;
use crate::error::Error;
use crate::report::table;
use crate::seed::Seeds;
use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};
use std::path::PathBuf;

/// The one default error rate ([`crate::check::FAMILY_WISE_ERROR`]) as clap's default text.
static DEFAULT_ALPHA: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::check::FAMILY_WISE_ERROR.to_string());

// Options every check takes besides its own. (A plain comment: a doc comment here would become
// the `about` of every check's subcommand when `augment_args` adds these options.)
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
    #[arg(long, default_value_t = EXTERNAL_TIMEOUT)]
    pub external_timeout: f64,
    /// Expect every verdict to pass: exit 1 otherwise (a CI gate).
    #[arg(long)]
    pub expect_pass: bool,
    /// Keep external methods' job folders (for debugging an adapter).
    #[arg(long)]
    pub keep_jobs: bool,
}

impl Common {
    /// The request these options make for `check`: the built-in methods --methods names (`all`,
    /// `none` or a list), the --external ones, the seed, error rate and device.
    pub fn request(&self, check: Box<dyn DynCheck>, place: &str) -> Request {
        Request::check(check, place)
            .named_by_flags()
            .with_method_list(self.methods.clone())
            .with_external(self.external.clone(), self.external_timeout)
            .with_seed(Some(self.seed))
            .with_family_wise_error(Some(self.family_wise_error))
            .with_device(Some(self.device.clone()))
            .with_expect_pass(self.expect_pass)
            .with_keep_jobs(self.keep_jobs)
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

/// The `prop` subcommand: the property checks by their short names (`wall`, `theorem`,
/// `positivity`), and `replay`.
pub fn prop_command(registry: &Registry) -> clap::Command {
    let properties = registry
        .names()
        .into_iter()
        .zip(registry.commands())
        .filter(|(name, _)| name.starts_with("prop-"))
        .map(|(name, c)| Common::augment_args(c.name(name.trim_start_matches("prop-"))));
    let replay = clap::Command::new("replay")
        .about("Replay one case from its string and print the property's value")
        .arg(
            clap::Arg::new("case")
                .required(true)
                .help("prop:PROPERTY:seed=S:case=I[:arch=…]"),
        )
        .arg(
            clap::Arg::new("method")
                .long("method")
                .default_value("gradcam")
                .help("a built-in method"),
        )
        .arg(
            clap::Arg::new("external")
                .long("external")
                .value_name("NAME=COMMAND")
                .conflicts_with("method")
                .help("an external method instead (as in `blindspot check --external`)"),
        )
        .arg(
            clap::Arg::new("device")
                .long("device")
                .default_value("auto"),
        )
        .arg(
            clap::Arg::new("tau")
                .long("tau")
                .value_parser(clap::value_parser!(f64))
                .default_value("1")
                .help("τ of a case drawn without arch= (the run's --tau)"),
        )
        .arg(
            clap::Arg::new("alpha")
                .long("alpha")
                .value_parser(clap::value_parser!(f64))
                .default_value(DEFAULT_ALPHA.as_str())
                .help("error rate of a sampled property's decision (theorem, positivity)"),
        );
    clap::Command::new("prop")
        .about("Property-based verification on random models, with shrunk counterexamples")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands(properties)
        .subcommand(replay)
}

/// Runs `blindspot prop PROPERTY` (the check `prop-PROPERTY`) or `blindspot prop replay`.
pub fn run_prop(registry: &Registry, matches: &clap::ArgMatches) -> Result<bool> {
    match matches.subcommand() {
        Some(("replay", sub)) => replay(sub),
        Some((name, sub)) => run_named(registry, &format!("prop-{name}"), sub),
        None => anyhow::bail!("no property named; see `blindspot prop --help`"),
    }
}

/// `blindspot prop replay CASE --method M`: the property's value on one case, exactly as the run
/// computed it ([`crate::check::property::replay`]). True unless the property fails there.
fn replay(sub: &clap::ArgMatches) -> Result<bool> {
    use crate::cam::CamMethod;
    use crate::check::property::{replay, CaseId};
    use std::rc::Rc;
    let text = sub.get_one::<String>("case").expect("required");
    let case = CaseId::parse(text)?;
    let device = parse_device(sub.get_one::<String>("device").expect("default"))?;
    let tau = *sub.get_one::<f64>("tau").expect("default");
    let alpha = *sub.get_one::<f64>("alpha").expect("default");
    // The ranges the property runs take (docs/cli.md): below them float32 underflows.
    let ranges = crate::limits::real("--tau", tau, 1e-3, 1e3, false)
        .and_then(|_| crate::limits::real("--alpha", alpha, 1e-15, 0.5, false));
    if let Err(e) = ranges {
        anyhow::bail!(Error::input(
            e,
            "blindspot prop replay",
            "give --alpha in [1e-15, 0.5] (a run's per-verdict error) and --tau in [0.001, \
             1000], as the property runs take"
        ));
    }
    // Built for a prop-wall case only: the others are about GradCAM.
    let method = || -> crate::error::Result<Rc<dyn CamMethod>> {
        Ok(match sub.get_one::<String>("external") {
            Some(spec) => Rc::new(ExternalMethod::parse(spec, EXTERNAL_TIMEOUT)?),
            None => {
                let name = sub.get_one::<String>("method").expect("default");
                crate::cam::method_named(name, &Seeds::new(case.seed))?.into()
            }
        })
    };
    println!("case {}", case.encode());
    let replayed = replay::replay(&case, text, &method, tau, alpha, device)?;
    for line in &replayed.lines {
        println!("{line}");
    }
    Ok(replayed.holds)
}

/// Runs the check `matches` names; true when every verdict is as expected.
pub fn run(registry: &Registry, matches: &clap::ArgMatches) -> Result<bool> {
    let Some((name, sub)) = matches.subcommand() else {
        anyhow::bail!("no check named; see `blindspot check --help`");
    };
    run_named(registry, name, sub)
}

/// Runs the registered check `name` parsed from `sub`.
fn run_named(registry: &Registry, name: &str, sub: &clap::ArgMatches) -> Result<bool> {
    let check = registry
        .from_matches(name, sub)
        .unwrap_or_else(|e| e.exit());
    let common = Common::from_arg_matches(sub).unwrap_or_else(|e| e.exit());
    if let Some(path) = &common.json {
        crate::io::refuse_special(path)?;
    }
    let run = common
        .request(check, &format!("blindspot check {name}"))
        .run()
        .with_context(|| format!("running the {name} check"))?;
    finish(&run.report, &common.json)?;
    Ok(super::run::report_expectations(&run.report))
}

/// Writes the JSON report when asked, then prints the table (an unwritable standard output must
/// not lose the report).
pub fn finish(report: &Report, json: &Option<PathBuf>) -> Result<()> {
    if let Some(path) = json {
        report
            .write_json(path)
            .with_context(|| format!("writing --json {}", path.display()))?;
    }
    print!(
        "{}",
        crate::report::escape::printable(&table::render(report))
    );
    if let Some(path) = json {
        println!("report: {}", path.display());
    }
    Ok(())
}
