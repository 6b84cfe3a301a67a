//! The `blindspot` command line. Library errors get context here and are printed as one message
//! (what, where, how to fix) with a non-zero exit; a panic is caught and reported the same way,
//! never as a backtrace.
mod check;
mod common;
mod explain;
mod reliability;
mod run;
mod tools;

use crate::check::Registry;
use crate::precision::Precision;
use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "blindspot",
    version,
    about = "Sanity checks for saliency maps: can your CAM method see through walls?"
)]
struct Cli {
    /// reproducible: the same bits on every x86-64 machine with AVX2, whatever its vendor and
    /// core count, TF32 off on CUDA (the default); fast: the processor's widest kernels and TF32
    /// (docs/precision.md). Default: $BLINDSPOT_PRECISION, else reproducible.
    #[arg(long, global = true, value_enum)]
    precision: Option<Precision>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Explain a batch of images with one CAM method and write the maps as .npy.
    Explain(explain::ExplainArgs),
    /// List the CAM methods with a one-line description each.
    Methods(MethodsArgs),
    /// List the built-in models.
    Models,
    /// The main job: run a suite (default: every method on STACK-SYNTH) and write its report.
    Run(run::RunArgs),
    /// Run a suite under K seeds and report how often each verdict agrees (exit 1 when one
    /// changes with the seed).
    Reliability(reliability::ReliabilityArgs),
    /// Merge shard reports (`blindspot run --shard K/N`) into one.
    Merge(run::MergeArgs),
    /// Prove which input pixels a (walled) model cannot see.
    Certify(tools::CertifyArgs),
    /// Generate STACK-SYNTH images as .npy batches (and PNG files).
    Data(tools::DataArgs),
    /// Train a built-in STACK-SYNTH model (or load it from the cache) and report its accuracy.
    Train(tools::TrainArgs),
}

#[derive(clap::Args)]
struct MethodsArgs {
    /// One JSON array on stdout instead: each method's name, title, summary and the
    /// pytorch-grad-cam class it reproduces (null if none), as fixtures/generate.py reads it.
    #[arg(long)]
    json: bool,
}

/// One built-in method as `blindspot methods --json` lists it.
#[derive(serde::Serialize)]
struct MethodEntry<'a> {
    name: &'a str,
    title: &'a str,
    summary: &'a str,
    /// CAM, input-level or control.
    family: crate::cam::Family,
    /// The pytorch-grad-cam 1.5.7 class it reproduces map for map.
    reference: Option<&'a str>,
    /// The captum 0.9 class it reproduces attribution for attribution.
    captum_reference: Option<&'a str>,
    /// Whether it needs the model's layers one by one (built-in models only).
    requires_steps: bool,
    /// Whether `NAME-eigen-smooth` exists (pytorch-grad-cam's `eigen_smooth`).
    eigen_smooth: bool,
}

/// Entry point of the binary. `blindspot check` is built from the check registry (one
/// subcommand per check); the other subcommands are derived.
pub fn main() -> ExitCode {
    ExitCode::from(main_from(std::env::args_os()))
}

/// The command line on `args` (the program's name first), as the binary runs it, returning the
/// exit code (docs/cli.md): the Python wheel's `blindspot` command calls this in its own process.
pub fn main_from<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::process::install_signal_handlers();
    let registry = Registry::builtin();
    let matches = Cli::command()
        .subcommand(check::command(&registry))
        .subcommand(check::prop_command(&registry))
        .try_get_matches_from(args);
    let matches = match matches {
        Ok(matches) => matches,
        Err(e) => return clap_exit(e),
    };
    // A panic inside libtorch bindings must not print a backtrace: report it as one message.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // Before anything runs libtorch: its libraries read the policy once.
        match matches.get_one::<Precision>("precision") {
            Some(mode) => crate::precision::init(*mode),
            None => crate::precision::init_from_env(),
        }?;
        match matches.subcommand() {
            Some(("check", sub)) => check::run(&registry, sub),
            Some(("prop", sub)) => check::run_prop(&registry, sub),
            _ => dispatch(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())),
        }
    }));
    // An interruption is reported as one (exit 128 + signal), even when the main thread saw the
    // killed external command fail first.
    crate::process::stop_if_interrupted();
    // Exit codes (docs/cli.md): 0 every verdict as expected, 1 a verdict not as expected,
    // 2 usage or input errors (clap's own usage errors exit 2 too), 101 an internal failure.
    match outcome {
        Ok(Ok(true)) => 0,
        Ok(Ok(false)) => 1,
        Ok(Err(err)) => {
            // Names in messages come from users and files: no control character reaches the
            // terminal (docs/cli.md, security model).
            let mut text = crate::report::escape::printable(&shorten(&format!("{err:#}")));
            if !text.contains("\n  fix:") {
                // Every message says how to fix it: a file-system error says what to look at.
                let fix = match err.chain().any(|e| e.is::<std::io::Error>() || is_io(e)) {
                    true => {
                        "check that the path exists, is the kind of file or folder asked \
                             for, and is writable where blindspot writes"
                    }
                    false => "see `blindspot --help` and docs/cli.md",
                };
                text.push_str(&format!("\n  fix: {fix}"));
            }
            crate::io::note!("error: {text}");
            2
        }
        Err(panic) => {
            let message = crate::error::panic_message(panic.as_ref());
            // stdout closed by a reader (`blindspot methods | head -c 10`): a quiet exit, with
            // the code a shell gives a process SIGPIPE ended; stdout unwritable (a full disk,
            // /dev/full): an error like any other write.
            if let Some(why) = message.strip_prefix("failed printing to stdout: ") {
                if why.contains("Broken pipe") {
                    return 141;
                }
                crate::io::note!(
                    "error: cannot write to standard output: {why}\n  where: stdout\n  fix: \
                     redirect the output to a file or a device with room"
                );
                return 2;
            }
            crate::io::note!(
                "error: internal failure: {}\n  fix: this is a bug in blindspot or an input it \
                 failed to validate; please report the command line",
                // A libtorch error inside an unwrap's Debug text carries its C++ backtrace
                // after an escaped newline.
                crate::error::first_line(&message)
                    .split("\\n")
                    .next()
                    .unwrap_or("")
            );
            101
        }
    }
}

/// clap's help, version and usage errors with the documented exit codes: help or version that
/// cannot be written to stdout is 141 on a closed pipe and 2 otherwise (a full disk), not 0.
fn clap_exit(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    use std::io::Write as _;
    let printed = e.print().and_then(|_| std::io::stdout().flush());
    let to_stdout = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    match (to_stdout, printed) {
        (true, Err(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => 141,
        (true, Err(err)) => {
            crate::io::note!(
                "error: cannot write to standard output: {err}\n  where: stdout\n  fix: \
                 redirect the output to a file or a device with room"
            );
            2
        }
        _ => e.exit_code().clamp(0, 255) as u8,
    }
}

fn is_io(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<crate::error::Error>(),
        Some(crate::error::Error::Io { .. })
    )
}

fn dispatch(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Methods(args) => {
            let methods = crate::cam::builtin_methods(&crate::seed::Seeds::new(0));
            if args.json {
                let entries: Vec<MethodEntry> = methods
                    .iter()
                    .map(|m| MethodEntry {
                        name: m.name(),
                        title: m.title(),
                        summary: m.summary(),
                        family: m.family(),
                        reference: m.reference(),
                        captum_reference: m.captum_reference(),
                        requires_steps: m.requires_steps(),
                        eigen_smooth: m.has_channel_maps(),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(true);
            }
            use crate::cam::Family;
            let groups = [
                (Family::Cam, "CAM methods (the explained layer)"),
                (Family::InputLevel, "Input-level methods (the input pixels)"),
                (Family::Control, "Negative controls"),
            ];
            for (i, (family, heading)) in groups.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{heading}:");
                for method in methods.iter().filter(|m| m.family() == *family) {
                    let reference = match (method.reference(), method.captum_reference()) {
                        (Some(class), _) => format!("  [pytorch-grad-cam {class}]"),
                        (None, Some(class)) => format!("  [captum {class}]"),
                        (None, None) => String::new(),
                    };
                    println!(
                        "  {:<20} {:<19} {}{reference}",
                        method.name(),
                        method.title(),
                        method.summary()
                    );
                }
            }
            let smoothable: Vec<&str> = methods
                .iter()
                .filter(|m| m.has_channel_maps())
                .map(|m| m.name())
                .collect();
            println!(
                "\npytorch-grad-cam's eigen_smooth: NAME-eigen-smooth, for {}",
                smoothable.join(", ")
            );
            Ok(true)
        }
        Command::Models => {
            let zoo = crate::model::zoo::BUILTINS;
            for (name, about) in crate::train::presets::PRESETS.iter().chain(zoo) {
                println!("builtin:{name:<20} {about}");
            }
            Ok(true)
        }
        Command::Run(args) => run::run(args),
        Command::Reliability(args) => reliability::run(args),
        Command::Merge(args) => run::merge(args),
        Command::Explain(args) => explain::run(args).map(|_| true),
        Command::Certify(args) => tools::certify_cmd(args).map(|_| true),
        Command::Data(args) => tools::data_cmd(args).map(|_| true),
        Command::Train(args) => tools::train_cmd(args).map(|_| true),
    }
}

/// A message cut to 4,000 characters a line: an error may quote a user's input, which may be
/// of any size (a 50 MB line in a suite).
fn shorten(text: &str) -> String {
    const LINE: usize = 4_000;
    text.lines()
        .map(|line| match line.char_indices().nth(LINE) {
            None => line.to_string(),
            Some((at, _)) => format!(
                "{}… ({} more characters)",
                &line[..at],
                line[at..].chars().count()
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
