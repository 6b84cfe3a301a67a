//! blindspot: a sanity-check testing framework for saliency maps (CAM methods).
//!
//! CAM methods explain image classifiers, and they can lie: on a network that provably cannot see
//! the bottom of its input, most of them still paint saliency there ("CAM-Based Methods Can See
//! Through Walls"). blindspot turns that result and the randomization tests of the literature
//! into checks with verdicts — pass, fail or inconclusive — and the statistics behind them.
//!
//! This page is the whole public API: the library's modules are private, and the few types below
//! are what a method author, a check author and a suite runner use. docs/ in the repository holds
//! the rest (checks and their statistics, the report schema, the command line).
//!
//! # Gate a method from `cargo test`
//!
//! Implement [`CamMethod`] (the raw map from a layer's activations and gradients) and hand it to
//! a [`SanityHarness`]: every check of a suite becomes a trial that passes when the method gets
//! the expected [`Verdict`]. In `tests/sanity.rs`, with `harness = false` for that test target:
//!
//! ```no_run
//! use blindspot::{weighted_sum, CamContext, CamMethod, SanityHarness, Verdict};
//! use tch::{Kind, Tensor};
//!
//! /// GradCAM with positive gradients: w_k = mean_ij max(dy_c/dA_k(i,j), 0), cam = Σ_k w_k A_k.
//! struct PosGradCam;
//!
//! impl CamMethod for PosGradCam {
//!     fn name(&self) -> &str { "pos-gradcam" }
//!     fn title(&self) -> &str { "PosGradCAM" }
//!     fn summary(&self) -> &str { "GradCAM with the gradient's positive part" }
//!     fn raw_map(&self, ctx: &CamContext) -> blindspot::Result<Tensor> {
//!         let weights = ctx.grads()?.relu().mean_dim([2, 3].as_slice(), false, Kind::Float);
//!         Ok(weighted_sum(&weights, ctx.activations))
//!     }
//! }
//!
//! fn main() {
//!     SanityHarness::new(PosGradCam)
//!         .suite("default")
//!         .expect("::wall::", Verdict::Fail) // a known limitation, asserted
//!         .run();
//! }
//! ```
//!
//! # Explain, and compare with the built-in methods
//!
//! [`builtin_methods`] lists the thirteen built-in methods (the one list every test, benchmark
//! and fixture generator reads); [`explain`] runs one on a [`SplitModel`] through the
//! pytorch-grad-cam pipeline (target = the predicted class, ReLU, resize, min-max).
//!
//! ```
//! use blindspot::{builtin_methods, explain, open_model, ModelOptions, Seeds};
//! use tch::{Device, Kind, Tensor};
//!
//! # fn main() -> blindspot::Result<()> {
//! // An architecture of the zoo with seeded random weights (no training, no download).
//! let model = open_model("builtin:small-vgg", Device::Cpu, &ModelOptions::default())?;
//! tch::manual_seed(0);
//! let images = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
//! for method in builtin_methods(&Seeds::new(0)) {
//!     let e = explain(method.as_ref(), model.as_ref(), &images, None)?;
//!     assert_eq!(e.maps.size(), [2, 64, 64]);
//!     assert!(e.maps.max().double_value(&[]) <= 1.0);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Write a check
//!
//! A [`Check`] is a struct whose fields are its parameters (serde for suites, clap for
//! `blindspot check NAME`); register it in a [`Registry`] and suites, the command line, reports
//! and the harness all know it. Its verdicts come from the run's error rate
//! ([`CheckContext::alpha`]) through the shared rules ([`judge_below`], [`judge_above`]):
//!
//! ```
//! use blindspot::{
//!     explain, judge_below, CamMethod, Check, CheckContext, CheckFindings, CheckResult,
//!     Findings, Outcome, Subject, Threshold,
//! };
//! use serde::{Deserialize, Serialize};
//! use tch::Kind;
//!
//! /// Its own numbers in each result (typed; the report keeps them).
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! struct SaturationFindings {
//!     mostly_saturated: usize,
//! }
//!
//! impl CheckFindings for SaturationFindings {}
//!
//! /// Is a large share of each map's pixels at the map's maximum?
//! #[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
//! struct Saturation {
//!     #[command(flatten)]
//!     #[serde(flatten)]
//!     subject: Subject,
//! }
//!
//! impl Check for Saturation {
//!     const NAME: &'static str = "saturation";
//!     const ABOUT: &'static str = "Share of each map's pixels at its maximum";
//!     type Findings = SaturationFindings;
//!
//!     fn subject(&self) -> Option<&Subject> { Some(&self.subject) }
//!     fn subject_mut(&mut self) -> Option<&mut Subject> { Some(&mut self.subject) }
//!
//!     fn run(
//!         &self,
//!         methods: &[Box<dyn CamMethod>],
//!         ctx: &CheckContext,
//!     ) -> blindspot::Result<Outcome> {
//!         let model = self.subject.open(ctx)?;
//!         let images = self.subject.images(model.as_ref(), ctx)?;
//!         let mut results = Vec::new();
//!         for method in methods {
//!             let e = explain(method.as_ref(), model.as_ref(), &images, None)?;
//!             let shares = e.maps.ge(0.99).to_kind(Kind::Double).mean_dim(
//!                 [1, 2].as_slice(), false, Kind::Double);
//!             let shares = Vec::<f64>::try_from(&shares).expect("a vector of doubles");
//!             let bar = Threshold { value: 0.5, inclusive: false };
//!             let (verdict, stats) = judge_below(&shares, ctx.alpha(), bar);
//!             let mostly_saturated = shares.iter().filter(|&&s| s >= 0.5).count();
//!             let findings = Findings::new(SaturationFindings { mostly_saturated });
//!             results.push(CheckResult::new(
//!                 Self::NAME, method.as_ref(), verdict, stats, findings));
//!         }
//!         Ok(Outcome::new(results))
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! # Run a suite
//!
//! A [`Suite`] (TOML: the checks, the methods, what each is expected to get) runs through the one
//! runner and gives a [`Report`], which [`write_report`] renders as report.json, report.md,
//! report.html, junit.xml, badges and figures:
//!
//! ```
//! use blindspot::{write_report, Registry, Suite, Verdict};
//! use std::path::Path;
//! use tch::Device;
//!
//! # fn main() -> blindspot::Result<()> {
//! let suite = Suite::parse(
//!     r#"
//!     name = "tour"
//!     methods = ["gradcam", "sobel"]
//!
//!     [[checks]]
//!     check = "class-sensitivity"
//!     model = "builtin:small-vgg"
//!     data = { synthetic = 8 }
//!     "#,
//!     "the tour's suite",
//!     Path::new("."),
//!     &Registry::builtin(),
//! )?;
//! let run = suite.run(Device::Cpu, None)?;
//! // Sobel's maps do not depend on the model, so they cannot tell two classes apart.
//! let sobel = run.report.results.iter().find(|r| r.method == "sobel").unwrap();
//! assert_eq!(sobel.verdict, Verdict::Fail);
//! let out = std::env::temp_dir().join(format!("blindspot-tour-{}", std::process::id()));
//! let written = write_report(&run.report, run.galleries.first(), &out)?;
//! assert!(written.iter().any(|f| f.ends_with("report.json")));
//! # std::fs::remove_dir_all(&out).ok();
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! `internals` opens the private modules to blindspot's own test harness, benchmarks and Python
//! extension. It is not an API: nothing behind it is documented or kept stable.
#![cfg_attr(not(feature = "internals"), deny(missing_docs))]

/// The library's modules: private, opened by the `internals` feature to blindspot's own tests,
/// benchmarks and Python extension.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal_modules!(
    cam, check, cli, data, device, error, harness, io, limits, model, open, process, progress,
    report, seed, train,
);

pub mod chart;
pub mod frontend;
pub mod precision;

pub use cam::{builtin_methods, explain, method_named, weighted_channels, weighted_sum};
pub use cam::{CamContext, CamMethod, Explanation, Family, Origin, Reading};
pub use check::request::{Request, Target, EXTERNAL_TIMEOUT};
pub use check::runner::Run;
pub use check::stats::{judge_above, judge_below, Summary, Threshold};
pub use check::suite::Suite;
pub use check::timing::{CheckTime, MethodTime, Timing};
pub use check::{
    run_split, Check, CheckContext, CheckFindings, CheckResult, CheckRun, ErrorControl, Findings,
    Gallery, ModelRecord, Outcome, Registry, Report, Signs, Subject, Verdict, Worst,
    FAMILY_WISE_ERROR,
};
pub use check::{Control, SignOutcome};
pub use data::folder::Preprocess;
pub use data::DataSpec;
pub use error::{Error, Result};
pub use harness::{SanityHarness, TrialOutcome};
pub use model::{ModelOptions, ParameterGroup, SplitModel, Step, Steps};
pub use open::open_model;
pub use progress::{observe, Observer, Progress, ProgressSink};
pub use report::write_report;
pub use seed::{Seeds, Stream};

/// The `blindspot` command line on the process's arguments (the binary's `main` is this one
/// call); returns the exit code documented in docs/cli.md.
pub fn command_line() -> std::process::ExitCode {
    cli::main()
}
