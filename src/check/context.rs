//! What every check may use besides its own parameters: the [`CheckContext`].
use super::reuse::Explanations;
use super::stats::ErrorControl;
use super::ModelRecord;
use crate::cam::{CamMethod, Explanation};
use crate::error::Result;
use crate::model::SplitModel;
use crate::progress::{Progress, ProgressSink};
use crate::seed::{Seeds, Stream};
use std::sync::{Arc, Mutex};
use tch::{Device, Tensor};

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
    /// None: every explanation is computed ([`CheckContext::without_reuse`]).
    explanations: Option<Arc<Explanations>>,
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
            explanations: Some(Arc::default()),
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

    /// `method`'s explanation of `x` on `model` in batches of `batch_size`, computed once per run:
    /// a check that asks for what another already computed (the same method, model weights,
    /// images, targets and batch size) gets a copy of it (module `check::reuse`).
    pub fn explain(
        &self,
        method: &dyn CamMethod,
        model: &dyn SplitModel,
        x: &Tensor,
        targets: Option<&Tensor>,
        batch_size: i64,
    ) -> Result<Explanation> {
        match &self.explanations {
            Some(memory) => memory.explain(method, model, x, targets, batch_size),
            None => crate::cam::explain_batched(method, model, x, targets, batch_size),
        }
    }

    /// The same context computing every explanation it is asked for (what reuse is compared
    /// with).
    pub fn without_reuse(&self) -> Self {
        CheckContext {
            explanations: None,
            ..self.clone()
        }
    }

    /// How many explanations this run answered from memory.
    pub fn reused_explanations(&self) -> u64 {
        self.explanations.as_ref().map_or(0, |m| m.hits())
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
