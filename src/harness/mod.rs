//! Gate a saliency method from `cargo test`: a libtest-mimic harness that turns a suite's checks
//! into trials, one per (check × model × configuration), each passing iff the method gets the
//! expected verdict (pass, unless told otherwise), with the statistic in the failure message.
//!
//! ```no_run
//! // tests/sanity.rs of your crate, with `[[test]] name = "sanity" harness = false`:
//! use blindspot::harness::SanityHarness;
//! # struct MyCam;
//! # impl blindspot::CamMethod for MyCam {
//! #     fn name(&self) -> &str { "mycam" }
//! #     fn title(&self) -> &str { "MyCAM" }
//! #     fn summary(&self) -> &str { "" }
//! #     fn raw_map(&self, ctx: &blindspot::CamContext) -> blindspot::Result<tch::Tensor> { unimplemented!() }
//! # }
//! fn main() {
//!     SanityHarness::new(MyCam).suite("default").run();
//! }
//! ```
//!
//! Filtering (`cargo test wall`), `--ignored`, `--list` and `--test-threads` work as in any cargo
//! test; checks a suite marks `ignored = true` become ignored trials.
use crate::cam::{CamContext, CamMethod};
use crate::check::suite::{CheckSpec, Suite};
use crate::check::{CheckContext, CheckResult, Verdict};
use crate::error::Result;
use libtest_mimic::{Arguments, Failed, Trial};
use std::sync::Arc;
use tch::{Device, Tensor};

/// A method shared between trials (trials run on several threads).
struct Shared(Arc<dyn CamMethod + Send + Sync>);

impl CamMethod for Shared {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn title(&self) -> &str {
        self.0.title()
    }
    fn summary(&self) -> &str {
        self.0.summary()
    }
    fn uses_gradients(&self) -> bool {
        self.0.uses_gradients()
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        self.0.raw_map(ctx)
    }
}

/// Builds and runs the trials for one method.
pub struct SanityHarness {
    method: Arc<dyn CamMethod + Send + Sync>,
    suites: Vec<std::result::Result<Suite, String>>,
    expectations: Vec<(String, Verdict)>,
    device: Device,
}

impl SanityHarness {
    pub fn new(method: impl CamMethod + Send + Sync + 'static) -> Self {
        SanityHarness {
            method: Arc::new(method),
            suites: Vec::new(),
            expectations: Vec::new(),
            device: Device::cuda_if_available(),
        }
    }

    /// Adds a suite: a name shipped with blindspot (`default`, `theorem`, `paper`) or a path to a
    /// suite file. A suite that cannot be read becomes one failing trial saying why.
    pub fn suite(mut self, name_or_path: &str) -> Self {
        self.suites
            .push(Suite::named(name_or_path).map_err(|e| e.to_string()));
        self
    }

    /// Adds a suite given as TOML text.
    pub fn suite_toml(mut self, origin: &str, text: &str) -> Self {
        self.suites
            .push(Suite::parse(text, origin, std::path::Path::new(".")).map_err(|e| e.to_string()));
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

    /// The trials, for callers that combine them with their own.
    pub fn trials(&self) -> Vec<Trial> {
        let mut trials = Vec::new();
        for suite in &self.suites {
            let suite = match suite {
                Ok(s) => s,
                Err(e) => {
                    let e = e.clone();
                    trials.push(Trial::test("suite", move || Err(Failed::from(e))));
                    continue;
                }
            };
            for (index, entry) in suite.checks.iter().enumerate() {
                let configurations: Vec<(String, CheckSpec)> = match &entry.spec {
                    CheckSpec::Theorem(t) => t
                        .filters
                        .iter()
                        .map(|&v| {
                            (
                                format!("rcnn::V={v}"),
                                CheckSpec::Theorem(crate::check::theorem::TheoremCheck {
                                    filters: vec![v],
                                    scaling: vec![],
                                    ..t.clone()
                                }),
                            )
                        })
                        .collect(),
                    CheckSpec::Wall(c) => vec![(model_label(&c.model), entry.spec.clone())],
                    CheckSpec::Randomization(c) => {
                        vec![(model_label(&c.model), entry.spec.clone())]
                    }
                    CheckSpec::DataRandomization(c) => {
                        vec![(model_label(&c.model), entry.spec.clone())]
                    }
                    CheckSpec::ClassSensitivity(c) => {
                        vec![(model_label(&c.model), entry.spec.clone())]
                    }
                };
                for (config, spec) in configurations {
                    let name = format!(
                        "{}::{}::{}::{}::{}",
                        suite.name,
                        index,
                        spec.as_check().name(),
                        config,
                        self.method.name()
                    );
                    let expected = self
                        .expectations
                        .iter()
                        .rev()
                        .find(|(p, _)| name.contains(p.as_str()))
                        .map(|(_, v)| *v)
                        .unwrap_or(Verdict::Pass);
                    let method = Arc::clone(&self.method);
                    let ctx = CheckContext {
                        device: self.device,
                        seed: suite.seed,
                    };
                    let trial = Trial::test(name, move || run_trial(&spec, method, &ctx, expected));
                    trials.push(trial.with_ignored_flag(entry.ignored));
                }
            }
        }
        trials
    }

    /// Parses the command line like `cargo test`, runs the trials and exits with their status.
    pub fn run(self) -> ! {
        let args = Arguments::from_args();
        libtest_mimic::run(&args, self.trials()).exit()
    }
}

fn model_label(spec: &str) -> String {
    spec.trim_start_matches("builtin:")
        .rsplit('/')
        .next()
        .unwrap_or(spec)
        .to_string()
}

fn describe(r: &CheckResult) -> String {
    format!(
        "{} {}: {} — {} [rule: {}]",
        r.check, r.verdict, r.reason, r.statistic, r.rule
    )
}

fn run_trial(
    spec: &CheckSpec,
    method: Arc<dyn CamMethod + Send + Sync>,
    ctx: &CheckContext,
    expected: Verdict,
) -> std::result::Result<(), Failed> {
    let methods: Vec<Box<dyn CamMethod>> = vec![Box::new(Shared(method))];
    let results = spec
        .as_check()
        .run(&methods, ctx)
        .map_err(|e| Failed::from(format!("the check could not run: {e}")))?;
    let wrong: Vec<String> = results
        .iter()
        .filter(|r| r.verdict != expected)
        .map(describe)
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(format!(
            "expected {expected}, got:\n  {}",
            wrong.join("\n  ")
        )))
    }
}
