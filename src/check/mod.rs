//! Sanity checks: each takes CAM methods and gives verdicts with the statistics behind them.
//! Three layers, each importing only from the ones below it (tests/imports.rs refuses any cycle
//! between files):
//!
//! * **the data model**: [`verdict`], [`stats`] (summaries, decision rules, the run's
//!   [`ErrorControl`]), [`result`] (a [`CheckResult`] with the findings of its check's own type,
//!   [`CheckFindings`], which also says how they render and how merge audits them), [`outcome`]
//!   (the run's [`Report`]), [`timing`] (where its time went), [`units`] (the evidence shards
//!   write), [`reuse`] (explanations computed once per run); and the statistics beside them:
//!   [`similarity`], [`correlation`], [`invariance`] (the invariance checks' map change).
//! * **the checks**, one file (or folder) each: [`wall`], [`theorem`], [`randomization`],
//!   [`smooth_mprt`], [`efficient_mprt`], [`data_randomization`], [`class_sensitivity`],
//!   [`input_invariance`], [`implementation_invariance`], [`localisation`], [`faithfulness`],
//!   [`grid`], [`property`]; each one struct whose fields are its parameters (serde for
//!   suites, clap for `blindspot check NAME`) implementing [`Check`] ([`plugin`]), with the
//!   [`CheckContext`] ([`context`]), its [`subject`] (model, data) and its negative
//!   [`controls`]. Nothing outside a check's file names it, but the registry.
//! * **the engine**: [`registry`] (the checks known by name: adding a check is its file and one
//!   line there), [`suite`] (TOML), [`runner`] (the one function that runs checks for every
//!   front end), [`shard`], [`merge`] and its [`audit`], [`reliability`].
pub mod audit;
pub mod class_sensitivity;
pub mod context;
pub mod controls;
pub mod correlation;
pub mod data_randomization;
pub mod efficient_mprt;
pub mod implementation_invariance;
pub mod input_invariance;
pub mod invariance;
pub mod faithfulness;
pub mod grid;
pub mod localisation;
pub mod merge;
pub mod outcome;
pub mod plugin;
pub mod property;
pub mod randomization;
pub mod registry;
pub mod reliability;
pub mod request;
pub mod result;
pub mod reuse;
pub mod runner;
pub mod shard;
pub mod similarity;
pub mod smooth_mprt;
pub mod stats;
pub mod subject;
pub mod suite;
pub mod theorem;
pub mod timing;
pub mod units;
pub mod verdict;
pub mod wall;

pub use context::{CheckContext, FAMILY_WISE_ERROR};
pub use outcome::{CheckRun, Gallery, ModelRecord, Outcome, Report, Worst};
pub use plugin::{run_split, Check};
pub use result::{CheckFindings, CheckResult, Control, Findings, SignOutcome, Signs};
pub use stats::ErrorControl;
pub use verdict::Verdict;
pub use registry::{DynCheck, Registry};
pub use subject::Subject;
