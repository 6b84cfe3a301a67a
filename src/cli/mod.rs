//! The `blindspot` command line. Library errors get context here and are printed as one message
//! (what, where, how to fix) with a non-zero exit; a panic is caught and reported the same way,
//! never as a backtrace.
mod bench;
mod check;
mod common;
mod explain;
mod run;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "blindspot",
    version,
    about = "Sanity checks for saliency maps: can your CAM method see through walls?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain a batch of images with one CAM method and write the maps as .npy.
    Explain(explain::ExplainArgs),
    /// List the CAM methods with a one-line description each.
    Methods,
    /// List the built-in models.
    Models,
    /// The main job: run a suite (default: every method on STACK-SYNTH) and write its report.
    Run(run::RunArgs),
    /// Benchmark against pytorch-grad-cam, the Monte Carlo against a per-draw loop, memory.
    Bench(bench::BenchArgs),
    /// Merge shard reports (`blindspot run --shard K/N`) into one.
    Merge(run::MergeArgs),
    /// Run a sanity check (wall, theorem, randomization, …) or a suite file, with verdicts.
    Check(check::CheckArgs),
    /// Prove which input pixels a (walled) model cannot see.
    Certify(tools::CertifyArgs),
    /// Generate STACK-SYNTH images as .npy batches (and PNG files).
    Data(tools::DataArgs),
    /// Train a built-in STACK-SYNTH model (or load it from the cache) and report its accuracy.
    Train(tools::TrainArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic inside libtorch bindings must not print a backtrace: report it as one message.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| dispatch(cli));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            eprintln!(
                "error: internal failure: {}\n  fix: this is a bug in blindspot or an input it failed to validate; please report the command line",
                crate::error::first_line(&message)
            );
            ExitCode::from(101)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Explain(args) => explain::run(args),
        Command::Methods => {
            for method in crate::cam::builtin_methods() {
                println!(
                    "{:<20} {:<19} {}",
                    method.name(),
                    method.title(),
                    method.summary()
                );
            }
            Ok(())
        }
        Command::Models => {
            for (name, about) in crate::train::presets::PRESETS
                .iter()
                .chain(crate::model::zoo::BUILTINS)
            {
                println!("builtin:{name:<20} {about}");
            }
            Ok(())
        }
        Command::Run(args) => run::run(args),
        Command::Merge(args) => run::merge(args),
        Command::Bench(args) => bench::run(args),
        Command::Check(args) => check::run(args),
        Command::Certify(args) => tools::certify_cmd(args),
        Command::Data(args) => tools::data_cmd(args),
        Command::Train(args) => tools::train_cmd(args),
    }
}
