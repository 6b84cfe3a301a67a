//! Gate a saliency method from `cargo test` ([`SanityHarness`]: a libtest-mimic harness).
use crate::cam::{CamMethod, Origin};
use crate::check::property::{replay, CaseId};
use crate::check::runner::{run_checks, Scheduled};
use crate::check::suite::Suite;
use crate::check::{
    Check, CheckContext, CheckResult, DynCheck, ErrorControl, Registry, Verdict, FAMILY_WISE_ERROR,
};
use crate::error::Result;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::sync::Arc;
use tch::Device;

/// Where a suite comes from; parsed when the trials are built, with every registered check.
enum Source {
    Named(String),
    Toml { origin: String, text: String },
}

/// Gates a saliency method from `cargo test`: a libtest-mimic harness that turns a suite's checks
/// into trials, one per (check × model × configuration), each passing iff the method gets the
/// expected verdict (pass, unless told otherwise), with the statistic in the failure message.
/// Every trial is decided by the method's own maps: the checks that are about one built-in method
/// whatever the methods given (the theorem's Monte Carlo, `prop-theorem` and `prop-positivity`
/// are about GradCAM) are left out of any other method's harness, and `run` says so on stderr.
/// A failing `prop-wall` trial prints the `.replay("CASE")` call that replays its counterexample.
///
/// ```no_run
/// // tests/sanity.rs of your crate, with `[[test]] name = "sanity" harness = false`:
/// use blindspot::SanityHarness;
/// # struct MyCam;
/// # impl blindspot::CamMethod for MyCam {
/// #     fn name(&self) -> &str { "mycam" }
/// #     fn title(&self) -> &str { "MyCAM" }
/// #     fn summary(&self) -> &str { "" }
/// #     fn raw_map(&self, ctx: &blindspot::CamContext) -> blindspot::Result<tch::Tensor> {
/// #         unimplemented!()
/// #     }
/// # }
/// fn main() {
///     SanityHarness::new(MyCam).suite("default").run();
/// }
/// ```
///
/// Filtering (`cargo test wall`), `--ignored`, `--list` and `--test-threads` work as in any cargo
/// test; checks a suite marks `ignored = true` become ignored trials.
pub struct SanityHarness {
    method: Arc<dyn CamMethod + Send + Sync>,
    suites: Vec<Source>,
    registry: Registry,
    expectations: Vec<(String, Verdict)>,
    replays: Vec<String>,
    device: Device,
    family_wise_error: f64,
    /// Why the precision policy could not be applied (then the one trial says so).
    precision_error: Option<String>,
}

impl SanityHarness {
    /// A harness for `method`, with no suite yet (add one with [`SanityHarness::suite`]), at
    /// the default family-wise error ([`crate::FAMILY_WISE_ERROR`]).
    pub fn new(method: impl CamMethod + Send + Sync + 'static) -> Self {
        // Before anything runs libtorch (docs/precision.md); a bad setting is the one trial.
        let precision_error = crate::precision::init_from_env()
            .err()
            .map(|e| e.to_string());
        SanityHarness {
            method: Arc::new(method),
            suites: Vec::new(),
            registry: Registry::builtin(),
            expectations: Vec::new(),
            replays: Vec::new(),
            device: crate::device::cuda_if_available(),
            family_wise_error: FAMILY_WISE_ERROR,
            precision_error,
        }
    }

    /// The chance of one or more wrong passes or fails over all trials (default 1%), shared
    /// over every verdict the trials make (Bonferroni).
    pub fn family_wise_error(mut self, error: f64) -> Self {
        self.family_wise_error = error;
        self
    }

    /// Adds a suite: a name shipped with blindspot (`default`, `theorem`, `paper`) or a path to a
    /// suite file. A suite that cannot be read becomes one failing trial saying why.
    pub fn suite(mut self, name_or_path: &str) -> Self {
        self.suites.push(Source::Named(name_or_path.into()));
        self
    }

    /// Adds a suite given as TOML text.
    pub fn suite_toml(mut self, origin: &str, text: &str) -> Self {
        self.suites.push(Source::Toml {
            origin: origin.into(),
            text: text.into(),
        });
        self
    }

    /// Adds one property trial — `wall` (no mass behind the wall of random walled networks),
    /// `positivity` or `theorem` — over `cases` random cases. A failing trial prints the shrunk
    /// counterexample and the command that replays it.
    pub fn property(mut self, property: &str, cases: usize) -> Self {
        let text = format!(
            "name = \"property\"\n[[checks]]\ncheck = \"prop-{property}\"\ncases = {cases}\n"
        );
        self.suites.push(Source::Toml {
            origin: format!("property {property}"),
            text,
        });
        self
    }

    /// Makes a check of your own known to the suites of this harness (one line per check).
    pub fn register<C: Check + Send + Sync + 'static>(mut self) -> Self {
        self.registry = self.registry.with::<C>();
        self
    }

    /// Expects `verdict` (instead of pass) for every trial whose name contains `pattern`.
    pub fn expect(mut self, pattern: &str, verdict: Verdict) -> Self {
        self.expectations.push((pattern.to_string(), verdict));
        self
    }

    /// Runs the trials on this device (default: CUDA when present).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Adds one trial that replays a `prop-wall` counterexample (the string a failing property
    /// trial prints) on this method: it fails iff the method still puts mass behind the wall.
    pub fn replay(mut self, case: &str) -> Self {
        self.replays.push(case.trim().to_string());
        self
    }

    /// Whether this method's maps decide `check`'s verdicts: always, except for a check about
    /// one built-in method (the theorem's, about GradCAM), which only that method's harness runs.
    fn decides(&self, check: &dyn DynCheck) -> bool {
        match check.fixed_method() {
            None => true,
            Some(builtin) => {
                self.method.origin() == Origin::BuiltIn && self.method.name() == builtin
            }
        }
    }

    /// The checks of the harness's suites left out because this method's maps would not decide
    /// them (`suite::index::check (about gradcam)`); `run` says so on stderr.
    pub fn left_out(&self) -> Vec<String> {
        let mut out = Vec::new();
        for suite in self.suites.iter().filter_map(|s| self.parse(s).ok()) {
            for (index, entry) in suite.checks.iter().enumerate() {
                if let (false, Some(about)) = (
                    self.decides(entry.check.as_ref()),
                    entry.check.fixed_method(),
                ) {
                    out.push(format!(
                        "{}::{index}::{} (about {about})",
                        suite.name,
                        entry.check.name()
                    ));
                }
            }
        }
        out
    }

    fn parse(&self, source: &Source) -> Result<Suite> {
        match source {
            Source::Named(name) => Suite::open(name, &self.registry),
            Source::Toml { origin, text } => {
                Suite::parse(text, origin, Path::new("."), &self.registry)
            }
        }
    }

    /// One planned trial per (suite × check × configuration), with its expected verdict and its
    /// share of the family-wise error; a suite that does not parse becomes one failing plan.
    ///
    /// Long: one trial per suite, check and configuration, the broken inputs and unmatched
    /// expectations each a failing trial of their own, and the family they share.
    fn plan(&self) -> Vec<Planned> {
        if let Some(why) = &self.precision_error {
            return vec![Planned {
                name: "precision".into(),
                ignored: false,
                work: Work::Broken(why.clone()),
            }];
        }
        if let Err(why) =
            crate::limits::family_wise_error("family_wise_error", self.family_wise_error)
        {
            return vec![Planned {
                name: "family-wise-error".into(),
                ignored: false,
                work: Work::Broken(why),
            }];
        }
        let mut plans = Vec::new();
        let mut planned = Vec::new();
        for source in &self.suites {
            let suite = match self.parse(source) {
                Ok(s) => s,
                Err(e) => {
                    plans.push(Planned {
                        name: "suite".into(),
                        ignored: false,
                        work: Work::Broken(e.to_string()),
                    });
                    continue;
                }
            };
            for (index, entry) in suite.checks.iter().enumerate() {
                if !self.decides(entry.check.as_ref()) {
                    continue;
                }
                for (config, check) in entry.check.configurations() {
                    let name = format!(
                        "{}::{}::{}::{}::{}",
                        suite.name,
                        index,
                        check.name(),
                        config,
                        self.method.name()
                    );
                    planned.push((name, suite.seed, index, check, entry.ignored));
                }
            }
        }
        for case in &self.replays {
            plans.push(Planned {
                name: format!("replay::{case}::{}", self.method.name()),
                ignored: false,
                work: Work::Replay {
                    case: case.clone(),
                    method: Arc::clone(&self.method),
                    device: self.device,
                },
            });
        }
        // An expectation that names no trial is a typo (`"::wal::"`), never silently ignored.
        for (pattern, verdict) in &self.expectations {
            let names = planned.iter().map(|p| &p.0).chain(plans.iter().map(|p| &p.name));
            if !names.clone().any(|n| n.contains(pattern.as_str())) {
                let listed: Vec<&String> = names.collect();
                plans.push(Planned {
                    name: format!("expect::{pattern}"),
                    ignored: false,
                    work: Work::Broken(format!(
                        ".expect({pattern:?}, Verdict::{verdict:?}) matches no trial of this \
                         gate (its trials: {}); fix the pattern or remove the expectation \
                         (a check this method does not decide is left out of its gate)",
                        listed
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                });
            }
        }
        let evaluations = if self.method.sign_ambiguous() { 2 } else { 1 };
        let family = planned.iter().map(|p| p.3.verdicts(evaluations)).sum();
        let control = ErrorControl::bonferroni(self.family_wise_error, family);
        for (name, seed, index, check, ignored) in planned {
            let expected = self
                .expectations
                .iter()
                .rev()
                .find(|(p, _)| name.contains(p.as_str()))
                .map(|(_, v)| *v)
                .unwrap_or(Verdict::Pass);
            plans.push(Planned {
                name,
                ignored,
                work: Work::Check {
                    index,
                    check,
                    method: Arc::clone(&self.method),
                    ctx: CheckContext::controlled(self.device, seed, control),
                    expected,
                },
            });
        }
        plans
    }

    /// The trials, for callers that combine them with their own. Their verdicts form one
    /// family: every trial decides at the harness's family-wise error divided by the number of
    /// verdicts all trials make.
    pub fn trials(&self) -> Vec<Trial> {
        self.plan()
            .into_iter()
            .map(|p| {
                let ignored = p.ignored;
                Trial::test(p.name, move || p.work.run().map_err(Failed::from))
                    .with_ignored_flag(ignored)
            })
            .collect()
    }

    /// Runs every trial that is not ignored, one after the other, printing nothing: for a test
    /// of the gate itself, which asserts on the outcomes instead of reporting them.
    pub fn outcomes(&self) -> Vec<TrialOutcome> {
        self.plan()
            .into_iter()
            .filter(|p| !p.ignored)
            .map(|p| TrialOutcome {
                result: p.work.run(),
                name: p.name,
            })
            .collect()
    }

    /// Parses the command line like `cargo test`, runs the trials and exits with their status.
    pub fn run(self) -> ! {
        let args = Arguments::from_args();
        let left_out = self.left_out();
        if !left_out.is_empty() {
            crate::io::note!(
                "blindspot: {} left out: these checks never call {} (blindspot run --suite \
                 SUITE runs them)",
                left_out.join(", "),
                self.method.name()
            );
        }
        libtest_mimic::run(&args, self.trials()).exit()
    }
}

/// The outcome of one trial: `Err` holds the message a failing trial prints.
#[derive(Debug)]
#[non_exhaustive]
pub struct TrialOutcome {
    /// `suite::index::check::configuration::method`.
    pub name: String,
    /// `Ok` when the method got the expected verdict.
    pub result: std::result::Result<(), String>,
}

struct Planned {
    name: String,
    ignored: bool,
    work: Work,
}

enum Work {
    Broken(String),
    Replay {
        case: String,
        method: Arc<dyn CamMethod + Send + Sync>,
        device: Device,
    },
    Check {
        index: usize,
        check: Box<dyn DynCheck>,
        method: Arc<dyn CamMethod + Send + Sync>,
        ctx: CheckContext,
        expected: Verdict,
    },
}

impl Work {
    fn run(self) -> std::result::Result<(), String> {
        match self {
            Work::Broken(message) => Err(message),
            Work::Replay {
                case,
                method,
                device,
            } => replay_trial(&case, method, device).map_err(|e| e.to_string()),
            Work::Check {
                index,
                check,
                method,
                ctx,
                expected,
            } => run_trial(index, check, method, &ctx, expected),
        }
    }
}

fn describe(r: &CheckResult) -> String {
    format!(
        "{} {}: {} — {} [rule: {}]",
        r.check, r.verdict, r.reason, r.statistic, r.rule
    )
}

fn run_trial(
    index: usize,
    check: Box<dyn DynCheck>,
    method: Arc<dyn CamMethod + Send + Sync>,
    ctx: &CheckContext,
    expected: Verdict,
) -> std::result::Result<(), String> {
    let methods: Vec<Box<dyn CamMethod>> = vec![Box::new(method)];
    let run = run_checks(
        check.name(),
        &[Scheduled::all(index, check.as_ref())],
        methods,
        ctx,
        None,
    )
    .map_err(|e| format!("the check could not run: {e}"))?;
    let results = &run.report.results;
    let wrong: Vec<String> = results
        .iter()
        .filter(|r| r.verdict != expected)
        .map(describe)
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "expected {expected}, got:\n  {}",
            wrong.join("\n  ")
        ))
    }
}

/// Replays one `prop-wall` case on the method (both signs of a sign-ambiguous one, as the run
/// judged it): Ok when the wall holds, the leak and the architecture otherwise.
fn replay_trial(
    case: &str,
    method: Arc<dyn CamMethod + Send + Sync>,
    device: Device,
) -> std::result::Result<(), String> {
    let id = CaseId::parse(case).map_err(|e| e.to_string())?;
    if id.property != "wall" {
        return Err(format!(
            "`{case}` is a prop-{} case, which is about GradCAM, not this method: replay it \
             with `blindspot prop replay {case}`",
            id.property
        ));
    }
    let method: std::rc::Rc<dyn CamMethod> = std::rc::Rc::new(method);
    let tau = crate::check::property::wall::PropWallCheck::default().tau;
    // A prop-wall case uses no error rate: the run's default stands in for one.
    let alpha = crate::check::FAMILY_WISE_ERROR;
    let replayed = replay::replay(&id, case, &|| Ok(method.clone()), tau, alpha, device)
        .map_err(|e| e.to_string())?;
    if !replayed.holds {
        return Err(format!(
            "the wall does not hold on {case}: {}",
            replayed.lines.join("; ")
        ));
    }
    Ok(())
}
