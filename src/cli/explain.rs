//! `blindspot explain`: one method, one model, one batch of images → maps .npy.
use crate::cam::pipeline::{ensure_live_layer, validate_input};
use crate::cam::{explain_batched, method_named};
use crate::error::Error;
use crate::io::npy::{self, DType};
use crate::seed::Seeds;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub model: super::common::ModelArgs,
    /// Images, float32 [N, C, H, W], already normalised.
    #[arg(long)]
    pub input: PathBuf,
    /// The method's command-line name (see `blindspot methods`).
    #[arg(long)]
    pub method: String,
    /// One target class per image, int64 \[N\]; default: the argmax class.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Where to write the maps, float32 [N, H, W] in [0, 1].
    #[arg(long)]
    pub out: PathBuf,
    /// Images per forward/backward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: i64,
    /// Run seed of random methods (RandomCAM's stream `method/randomcam`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print where the process's time went on stderr (start-up and libraries, device, model,
    /// input, explain, write).
    #[arg(long)]
    pub timings: bool,
}

/// `--timings`: seconds per stage of the process.
struct Stages {
    last: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Stages {
    /// Starts timing; the first stage is the time from the process's start until now (the
    /// dynamic loading of libtorch, argument parsing), read from /proc at 10 ms resolution.
    fn new() -> Self {
        let mut done = Vec::new();
        if let Some(seconds) = seconds_since_process_start() {
            done.push(("start", seconds));
        }
        Stages {
            last: Instant::now(),
            done,
        }
    }

    fn mark(&mut self, stage: &'static str) {
        let now = Instant::now();
        self.done.push((stage, (now - self.last).as_secs_f64()));
        self.last = now;
    }

    fn line(&self) -> String {
        let total: f64 = self.done.iter().map(|(_, s)| s).sum();
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(n, s)| format!("{n} {s:.3} s"))
            .collect();
        format!("timings: {}, total {total:.3} s", parts.join(", "))
    }
}

/// Seconds since this process started (Linux: /proc/self/stat's start time against
/// /proc/uptime, in clock ticks); None elsewhere.
fn seconds_since_process_start() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let after = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks > 0.0).then(|| (uptime - start_ticks / ticks).max(0.0))
}

/// Reads an `.npy` array given by `flag`, whose element type must be one of `expected`.
fn read_array(path: &Path, flag: &str, expected: &[DType], want: &str) -> Result<Tensor> {
    npy::read_as(path, flag, expected, want)
        .with_context(|| format!("reading {flag} {}", path.display()))
}

pub fn run(args: ExplainArgs) -> Result<()> {
    crate::limits::int("--batch-size", args.batch_size, 1, 4096)
        .map_err(|e| Error::input(e, "blindspot explain", "e.g. --batch-size 64"))?;
    let mut stages = Stages::new();
    crate::io::refuse_special(&args.out)?;
    let method = method_named(&args.method, &Seeds::new(args.seed))?;
    args.model.device()?;
    stages.mark("device");
    let model = args.model.open()?;
    stages.mark("model");
    let x = read_array(
        &args.input,
        "--input",
        &[DType::F32],
        "float32 [N, C, H, W]",
    )?;
    let place = format!("--input {}", args.input.display());
    validate_input(&x, model.as_ref(), &place)?;
    ensure_live_layer(&x, model.as_ref(), &place)?;
    let targets = match &args.targets {
        Some(path) => {
            let t = read_array(path, "--targets", &[DType::I64, DType::I32], "int64 [N]")?;
            if t.dim() != 1 {
                return Err(Error::input(
                    format!(
                        "--targets {} has shape {:?}; expected [N]",
                        path.display(),
                        t.size()
                    ),
                    path.display().to_string(),
                    "save one class index per image as a 1-D int64 array",
                )
                .into());
            }
            Some(t.to_kind(Kind::Int64))
        }
        None => None,
    };
    stages.mark("input");
    let explanation = explain_batched(
        method.as_ref(),
        model.as_ref(),
        &x,
        targets.as_ref(),
        args.batch_size,
    )
    .with_context(|| {
        format!(
            "explaining {} with {}",
            args.input.display(),
            method.title()
        )
    })?;
    // On a GPU the work is asynchronous: the copy to the host waits for it.
    let maps = explanation.maps.to_device(tch::Device::Cpu);
    stages.mark("explain");
    npy::write(&args.out, &maps)
        .with_context(|| format!("writing --out {}", args.out.display()))?;
    stages.mark("write");
    crate::io::note!(
        "{}: {} map(s) of {}x{} written to {}",
        method.title(),
        explanation.maps.size()[0],
        explanation.maps.size()[1],
        explanation.maps.size()[2],
        args.out.display()
    );
    if args.timings {
        crate::io::note!("{}", stages.line());
    }
    Ok(())
}
