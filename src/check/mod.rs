//! Sanity checks: each takes CAM methods and gives verdicts with the statistics behind them.
//!
//! * One file per check ([`wall`], [`theorem`], [`randomization`], [`data_randomization`],
//!   [`class_sensitivity`]); each is one struct whose fields are its parameters, read by serde
//!   (suites) and by clap (`blindspot check NAME`) alike, and which implements [`Check`].
//! * [`registry`]: the checks known by name — adding a check is its file and one line there.
//! * [`subject`]: what image checks share (model, wall, data, level, batch size).
//! * [`findings`]: each check's own numbers, of the type it declares ([`Check::Findings`]).
//! * [`outcome`]: typed results and the run's [`Report`]; [`runner`]: the one function that
//!   runs checks for the command line, suites and the cargo-test harness.
//! * [`units`]: the work units a sharded run hands out, and the evidence shards write;
//!   [`merge`]: shard reports back into one, every split check decided once.
//! * The statistics beside them: [`stats`], [`similarity`], [`correlation`]; suites in TOML:
//!   [`suite`].
pub mod audit;
pub mod class_sensitivity;
pub mod controls;
pub mod correlation;
pub mod data_randomization;
pub mod efficient_mprt;
pub mod findings;
pub mod input_invariance;
pub mod merge;
pub mod outcome;
pub mod property;
pub mod randomization;
pub mod registry;
pub mod reliability;
pub mod runner;
pub mod shard;
pub mod similarity;
pub mod smooth_mprt;
pub mod stats;
pub mod subject;
pub mod suite;
pub mod theorem;
pub mod units;
pub mod wall;

pub use findings::CheckFindings;
pub use outcome::{
    CheckResult, CheckRun, ErrorControl, Findings, Gallery, ModelRecord, Outcome, Report, Signs,
    Verdict, Worst,
};
pub use registry::{DynCheck, Registry};
pub use subject::Subject;

use crate::cam::CamMethod;
use crate::error::Result;
use crate::progress::{Progress, ProgressSink};
use crate::seed::{Seeds, Stream};
use crate::SplitModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tch::Device;

/// What every check may use besides its own parameters: the device, the run's seeds, the error
/// rate its verdicts are decided at, and the record of the models it opens.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// Where tensors live (`Device::Cpu`, `Device::Cuda(0)`).
    pub device: Device,
    /// The run's named random streams ([`CheckContext::stream`]).
    pub seeds: Seeds,
    /// The run's family-wise error control.
    pub control: ErrorControl,
    /// Where long work reports its progress.
    pub progress: ProgressSink,
    /// The share of a verdict's error rate this look spends (1 / looks).
    look_share: f64,
    models: Arc<Mutex<Vec<ModelRecord>>>,
}

/// Family-wise error of a run that does not say otherwise (a suite's `family_wise_error`).
pub const FAMILY_WISE_ERROR: f64 = 0.01;

impl CheckContext {
    /// A context for one verdict at the default error rate, [`FAMILY_WISE_ERROR`] (a check run
    /// by hand, e.g. in a test).
    pub fn new(device: Device, seed: u64) -> Self {
        CheckContext::controlled(device, seed, ErrorControl::bonferroni(FAMILY_WISE_ERROR, 1))
    }

    /// A context whose verdicts follow `control` (what the runner builds). Pins MKL's thread
    /// count on the calling thread ([`crate::precision::pin_thread`]): a check computes where
    /// its context is made.
    pub fn controlled(device: Device, seed: u64, control: ErrorControl) -> Self {
        crate::precision::pin_thread();
        CheckContext {
            device,
            seeds: Seeds::new(seed),
            control,
            progress: ProgressSink::from_env(),
            look_share: 1.0,
            models: Arc::default(),
        }
    }

    /// The same context for one of `looks` looks at the data.
    pub fn for_looks(&self, looks: usize) -> Self {
        CheckContext {
            look_share: 1.0 / looks.max(1) as f64,
            ..self.clone()
        }
    }

    /// The error rate at which this check decides each verdict (each side of a three-way
    /// decision): the run's per-verdict error, divided among the looks.
    pub fn alpha(&self) -> f64 {
        self.control.per_verdict_error * self.look_share
    }

    /// Records a model the check opened, with its SHA-256, for the report.
    pub fn record_model(&self, spec: &str, model: &dyn SplitModel) {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        if models.iter().any(|m| m.spec == spec) {
            return;
        }
        let (sha256, of) = crate::model::fingerprint(model);
        models.push(ModelRecord {
            spec: spec.into(),
            sha256,
            of: of.into(),
        });
    }

    /// The models recorded so far, sorted by spec.
    pub fn models(&self) -> Vec<ModelRecord> {
        let mut models = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        models.sort_by(|a, b| (&a.spec, &a.sha256).cmp(&(&b.spec, &b.sha256)));
        models
    }

    /// The run's root seed.
    pub fn seed(&self) -> u64 {
        self.seeds.root()
    }

    /// A progress bar of `total` steps for long work, reported to the context's sink.
    pub fn progress(&self, label: impl Into<String>, total: u64) -> Progress {
        self.progress.start(label, total)
    }

    /// The random stream called `name` (each use of randomness has its own name, so that adding
    /// one never shifts another's draws).
    pub fn stream(&self, name: &str) -> Stream {
        self.seeds.stream(name)
    }
}

/// A sanity check. The implementing struct's fields are its parameters: derive `Serialize`,
/// `Deserialize` (suites) and `clap::Args` (the command line) on it, register it in a
/// [`Registry`], and suites, `blindspot check NAME`, reports and the harness all know it.
pub trait Check: Clone + std::fmt::Debug + Serialize + DeserializeOwned + clap::Args {
    /// The name in suites (`check = "wall"`), on the command line and in reports.
    const NAME: &'static str;
    /// One line for `blindspot check --help`.
    const ABOUT: &'static str;
    /// Its own numbers in each result: how they are encoded, decoded and rendered
    /// ([`CheckFindings`]).
    type Findings: CheckFindings;

    /// The model, data and decision settings of an image check; None for checks that bring
    /// their own models (the theorem's random rCNNs).
    fn subject(&self) -> Option<&Subject> {
        None
    }

    /// Mutable access to [`Check::subject`], so `--data` and suite paths apply to every check.
    fn subject_mut(&mut self) -> Option<&mut Subject> {
        None
    }

    /// Refuses parameters outside their ranges (one message naming the parameter, its value and
    /// the allowed range), before anything runs: suites and the command line call it.
    fn validate(&self) -> std::result::Result<(), String> {
        match self.subject() {
            Some(subject) => subject.validate(),
            None => Ok(()),
        }
    }

    /// The files among [`Check::paths_mut`] that the check writes (a regressions file): a suite
    /// may only name such a file inside its own folder. Default: none.
    fn written_paths(&self) -> Vec<&std::path::Path> {
        Vec::new()
    }

    /// The files the check reads or writes, so that a suite resolves them against its own
    /// folder. Default: the subject's image file or folder.
    fn paths_mut(&mut self) -> Vec<&mut std::path::PathBuf> {
        match self.subject_mut() {
            Some(s) => s.data.path_mut().into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The models the check opens, with their weights files: (spec, weights). Checked before
    /// anything runs (the runner's preflight). Default: the subject's model.
    fn models(&self) -> Vec<(String, Option<std::path::PathBuf>)> {
        match self.subject() {
            Some(s) => vec![(s.model.clone(), s.weights.clone())],
            None => Vec::new(),
        }
    }

    /// The built-in method whose maps decide every verdict, for a check that is about one method
    /// rather than the methods it is given (the theorem's Monte Carlo is about GradCAM); `None`
    /// (the default) when each given method's own maps decide its verdicts. The harness names a
    /// trial after the method that decided it: `…::builtin:gradcam` instead of the user's method.
    fn fixed_method(&self) -> Option<&'static str> {
        None
    }

    /// How many verdicts the check makes for `methods` method evaluations (the family size it
    /// adds to a run). Default: one per method.
    fn verdicts(&self, methods: usize) -> usize {
        methods
    }

    /// The harness's trials: one (label, check) per configuration. Default: one, labelled by the
    /// model (`stack-masked`) or, without a model, by the check's name.
    fn configurations(&self) -> Vec<(String, Self)> {
        let label = match self.subject() {
            Some(s) => s.model_label(),
            None => Self::NAME.to_string(),
        };
        vec![(label, self.clone())]
    }

    /// How many independent work units the check splits into (the cases of a property), so
    /// that a sharded run can hand them to different machines (docs/sharding.md); `None`, the
    /// default: the check runs whole, on one shard. A check that splits implements
    /// [`Check::run_units`] and [`Check::decide`], and its [`Check::run`] is [`run_split`].
    fn units(&self, _ctx: &CheckContext) -> Result<Option<usize>> {
        Ok(None)
    }

    /// Whether a sharded run may hand the methods to different shards: true when each method's
    /// results depend on that method alone (not on the other methods run beside it), as for
    /// the image checks. Default: false.
    fn split_by_method(&self) -> bool {
        false
    }

    /// Runs the units `units` (ascending, each below [`Check::units`]) on every method and
    /// returns what each found, in order, in the check's own encoding. Every random stream of a
    /// unit derives from (run seed, check, unit) alone.
    fn run_units(
        &self,
        _methods: &[Box<dyn CamMethod>],
        _ctx: &CheckContext,
        _units: &[usize],
    ) -> Result<Vec<serde_json::Value>> {
        Err(not_split(Self::NAME))
    }

    /// Decides every verdict from the evidence of all the check's units, in unit order: what
    /// `blindspot merge` calls with the shards' evidence, and [`run_split`] with its own.
    fn decide(
        &self,
        _methods: &[Box<dyn CamMethod>],
        _evidence: Vec<serde_json::Value>,
        _ctx: &CheckContext,
    ) -> Result<Outcome> {
        Err(not_split(Self::NAME))
    }

    /// Runs the check on every method: one or more results per method.
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome>;
}

/// The run of a check that splits into units: every unit, then the decision a merge would
/// make, so that an unsharded run and a merge of shards take the same path.
pub fn run_split<C: Check>(
    check: &C,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let units = check.units(ctx)?.ok_or_else(|| not_split(C::NAME))?;
    let all: Vec<usize> = (0..units).collect();
    let evidence = check.run_units(methods, ctx, &all)?;
    check.decide(methods, evidence, ctx)
}

fn not_split(name: &str) -> crate::error::Error {
    crate::error::Error::input(
        format!("the {name} check does not split into work units"),
        format!("the {name} check"),
        "implement Check::units, run_units and decide together (docs/architecture.md)",
    )
}
