//! Sanity checks: each takes CAM methods and gives verdicts with the statistics behind them.
//!
//! * One file per check ([`wall`], [`theorem`], [`randomization`], [`data_randomization`],
//!   [`class_sensitivity`]); each is one struct whose fields are its parameters, read by serde
//!   (suites) and by clap (`blindspot check NAME`) alike, and which implements [`Check`].
//! * [`registry`]: the checks known by name — adding a check is its file and one line there.
//! * [`subject`]: what image checks share (model, wall, data, level, batch size).
//! * [`outcome`]: typed results and the run's [`Report`]; [`runner`]: the one function that
//!   runs checks for the command line, suites and the cargo-test harness.
//! * The statistics beside them: [`stats`], [`similarity`], [`correlation`]; suites in TOML:
//!   [`suite`].
pub mod class_sensitivity;
pub mod correlation;
pub mod data_randomization;
pub mod outcome;
pub mod randomization;
pub mod registry;
pub mod runner;
pub mod similarity;
pub mod stats;
pub mod subject;
pub mod suite;
pub mod theorem;
pub mod wall;

pub use outcome::{CheckResult, CheckRun, Findings, Gallery, Outcome, Report, Verdict};
pub use registry::{DynCheck, Registry};
pub use subject::Subject;

use crate::cam::CamMethod;
use crate::error::Result;
use crate::seed::{Seeds, Stream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::Device;

/// What every check may use besides its own parameters: the device and the run's seeds.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext {
    pub device: Device,
    pub seeds: Seeds,
}

impl CheckContext {
    pub fn new(device: Device, seed: u64) -> Self {
        CheckContext {
            device,
            seeds: Seeds::new(seed),
        }
    }

    /// The run's root seed.
    pub fn seed(&self) -> u64 {
        self.seeds.root()
    }

    /// The random stream called `name` (a constant of [`crate::seed::streams`]).
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

    /// The model, data and decision settings of an image check; None for checks that bring
    /// their own models (the theorem's random rCNNs).
    fn subject(&self) -> Option<&Subject> {
        None
    }

    /// Mutable access to [`Check::subject`], so `--data` and suite paths apply to every check.
    fn subject_mut(&mut self) -> Option<&mut Subject> {
        None
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

    /// Runs the check on every method: one or more results per method.
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome>;
}
