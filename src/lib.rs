//! blindspot: a sanity-check testing framework for saliency maps.
//!
//! * [`model`]: split models (`features` / `head`), the built-in zoo, TorchScript models.
//! * [`cam`]: CAM methods, one file each, and the shared pytorch-grad-cam-exact pipeline.
//! * [`check`]: sanity checks with verdicts and their statistics, typed results, the runner,
//!   suites.
//! * [`report`]: renderers of a run's report: terminal table, Markdown, JUnit, badges, figures.
//! * [`harness`]: `cargo test` gating of a method (libtest-mimic).
//! * [`data`]: STACK-SYNTH and image folders.
//! * [`train`]: in-process training, the trained-model cache and the trained presets.
//! * [`io`]: `.npy` arrays and atomic writes.
//! * [`seed`]: the one seed policy (named random streams); [`precision`]: the precision policy
//!   (the same bits on every x86-64 machine).
//! * [`limits`]: parameter ranges and the memory budget; [`process`]: child processes and
//!   signals.
//! * [`cli`]: the `blindspot` command line.
/// `eprintln!` that never panics: progress and notes go to stderr, and a closed or full stderr
/// (`2>&1 | head -1`, `2>/dev/full`) must not end a run whose results go to files. What cannot
/// be written is dropped.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see [`note!`]).
#[macro_export]
macro_rules! note_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cam;
pub mod check;
pub mod cli;
pub mod data;
pub mod device;
pub mod error;
pub mod harness;
pub mod io;
pub mod limits;
pub mod model;
pub mod precision;
pub mod process;
pub mod progress;
pub mod report;
pub mod seed;
pub mod train;

pub use cam::{CamContext, CamMethod, Explanation};
pub use error::{Error, Result};
pub use model::SplitModel;

use model::wall::{RowRange, Walled};
use model::ModelOptions;
use tch::Device;

/// Opens any model specification: `builtin:stack-*` (trained on first use, cached), another
/// `builtin:NAME` (an architecture with seeded random or loaded weights), or a TorchScript file;
/// wrapped in a post-hoc wall when `options.mask_rows` is given.
pub fn open_model(
    spec: &str,
    device: Device,
    options: &ModelOptions,
) -> Result<Box<dyn SplitModel>> {
    // The row range is parsed first: a typo must not cost a training.
    let rows = options
        .mask_rows
        .as_deref()
        .map(RowRange::parse)
        .transpose()?;
    let model = open_unwalled(spec, device, options)?;
    Ok(match rows {
        Some(rows) => Box::new(Walled::new(model, rows)),
        None => model,
    })
}

fn open_unwalled(
    spec: &str,
    device: Device,
    options: &ModelOptions,
) -> Result<Box<dyn SplitModel>> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        if let Some(trained) = train::presets::open(name, options.seed, device)? {
            if options.weights.is_some() {
                return Err(Error::input(
                    format!("{spec} is trained by blindspot and takes no --weights"),
                    spec,
                    "drop --weights, or load them into an architecture such as builtin:small-vgg",
                ));
            }
            return Ok(Box::new(trained.model));
        }
    }
    model::zoo::open(spec, device, options).map_err(|e| match e {
        Error::Unknown { kind, name, known } => {
            let presets: Vec<String> = train::presets::PRESETS
                .iter()
                .map(|(n, _)| format!("builtin:{n}"))
                .collect();
            Error::Unknown {
                kind,
                name,
                known: format!("{}, {known}", presets.join(", ")),
            }
        }
        other => other,
    })
}
