//! `make bench` (`cargo bench --bench compare -- ARGS`): blindspot against pytorch-grad-cam 1.5.7
//! on the same weights, inputs, device and thread count; the Theorem 1 Monte Carlo against a
//! per-draw loop; the wall time of `blindspot run`. A benchmark, not a test: it reports, it does
//! not fail on speed. (The memory check over repeated explain calls is the test
//! `cli::memory_does_not_grow_over_1000_explain_calls`.)
// Case tables are tuples of their columns (label, size, the run), on purpose.
#![allow(clippy::type_complexity)]
use anyhow::{Context, Result};
use blindspot::cam::{builtin_methods, explain, method_named};
use blindspot::check::property::{
    positivity::PropPositivityCheck, theorem::PropTheoremCheck, wall::PropWallCheck,
};
use blindspot::check::theorem::sampler::Sampler;
use blindspot::check::{Check, CheckContext};
use blindspot::device::{device_name, parse_device};
use blindspot::io::npy;
use blindspot::model::export::{python, save_split};
use blindspot::model::init::Init;
use blindspot::model::rcnn::{Rcnn, RcnnConfig, RcnnDraws};
use blindspot::model::vgg::VggConfig;
use blindspot::model::{ModelOptions, SplitModel};
use blindspot::seed::Stream;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

#[derive(Parser)]
#[command(
    name = "make bench",
    about = "blindspot against pytorch-grad-cam, side by side"
)]
struct BenchArgs {
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Skip the masked VGG16 (slow on a CPU).
    #[arg(long)]
    no_vgg16: bool,
    /// Skip the Theorem 1 Monte Carlo.
    #[arg(long)]
    no_theorem: bool,
    /// Skip the property runs (cases per second).
    #[arg(long)]
    no_properties: bool,
    /// Skip timing `blindspot run` (the main job, default suite).
    #[arg(long)]
    no_run: bool,
    /// Benchmark blindspot on the TorchScript file pytorch-grad-cam loads (the model exported as
    /// a user would script it: plain PyTorch modules, no channels-last, no folding) instead of
    /// the built-in model, in-process and as whole `blindspot explain` processes against whole
    /// pytorch-grad-cam scripts.
    #[arg(long)]
    torchscript: bool,
    /// ScoreCAM's masked inputs per forward to sweep (comma-separated, e.g. 16,64,256), timed on
    /// blindspot's side after the comparison; default: no sweep.
    #[arg(long, value_delimiter = ',')]
    scorecam_chunks: Vec<i64>,
    /// Only these methods (comma-separated blindspot names; default: every method with a
    /// pytorch-grad-cam counterpart).
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Where to write bench.json.
    #[arg(long, default_value = "out/bench")]
    out: PathBuf,
    /// What `cargo bench` passes to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

/// (blindspot name, pytorch-grad-cam class) of every built-in method with a counterpart there
/// ([`blindspot::CamMethod::reference`]), in `blindspot methods` order.
fn pairs() -> Vec<(String, String)> {
    builtin_methods(&blindspot::Seeds::new(0))
        .iter()
        .filter_map(|m| Some((m.name().to_string(), m.reference()?.to_string())))
        .collect()
}

fn perturbation(method: &str) -> bool {
    matches!(method, "scorecam" | "ablationcam")
}

/// A measurement in items per second over repetitions: median, slowest and fastest.
#[derive(Clone, Copy)]
struct Rate {
    median: f64,
    low: f64,
    high: f64,
}

impl Rate {
    /// From the seconds each repetition took to process `items`.
    fn of(items: f64, seconds: &[f64]) -> Rate {
        let mut rates: Vec<f64> = seconds.iter().map(|s| items / s).collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        Rate {
            median: rates[rates.len() / 2],
            low: rates[0],
            high: rates[rates.len() - 1],
        }
    }

    /// "median (low–high)", three significant digits.
    fn show(&self) -> String {
        format!(
            "{} ({}-{})",
            sig3(self.median),
            sig3(self.low),
            sig3(self.high)
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"median": self.median, "min": self.low, "max": self.high})
    }
}

/// `x` with three significant digits (0.0125, 2.58, 1290).
fn sig3(x: f64) -> String {
    let digits = if x > 0.0 {
        (2 - x.log10().floor() as i64).max(0) as usize
    } else {
        1
    };
    format!("{x:.digits$}")
}

/// Runs `f` once as a warm-up, then `reps` times; the seconds of each repetition.
fn timed(reps: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<Vec<f64>> {
    f()?;
    let mut seconds = Vec::new();
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

struct Setup {
    label: &'static str,
    spec: &'static str,
    images: i64,
    size: i64,
    /// Images for the perturbation methods (ScoreCAM, AblationCAM) where the full batch is too
    /// slow.
    perturbation_images: i64,
    reps: usize,
    /// Repetitions of the perturbation methods.
    perturbation_reps: usize,
}

impl Setup {
    fn reps(&self, method: &str) -> usize {
        if perturbation(method) {
            self.perturbation_reps
        } else {
            self.reps
        }
    }
}

fn main() -> Result<()> {
    let args = BenchArgs::parse();
    // Before libtorch runs: blindspot's precision policy (BLINDSPOT_PRECISION, reproducible by
    // default), which the child processes (pytorch-grad-cam's side, `blindspot run`) inherit
    // through the environment; the matmul peak below is measured in the same precision.
    let precision = blindspot::precision::init_from_env()?;
    let device = parse_device(&args.device)?;
    let threads = tch::get_num_threads();
    std::fs::create_dir_all(&args.out)?;
    println!(
        "blindspot bench: device {}, {threads} thread(s), precision {} on both sides, median of {} \
         repetitions after a warm-up",
        device_name(device),
        precision.summary(),
        args.reps
    );
    let mut setups = vec![Setup {
        label: "small VGG 64x64, batch 32",
        spec: "builtin:small-vgg",
        images: 32,
        size: 64,
        perturbation_images: 32,
        reps: args.reps,
        perturbation_reps: args.reps,
    }];
    if !args.no_vgg16 {
        // On a CPU the perturbation methods take one to two minutes per image in
        // pytorch-grad-cam.
        let (few, few_reps) = if device == Device::Cpu {
            (1, 1)
        } else {
            (8, args.reps)
        };
        setups.push(Setup {
            label: "masked VGG16 224x224, batch 8",
            spec: "builtin:vgg16-masked",
            images: 8,
            size: 224,
            perturbation_images: few,
            reps: args.reps,
            perturbation_reps: few_reps,
        });
    }
    let hardware = Hardware::measure(device);
    println!(
        "hardware: matmul peak {:.1} GFLOP/s (2048x2048 float), memory copy {:.1} GB/s (256 MB \
         tensor, read + write)",
        hardware.matmul_flops / 1e9,
        hardware.copy_bytes / 1e9
    );
    let mut json = serde_json::Map::new();
    json.insert(
        "matmul_gflops".into(),
        serde_json::json!(hardware.matmul_flops / 1e9),
    );
    json.insert(
        "copy_gb_per_s".into(),
        serde_json::json!(hardware.copy_bytes / 1e9),
    );
    for setup in &setups {
        let (rows, bound) = compare(setup, &args, device, &hardware)?;
        if let Some(bound) = bound {
            let key = format!("{}_scorecam_bound_images_per_s", setup.spec);
            json.insert(key, serde_json::json!(bound));
        }
        json.insert(setup.spec.into(), serde_json::Value::Array(rows));
        if args.torchscript {
            let key = format!("{}_whole_process", setup.spec);
            json.insert(key, whole_process(setup, &args, device)?);
        }
    }
    if !args.no_theorem {
        json.insert("theorem".into(), theorem(device, args.reps, &hardware)?);
    }
    if !args.no_properties {
        json.insert("properties".into(), properties(device, args.reps)?);
    }
    if !args.no_run {
        json.insert("run".into(), time_main_job(&args)?);
    }
    json.insert("device".into(), serde_json::json!(device_name(device)));
    json.insert("threads".into(), serde_json::json!(threads));
    json.insert("precision".into(), serde_json::to_value(precision)?);
    let path = args.out.join("bench.json");
    blindspot::io::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    println!("\nwrote {}", path.display());
    Ok(())
}

/// The methods `--methods` selects, with the spec bench_pgc.py reads for each
/// (`ScoreCAM:IMAGES:REPS` for the perturbation methods).
fn selected(setup: &Setup, methods: &[String]) -> Result<Vec<(String, String)>> {
    let all = pairs();
    let pairs: Vec<(String, String)> = all
        .iter()
        .filter(|(ours, _)| methods.is_empty() || methods.contains(ours))
        .cloned()
        .collect();
    if pairs.is_empty() {
        anyhow::bail!(
            "--methods {} names none of the benchmarked methods ({})",
            methods.join(","),
            all.iter()
                .map(|p| p.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(pairs
        .into_iter()
        .map(|(ours, theirs)| match perturbation(&ours) {
            true => (
                ours,
                format!(
                    "{theirs}:{}:{}",
                    setup.perturbation_images, setup.perturbation_reps
                ),
            ),
            false => (ours, theirs),
        })
        .collect())
}

/// `tf32` or `fp32`: the CUDA precision blindspot computes with, for pytorch-grad-cam's side.
fn tf32() -> &'static str {
    if blindspot::precision::record().cuda_tf32 {
        "tf32"
    } else {
        "fp32"
    }
}

/// pytorch-grad-cam's timings of `specs` on the exported model and inputs in `dir`.
/// Same device, same threads, same precision (TF32 off unless blindspot's fast mode is on).
fn pytorch_grad_cam(
    dir: &Path,
    setup: &Setup,
    device: Device,
    specs: &[&String],
) -> Result<serde_json::Value> {
    let output = std::process::Command::new(python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/bench_pgc.py"))
        .arg(dir.join("model.pt"))
        .arg(dir.join("inputs.npy"))
        .arg(dir.join("targets.npy"))
        .arg(tch::get_num_threads().to_string())
        .arg(setup.reps.to_string())
        .arg(device_name(device))
        .arg(tf32())
        .args(specs)
        .output()
        .context("running python/bench_pgc.py (needs the venv: run `make bench`)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "python/bench_pgc.py failed: {}",
            stderr.lines().last().unwrap_or("")
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// One model's side-by-side table: a JSON row per method, and the ScoreCAM bound when ScoreCAM
/// ran on a VGG.
fn compare(
    setup: &Setup,
    args: &BenchArgs,
    device: Device,
    hardware: &Hardware,
) -> Result<(Vec<serde_json::Value>, Option<f64>)> {
    let model = blindspot::open_model(setup.spec, device, &ModelOptions::default())?;
    let x = Init::new(1, Device::Cpu).normal(&[setup.images, 3, setup.size, setup.size], 1.0);
    let logits = tch::no_grad(|| model.forward(&x.to_device(device)))?;
    let targets = logits.argmax(1, false).to_device(Device::Cpu);
    let dir = args.out.join(setup.spec.trim_start_matches("builtin:"));
    std::fs::create_dir_all(&dir)?;
    save_split(model.as_ref(), &x.narrow(0, 0, 1), &dir.join("model.pt"))
        .context("exporting the model for pytorch-grad-cam")?;
    npy::write(&dir.join("inputs.npy"), &x)?;
    npy::write(&dir.join("targets.npy"), &targets)?;
    let methods = selected(setup, &args.methods)?;
    let specs: Vec<&String> = methods.iter().map(|(_, spec)| spec).collect();
    let theirs = pytorch_grad_cam(&dir, setup, device, &specs)?;
    let (model, kind) = match args.torchscript {
        true => {
            let path = dir.join("model.pt");
            let spec = path.to_str().context("a UTF-8 output path")?;
            let scripted = blindspot::open_model(spec, device, &ModelOptions::default())?;
            (scripted, "TorchScript file, both sides")
        }
        false => (
            model,
            "blindspot's built-in model; pytorch-grad-cam its TorchScript export",
        ),
    };
    println!(
        "\n{} ({kind}): images per second, median (slowest-fastest) of {} repetitions ({} for \
         ScoreCAM and AblationCAM)\n{:<14} {:>6} {:>24} {:>24} {:>7}",
        setup.label,
        setup.reps,
        setup.perturbation_reps,
        "method",
        "images",
        "blindspot",
        "pytorch-grad-cam",
        "ratio"
    );
    let mut rows = Vec::new();
    for (ours, spec) in &methods {
        let n = theirs[spec]["images"]
            .as_i64()
            .context("bench_pgc.py: no image count")?;
        let method = method_named(ours, &blindspot::Seeds::new(0))?;
        let (xs, ts) = (x.narrow(0, 0, n), targets.narrow(0, 0, n));
        let one = (xs.narrow(0, 0, 1), ts.narrow(0, 0, 1));
        explain(method.as_ref(), model.as_ref(), &one.0, Some(&one.1))?;
        let ours_s = timed(setup.reps(ours), &mut || {
            let e = explain(method.as_ref(), model.as_ref(), &xs, Some(&ts))?;
            let _ = e.maps.sum(tch::Kind::Float).double_value(&[]);
            Ok(())
        })?;
        let theirs_s: Vec<f64> = theirs[spec]["seconds"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
            .unwrap_or_default();
        if theirs_s.is_empty() {
            anyhow::bail!("python/bench_pgc.py reported no timing for {spec}");
        }
        let (a, b) = (Rate::of(n as f64, &ours_s), Rate::of(n as f64, &theirs_s));
        let ratio = a.median / b.median;
        println!(
            "{:<14} {:>6} {:>24} {:>24} {:>6.1}x",
            ours,
            n,
            a.show(),
            b.show(),
            ratio
        );
        rows.push(
            serde_json::json!({"method": ours, "images": n, "model": kind,
            "blindspot_images_per_s": a.json(), "pgc_images_per_s": b.json(), "ratio": ratio}),
        );
    }
    if !args.scorecam_chunks.is_empty() {
        let n = setup.perturbation_images;
        let (xs, ts) = (x.narrow(0, 0, n), targets.narrow(0, 0, n));
        let auto = blindspot::cam::scorecam::ScoreCam::default()
            .chunk_size(device, setup.size, setup.size);
        println!("ScoreCAM chunk sweep ({n} images; the automatic chunk here is {auto}):");
        for &chunk in &args.scorecam_chunks {
            let method = blindspot::cam::scorecam::ScoreCam {
                batch_size: Some(chunk),
            };
            let seconds = timed(setup.perturbation_reps, &mut || {
                let e = explain(&method, model.as_ref(), &xs, Some(&ts))?;
                let _ = e.maps.sum(tch::Kind::Float).double_value(&[]);
                Ok(())
            })?;
            println!(
                "  {chunk:>5} masked inputs per forward: {} images/s",
                Rate::of(n as f64, &seconds).show()
            );
        }
    }
    let scorecam = methods.iter().any(|(ours, _)| *ours == "scorecam");
    let bound = match scorecam {
        true => scorecam_bound(model.as_ref(), &x, setup, device, hardware)?,
        false => None,
    };
    Ok((rows, bound))
}

/// ScoreCAM's compute bound in images per second: one forward per channel that is not all zero
/// (and one for the zero image) at the measured matmul peak; None for models of unknown FLOPs.
fn scorecam_bound(
    model: &dyn SplitModel,
    x: &Tensor,
    setup: &Setup,
    device: Device,
    hardware: &Hardware,
) -> Result<Option<f64>> {
    let config = model
        .architecture()
        .and_then(|(arch, _)| serde_json::from_value::<VggConfig>(arch["config"].clone()).ok());
    let Some(flops) = config.map(|c| c.forward_flops()) else {
        return Ok(None);
    };
    let images = x.narrow(0, 0, setup.perturbation_images).to_device(device);
    let a = tch::no_grad(|| model.features(&images))?;
    let channels = a.size()[1];
    let live = a
        .flatten(2, -1)
        .ne(0.0)
        .any_dim(2, false)
        .to_kind(tch::Kind::Double);
    let forwards = live
        .sum_dim_intlist(1, false, tch::Kind::Double)
        .mean(tch::Kind::Double);
    let forwards = forwards.double_value(&[]);
    let bound = hardware.matmul_flops / (flops * forwards);
    println!(
        "ScoreCAM bound: {} forwards per image (live channels of {channels}) x {} GFLOP = {} \
         images/s at the measured matmul peak",
        sig3(forwards),
        sig3(flops / 1e9),
        sig3(bound)
    );
    Ok(Some(bound))
}

/// Seconds of each of `reps` runs of `command` (after one warm-up run that fills the page cache);
/// the last run's stderr.
fn process_seconds(
    reps: usize,
    command: &mut dyn FnMut() -> std::process::Command,
) -> Result<(Vec<f64>, String)> {
    let mut seconds = Vec::new();
    let mut stderr = String::new();
    for rep in 0..=reps.max(1) {
        let mut cmd = command();
        let start = Instant::now();
        let output = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
        let elapsed = start.elapsed().as_secs_f64();
        stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            anyhow::bail!("{cmd:?} failed: {}", stderr.lines().last().unwrap_or(""));
        }
        if rep > 0 {
            seconds.push(elapsed);
        }
    }
    Ok((seconds, stderr))
}

/// Whole processes, start-up included (`--torchscript`): `blindspot explain` on the exported
/// TorchScript file against `python/explain_pgc.py` (a user's one-shot pytorch-grad-cam script)
/// per method, on the same images, device, threads and precision; before them the fixed cost of
/// each side (`blindspot --version`; `python -c "import torch, pytorch_grad_cam"`) and where one
/// `blindspot explain` process spends its time (`--timings`).
fn whole_process(setup: &Setup, args: &BenchArgs, device: Device) -> Result<serde_json::Value> {
    let dir = args.out.join(setup.spec.trim_start_matches("builtin:"));
    let x = npy::read_as(
        &dir.join("inputs.npy"),
        "inputs",
        &[npy::DType::F32],
        "float32",
    )?;
    let t = npy::read_as(
        &dir.join("targets.npy"),
        "targets",
        &[npy::DType::I64],
        "int64",
    )?;
    let ours_bin = env!("CARGO_BIN_EXE_blindspot");
    let reps = setup.reps;
    let (floor_ours, _) = process_seconds(reps, &mut || {
        let mut c = std::process::Command::new(ours_bin);
        c.arg("--version");
        c
    })?;
    let (floor_theirs, _) = process_seconds(reps, &mut || {
        let mut c = std::process::Command::new(python());
        c.args(["-c", "import torch, pytorch_grad_cam"]);
        c
    })?;
    let (a, b) = (Rate::of(1.0, &floor_ours), Rate::of(1.0, &floor_theirs));
    println!(
        "\n{} as whole processes, seconds per process, median (slowest-fastest) of {reps}\n\
         start-up alone: blindspot --version {} s; python -c \"import torch, pytorch_grad_cam\" \
         {} s\n{:<14} {:>6} {:>24} {:>24} {:>7}",
        setup.label,
        sig3(1.0 / a.median),
        sig3(1.0 / b.median),
        "method",
        "images",
        "blindspot explain",
        "explain_pgc.py",
        "ratio"
    );
    let threads = tch::get_num_threads().to_string();
    let mut rows = Vec::new();
    for (ours, spec) in selected(setup, &args.methods)? {
        let theirs = spec.split(':').next().unwrap_or(&spec).to_string();
        let n = if perturbation(&ours) {
            setup.perturbation_images
        } else {
            setup.images
        };
        let inputs = dir.join(format!("inputs-{n}.npy"));
        let targets = dir.join(format!("targets-{n}.npy"));
        npy::write(&inputs, &x.narrow(0, 0, n))?;
        npy::write(&targets, &t.narrow(0, 0, n))?;
        let method_reps = setup.reps(&ours);
        let (ours_s, stderr) = process_seconds(method_reps, &mut || {
            let mut c = std::process::Command::new(ours_bin);
            c.args([
                "explain",
                "--timings",
                "--method",
                &ours,
                "--device",
                &device_name(device),
            ])
            .arg("--model")
            .arg(dir.join("model.pt"))
            .arg("--input")
            .arg(&inputs)
            .arg("--targets")
            .arg(&targets)
            .arg("--out")
            .arg(dir.join("maps-blindspot.npy"));
            c
        })?;
        let (theirs_s, _) = process_seconds(method_reps, &mut || {
            let mut c = std::process::Command::new(python());
            c.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/explain_pgc.py"))
                .arg(dir.join("model.pt"))
                .arg(&inputs)
                .arg(&targets)
                .arg(&theirs)
                .arg(dir.join("maps-pgc.npy"))
                .arg(&threads)
                .arg(device_name(device))
                .arg(tf32());
            c
        })?;
        let (a, b) = (Rate::of(1.0, &ours_s), Rate::of(1.0, &theirs_s));
        let seconds = |r: &Rate| {
            format!(
                "{} ({}-{})",
                sig3(1.0 / r.median),
                sig3(1.0 / r.low),
                sig3(1.0 / r.high)
            )
        };
        let ratio = a.median / b.median;
        println!(
            "{:<14} {:>6} {:>24} {:>24} {:>6.2}x",
            ours,
            n,
            seconds(&a),
            seconds(&b),
            ratio
        );
        let stages = stderr
            .lines()
            .find(|l| l.starts_with("timings:"))
            .unwrap_or("")
            .to_string();
        println!("{:<21} {stages}", "");
        rows.push(serde_json::json!({"method": ours, "images": n,
            "blindspot_seconds": ours_s, "pgc_seconds": theirs_s, "ratio": ratio,
            "blindspot_stages": stages}));
    }
    Ok(serde_json::json!({"blindspot_version_seconds": floor_ours,
        "python_import_seconds": floor_theirs, "methods": rows}))
}

/// Wall time of the main job (`blindspot run`, default suite, this device) in a child process,
/// into `<out>/run`. Trained models come from the cache when it holds them: the time of a cached
/// run, or of a run that trains, as the output says.
fn time_main_job(args: &BenchArgs) -> Result<serde_json::Value> {
    let cached = blindspot::train::cache::cache_root().join("models");
    let models_before = std::fs::read_dir(&cached).map(|d| d.count()).unwrap_or(0);
    let out = args.out.join("run");
    let start = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .args(["run", "--device", &args.device, "--out"])
        .arg(&out)
        .env("BLINDSPOT_QUIET", "1")
        .output()
        .context("starting `blindspot run`")?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        anyhow::bail!(
            "`blindspot run --out {}` failed ({}): {}",
            out.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let trained = std::fs::read_dir(&cached).map(|d| d.count()).unwrap_or(0) > models_before;
    let models = match trained {
        true => "(trained models into an empty cache)",
        false => "(trained models from the cache)",
    };
    println!(
        "\nblindspot run (default suite): {} s {models}",
        sig3(seconds)
    );
    Ok(serde_json::json!({"seconds": seconds, "trained": trained}))
}

/// The machine's own ceilings, measured: the best of 5 large matrix products (compute) and of 5
/// copies of a 256 MB tensor (memory traffic, bytes read + written).
struct Hardware {
    matmul_flops: f64,
    copy_bytes: f64,
}

impl Hardware {
    fn measure(device: Device) -> Hardware {
        let best = |f: &dyn Fn() -> Tensor| {
            let _ = f().sum(tch::Kind::Float).double_value(&[]);
            (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let t = f();
                    let _ = t.get(0).sum(tch::Kind::Float).double_value(&[]);
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
        let n = 2048;
        let a = Tensor::randn([n, n], (tch::Kind::Float, device));
        let matmul_flops = 2.0 * (n * n * n) as f64 / best(&|| a.matmul(&a));
        let big = Tensor::randn([64 << 20], (tch::Kind::Float, device));
        let target = big.empty_like();
        let copy_bytes = 2.0 * 4.0 * (64u64 << 20) as f64
            / best(&|| {
                let mut t = target.shallow_clone();
                t.copy_(&big);
                t
            });
        Hardware {
            matmul_flops,
            copy_bytes,
        }
    }
}

/// Draws per second of Theorem 1's Monte Carlo at V = 512 (one fixed class, the statistic the
/// check computes): a straightforward per-draw loop (a fresh `Rcnn` per draw, libtorch conv2d and
/// max-pool, one `explain` call, i.e. one autograd call), the check's batched model one draw per
/// call, and the check itself with chunks of D draws per model.
fn theorem(device: Device, reps: usize, hardware: &Hardware) -> Result<serde_json::Value> {
    let config = RcnnConfig {
        filters: 512,
        classes: 1,
        ..RcnnConfig::default()
    };
    let xi = Init::new(0, Device::Cpu).normal(&[1, 1, 29, 29], 1.0);
    let x = xi.to_device(device);
    let target = Tensor::zeros([1], (tch::Kind::Int64, device));
    let per_draw = 64;
    let (h, _) = config.map_size();
    let first_dead = 2 * config.dead_pooled_rows().start;
    let stream = Stream::from_seed(0);
    let gradcam = blindspot::cam::gradcam::GradCam;
    // One explain call per draw on a fresh model, and the check's statistic (GC behind the wall).
    let per_draw_loop = |build: &dyn Fn(u64) -> Box<dyn SplitModel>| -> Result<Rate> {
        let seconds = timed(reps, &mut || {
            for d in 0..per_draw {
                let e = explain(&gradcam, build(d).as_ref(), &x, Some(&target))?;
                let behind = e.raw.narrow(1, first_dead, h - first_dead).relu();
                let _ = behind.mean(tch::Kind::Float).double_value(&[]);
            }
            Ok(())
        })?;
        Ok(Rate::of(per_draw as f64, &seconds))
    };
    let straightforward = per_draw_loop(&|d| Box::new(Rcnn::new(config.clone(), d, device)))?;
    let one_per_call =
        per_draw_loop(&|d| Box::new(RcnnDraws::new(config.clone(), 1, stream, d, device)))?;
    println!(
        "\ntheorem Monte Carlo at V = 512, draws per second, median (slowest-fastest) of {reps} \
         repetitions\n{:<52} {:>22}\n{:<52} {:>22}",
        "straightforward loop (Rcnn + explain per draw)",
        straightforward.show(),
        "check's batched model, one draw per call",
        one_per_call.show()
    );
    // The weights alone (sampled on the host, one sub-stream per draw, in parallel over the
    // cores, then copied to the device): a ceiling for the whole Monte Carlo on any device.
    let sampling = {
        let seconds = timed(reps, &mut || {
            for first in (0..1024u64).step_by(64) {
                let model = RcnnDraws::new(config.clone(), 64, stream, first, device);
                let _ = model.weights().1.sum(tch::Kind::Float).double_value(&[]);
            }
            Ok(())
        })?;
        Rate::of(1024.0, &seconds)
    };
    println!(
        "{:<52} {:>22}",
        "weight sampling alone (chunks of 64 draws)",
        sampling.show()
    );
    let mut chunks = Vec::new();
    let total = 1024;
    for chunk in [1i64, 2, 4, 8, 16, 64] {
        let seconds = timed(reps, &mut || {
            let mut done = 0;
            while done < total {
                let len = chunk.min(total - done);
                Sampler::new(&config, &xi, stream, true, device).sample(done as u64, len)?;
                done += len;
            }
            Ok(())
        })?;
        let rate = Rate::of(total as f64, &seconds);
        let ratio = rate.median / straightforward.median;
        let label = format!("check's sample, chunks of {chunk} draws");
        println!("{:<52} {:>22}   {:>5.1}x", label, rate.show(), ratio);
        chunks.push(
            serde_json::json!({"draws_per_chunk": chunk, "draws_per_s": rate.json(),
            "ratio": ratio}),
        );
    }
    // The least memory traffic a draw needs through autograd: B written by the conv and read by
    // the pool (live half), the gradient written in full and read for α, B read again for Σ α B.
    let (h, w) = config.map_size();
    let bytes = 4.0 * (config.filters * h * w) as f64 * 4.5;
    let bound = hardware.copy_bytes / bytes;
    println!(
        "memory bound: about {:.1} MB moved per draw at {:.1} GB/s = {:.0} draws/s",
        bytes / 1e6,
        hardware.copy_bytes / 1e9,
        bound
    );
    Ok(serde_json::json!({"filters": 512,
        "straightforward_loop_draws_per_s": straightforward.json(),
        "one_draw_per_call_draws_per_s": one_per_call.json(), "chunks": chunks,
        "weight_sampling_draws_per_s": sampling.json(),
        "memory_bound_draws_per_s": bound}))
}

/// Cases per second of the property runs: `prop-wall` with GradCAM alone and with every built-in
/// method, `prop-theorem` and `prop-positivity`. The rate counts the cases (before the shrink);
/// the whole run, shrink included, is reported beside it.
fn properties(device: Device, reps: usize) -> Result<serde_json::Value> {
    let ctx = CheckContext::new(device, 0);
    let one = || vec![method_named("gradcam", &blindspot::Seeds::new(0)).expect("built in")];
    let all = || builtin_methods(&blindspot::Seeds::new(0));
    let wall = |cases| PropWallCheck {
        cases,
        ..PropWallCheck::default()
    };
    let runs: Vec<(
        &str,
        usize,
        Box<dyn Fn() -> Result<blindspot::check::Outcome>>,
    )> = vec![
        (
            "prop-wall, GradCAM",
            40,
            Box::new(|| Ok(wall(40).run(&one(), &ctx)?)),
        ),
        (
            "prop-wall, 13 methods",
            20,
            Box::new(|| Ok(wall(20).run(&all(), &ctx)?)),
        ),
        (
            "prop-theorem",
            8,
            Box::new(|| {
                let check = PropTheoremCheck {
                    cases: 8,
                    ..PropTheoremCheck::default()
                };
                Ok(check.run(&[], &ctx)?)
            }),
        ),
        (
            "prop-positivity",
            20,
            Box::new(|| {
                let check = PropPositivityCheck {
                    cases: 20,
                    ..PropPositivityCheck::default()
                };
                Ok(check.run(&[], &ctx)?)
            }),
        ),
    ];
    println!(
        "
property runs on random models, median (slowest-fastest) of {reps} repetitions"
    );
    let mut rows = Vec::new();
    for (label, cases, run) in &runs {
        let total = timed(reps, &mut || run().map(|_| ()))?;
        // The report holds no timing (it is byte-identical across runs): the rate is the whole
        // run's, the shrinking of the first counterexample per method included.
        let whole = Rate::of(*cases as f64, &total);
        println!(
            "{:<28} {:>4} cases {:>22} cases/s (shrinking included)",
            label,
            cases,
            whole.show()
        );
        rows.push(serde_json::json!({"run": label, "cases": cases, "cases_per_s": whole.json()}));
    }
    Ok(serde_json::Value::Array(rows))
}
