//! The command line's two jobs for another front end in the same process (the Python module):
//! one check with its parameters given as command-line words, and a suite, each on the built-in
//! methods it names plus methods the caller provides in code. Nothing is printed and nothing
//! exits the process: a usage error is an [`Error::Input`] carrying clap's message, and the
//! report comes back to the caller to print or write.
use super::check::Common;
use crate::cam::CamMethod;
use crate::check::runner::{run_one, Run};
use crate::check::suite::Suite;
use crate::check::Registry;
use crate::device::parse_device;
use crate::error::{Error, Result};
use crate::seed::Seeds;
use clap::{Args, FromArgMatches};

/// Runs the registered check `name` as `blindspot check NAME WORDS…` would (every flag of
/// `blindspot check NAME --help`, `--methods` included), adding the `provided` methods to the
/// built-in ones `--methods` names. `place` names the call in messages (`blindspot.check`).
pub fn check(
    registry: &Registry,
    name: &str,
    words: &[String],
    provided: Vec<Box<dyn CamMethod>>,
    place: &str,
) -> Result<Run> {
    let usage = |e: clap::Error| {
        // clap renders its own message with a usage line; the first paragraph says what.
        let text = e.render().to_string();
        let what = text
            .trim()
            .trim_start_matches("error: ")
            .split("\n\n")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        Error::input(
            what,
            place,
            format!(
                "see `blindspot check {name} --help` for its parameters (a keyword `x_y=` is \
                 the flag `--x-y`)"
            ),
        )
    };
    let Some(command) = registry
        .commands()
        .into_iter()
        .find(|c| c.get_name() == name)
    else {
        return Err(Error::Unknown {
            kind: "check",
            name: name.into(),
            known: registry.names().join(", "),
        });
    };
    let matches = Common::augment_args(command)
        .no_binary_name(true)
        .try_get_matches_from(words)
        .map_err(usage)?;
    let check = registry.from_matches(name, &matches).map_err(usage)?;
    let common = Common::from_arg_matches(&matches).map_err(usage)?;
    crate::process::set_keep_jobs(common.keep_jobs);
    if let Some(path) = &common.json {
        crate::io::refuse_special(path)?;
    }
    let device = parse_device(&common.device)?;
    let fwe = common.family_wise_error;
    crate::limits::family_wise_error("family_wise_error", fwe)
        .map_err(|e| Error::input(e, place, "use e.g. family_wise_error=0.01"))?;
    let mut methods = common.methods(&Seeds::new(common.seed)).map_err(|e| {
        e.downcast::<Error>()
            .unwrap_or_else(|e| Error::input(format!("{e:#}"), place, "name built-in methods"))
    })?;
    methods.extend(provided);
    crate::cam::ensure_unique_names(methods.iter().map(|m| m.name()))?;
    if methods.is_empty() && check.fixed_method().is_none() {
        return Err(Error::input(
            format!("no method to check: the {name} check got no method"),
            place,
            "give a method (a callable or a built-in method's name)",
        ));
    }
    let mut run = run_one(name, check.as_ref(), methods, fwe, device, common.seed)?;
    if common.expect_pass {
        run.report.expect_pass_by_default();
    }
    if let Some(path) = &common.json {
        run.report.write_json(path)?;
    }
    Ok(run)
}

/// What a front end may override in a suite, as `blindspot run` does.
#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// The suite's seed (every random stream of the run derives from it).
    pub seed: Option<u64>,
    /// The suite's family-wise error.
    pub family_wise_error: Option<f64>,
    /// `auto` when `None`; `cpu`, `cuda` or `cuda:N`.
    pub device: Option<String>,
    /// Every verdict without a declared expectation is expected to pass.
    pub expect_pass: bool,
}

/// Runs a shipped suite by name or a suite file, as `blindspot run --suite SUITE`, with the
/// `provided` methods beside the ones the suite names (its expectations may name them).
pub fn suite(
    registry: &Registry,
    suite: &str,
    provided: Vec<Box<dyn CamMethod>>,
    options: &SuiteOptions,
    place: &str,
) -> Result<Run> {
    let names: Vec<String> = provided.iter().map(|m| m.name().to_string()).collect();
    let mut parsed = Suite::open_providing(suite, registry, &names)?;
    if let Some(seed) = options.seed {
        parsed.seed = seed;
    }
    if let Some(fwe) = options.family_wise_error {
        crate::limits::family_wise_error("family_wise_error", fwe)
            .map_err(|e| Error::input(e, place, "use e.g. family_wise_error=0.01"))?;
        parsed.family_wise_error = fwe;
    }
    let device = parse_device(options.device.as_deref().unwrap_or("auto"))?;
    let mut run = parsed.run_providing(device, None, provided)?;
    if options.expect_pass {
        run.report.expect_pass_by_default();
    }
    Ok(run)
}
