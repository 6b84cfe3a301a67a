//! One way to run: a typed [`Request`] — a check or a suite, the methods (built-in, external, and
//! methods given in code: Rust or Python), the seed, the error rate, the device, a shard —
//! validated once and run by [`Request::run`], which returns the [`Run`]. The command line, the
//! cargo-test harness and the Python module are front ends that build requests; none parses
//! another's words.
use super::registry::DynCheck;
use super::runner::{run_one, Run};
use super::suite::{MethodList, Suite};
use crate::cam::external::ExternalMethod;
use crate::cam::CamMethod;
use crate::error::{Error, Result};
use crate::progress::Observer;
use crate::seed::Seeds;
use std::sync::Arc;

/// What a request runs.
#[derive(Debug)]
pub enum Target {
    /// One check, parsed by its front end ([`super::Registry::check_from_parameters`] from values,
    /// clap from the command line).
    Check(Box<dyn DynCheck>),
    /// A suite ([`Suite::open`], [`Suite::parse`]), with the overrides already applied
    /// ([`Suite::override_inputs`]).
    Suite(Box<Suite>),
}

/// A run to make. Build it with [`Request::check`] or [`Request::suite`] and the `with_…`
/// setters; [`Request::run`] validates every field before any work.
pub struct Request {
    target: Target,
    builtin: Option<String>,
    provided: Vec<Box<dyn CamMethod>>,
    external: Vec<String>,
    external_timeout: f64,
    seed: Option<u64>,
    family_wise_error: Option<f64>,
    device: Option<String>,
    expect_pass: bool,
    shard: Option<(usize, usize)>,
    keep_jobs: bool,
    flags: bool,
    place: String,
    observer: Option<Arc<dyn Observer>>,
}

/// Seconds an external command may take per job unless a request says otherwise.
pub const EXTERNAL_TIMEOUT: f64 = 600.0;

impl Request {
    fn of(target: Target, place: String) -> Self {
        Request {
            target,
            builtin: None,
            provided: Vec::new(),
            external: Vec::new(),
            external_timeout: EXTERNAL_TIMEOUT,
            seed: None,
            family_wise_error: None,
            device: None,
            expect_pass: false,
            shard: None,
            keep_jobs: false,
            flags: false,
            place,
            observer: None,
        }
    }

    /// A run of one check on every built-in method, unless [`Request::with_builtin`] names
    /// them. `place` names the front end's call in messages (`blindspot check wall`).
    pub fn check(check: Box<dyn DynCheck>, place: impl Into<String>) -> Self {
        Request::of(Target::Check(check), place.into())
    }

    /// A run of a suite on the methods it names, plus those given with
    /// [`Request::with_provided`] (the suite must have been read for their names).
    pub fn suite(suite: Suite, place: impl Into<String>) -> Self {
        Request::of(Target::Suite(Box::new(suite)), place.into())
    }

    /// The built-in methods by name (a check's; a suite names its own). Empty: none.
    pub fn with_builtin(mut self, names: Vec<String>) -> Self {
        self.builtin = Some(list(&names));
        self
    }

    /// The built-in methods as a list's text: `all`, `none` or names separated by commas (the
    /// command line's `--methods`).
    pub fn with_method_list(mut self, list: impl Into<String>) -> Self {
        self.builtin = Some(list.into());
        self
    }

    /// Methods given in code (Rust, or Python through the wheel), beside the others.
    pub fn with_provided(mut self, methods: Vec<Box<dyn CamMethod>>) -> Self {
        self.provided = methods;
        self
    }

    /// External methods, each `NAME=COMMAND` (docs/external-methods.md), and the seconds each
    /// job may take.
    pub fn with_external(mut self, specs: Vec<String>, timeout_seconds: f64) -> Self {
        self.external = specs;
        self.external_timeout = timeout_seconds;
        self
    }

    /// The run's seed (a suite's own unless given; 0 for a check).
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.seed = seed;
        self
    }

    /// The run's family-wise error (a suite's own unless given; 1% for a check).
    pub fn with_family_wise_error(mut self, error: Option<f64>) -> Self {
        self.family_wise_error = error;
        self
    }

    /// `auto` (the default), `cpu`, `cuda` or `cuda:N`.
    pub fn with_device(mut self, device: Option<String>) -> Self {
        self.device = device;
        self
    }

    /// Every verdict without a declared expectation is expected to pass (a CI gate).
    pub fn with_expect_pass(mut self, expect_pass: bool) -> Self {
        self.expect_pass = expect_pass;
        self
    }

    /// Messages name the command line's flags (`--family-wise-error`) rather than the
    /// parameters (`family_wise_error`).
    pub fn named_by_flags(mut self) -> Self {
        self.flags = true;
        self
    }

    /// Keep external methods' job folders (for debugging an adapter; process-wide).
    pub fn with_keep_jobs(mut self, keep: bool) -> Self {
        self.keep_jobs = keep;
        self
    }

    /// Run only shard K of N (1-based) of a suite's work items (docs/sharding.md).
    pub fn with_shard(mut self, shard: Option<(usize, usize)>) -> Self {
        self.shard = shard;
        self
    }

    /// A front end's [`Observer`]: it follows every progress bar of the run (instead of
    /// stderr) and may stop the run between batches (an [`Error::Interrupted`]).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Validates every field, then runs: the check on its methods, or the suite (or its
    /// shard). The report comes back to the front end to print or write.
    pub fn run(mut self) -> Result<Run> {
        match self.observer.take() {
            Some(observer) => crate::progress::observe(observer, move || self.execute()),
            None => self.execute(),
        }
    }

    fn execute(self) -> Result<Run> {
        let Request {
            target,
            builtin,
            provided,
            external,
            external_timeout,
            seed,
            family_wise_error,
            device,
            expect_pass,
            shard,
            keep_jobs,
            flags,
            place,
            observer: _,
        } = self;
        crate::process::set_keep_jobs(keep_jobs);
        let device = crate::device::parse_device(device.as_deref().unwrap_or("auto"))?;
        // The one place a run's error rate is validated.
        let error_rate = |default: f64| -> Result<f64> {
            let fwe = family_wise_error.unwrap_or(default);
            let (name, fix) = match flags {
                true => ("--family-wise-error", "use e.g. --family-wise-error 0.01"),
                false => ("family_wise_error", "use e.g. family_wise_error = 0.01"),
            };
            crate::limits::family_wise_error(name, fwe)
                .map_err(|e| Error::input(e, &place, fix))?;
            Ok(fwe)
        };
        let mut run = match target {
            Target::Check(check) => {
                let fwe = error_rate(super::FAMILY_WISE_ERROR)?;
                let seed = seed.unwrap_or(0);
                let names = builtin.unwrap_or_else(|| "all".into());
                let every = names.trim().eq_ignore_ascii_case("all");
                let mut methods = MethodList::Named(names).resolve(&Seeds::new(seed))?;
                if every {
                    methods = explainable(methods, check.as_ref());
                }
                for text in &external {
                    methods.push(Box::new(ExternalMethod::parse(text, external_timeout)?));
                }
                methods.extend(provided);
                crate::cam::ensure_unique_names(methods.iter().map(|m| m.name()))?;
                let name = check.name();
                // A check of no method makes no verdict: a pass nothing earned.
                if methods.is_empty() && check.fixed_method().is_none() {
                    return Err(Error::input(
                        format!("no method to check: the {name} check got no method"),
                        place,
                        "name built-in methods, an external one, or give a method in code",
                    ));
                }
                run_one(name, check.as_ref(), methods, fwe, device, seed)?
            }
            Target::Suite(mut suite) => {
                if builtin.is_some() || !external.is_empty() {
                    return Err(Error::input(
                        "built-in or external methods given beside a suite",
                        place,
                        "a suite names its built-in and external methods itself; give methods \
                         in code to run beside them",
                    ));
                }
                suite.family_wise_error = error_rate(suite.family_wise_error)?;
                if let Some(seed) = seed {
                    suite.seed = seed;
                }
                suite.run_providing(device, shard, provided)?
            }
        };
        if expect_pass {
            run.report.expect_pass_by_default();
        }
        Ok(run)
    }
}

/// `all` means every built-in method that can explain the check's models
/// ([`super::runner::under_all`]): the others are left out, and a note on stderr names them
/// (named one by one, each gets an error verdict saying why).
fn explainable(methods: Vec<Box<dyn CamMethod>>, check: &dyn DynCheck) -> Vec<Box<dyn CamMethod>> {
    let (kept, note) = super::runner::under_all(check, methods.iter().map(|m| m.as_ref()));
    if let Some(note) = note {
        eprintln!("{note}");
    }
    methods
        .into_iter()
        .zip(kept)
        .filter_map(|(m, k)| k.then_some(m))
        .collect()
}

/// Names as a method list's text (`none` for no names).
fn list(names: &[String]) -> String {
    match names.is_empty() {
        true => "none".into(),
        false => names.join(","),
    }
}
