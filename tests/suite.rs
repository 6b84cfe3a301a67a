//! blindspot's test suite: one libtest-mimic harness that turns every declared case (fixture
//! parity per model × method × target mode, literal references per method, bad-input cases, …)
//! into its own trial, so `cargo test -- FILTER`, `--list`, `--ignored` work as usual.
// Case tables are tuples of their columns (name, input, what the message says), on purpose.
#![allow(clippy::type_complexity)]
mod architecture;
mod checks;
mod cli;
mod common;
mod data;
mod external;
mod faithfulness;
mod figures;
mod gates;
mod grids;
mod hostile;
mod imports;
mod npy;
mod parity;
mod precision;
mod property;
mod python;
mod reference;
mod reports;
mod security;
mod slurm;
mod tolerance;
mod training;
mod transformers;
mod trust;
mod walls;

use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Some(calls) = std::env::var(cli::MEMORY_CHILD)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return cli::memory_child(calls);
    }
    if std::env::var_os(cli::CUDA_CHILD).is_some() {
        return cli::cuda_child();
    }
    if let Ok(dir) = std::env::var(training::TRAIN_CHILD) {
        return training::train_child(&dir);
    }
    // The precision policy, before anything runs libtorch (docs/precision.md).
    if let Err(err) = blindspot::precision::init_from_env() {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
    let args = Arguments::from_args();
    common::set_arguments(&args);
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(architecture::trials());
    trials.extend(imports::trials());
    trials.extend(parity::trials());
    trials.extend(reference::trials());
    trials.extend(cli::trials());
    trials.extend(precision::trials());
    trials.extend(npy::trials());
    trials.extend(python::trials());
    trials.extend(walls::trials());
    trials.extend(data::trials());
    trials.extend(training::trials());
    trials.extend(checks::trials());
    trials.extend(faithfulness::trials());
    trials.extend(grids::trials());
    trials.extend(transformers::trials());
    trials.extend(external::trials());
    trials.extend(hostile::trials());
    trials.extend(reports::trials());
    trials.extend(security::trials());
    trials.extend(slurm::trials());
    trials.extend(figures::trials());
    trials.extend(gates::trials());
    trials.extend(tolerance::trials());
    trials.extend(trust::trials());
    trials.extend(property::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    let scratch = common::scratch_root();
    match conclusion.has_failed() {
        true => eprintln!("scratch files kept for a look: {}", scratch.display()),
        false => {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
    conclusion.exit();
}
