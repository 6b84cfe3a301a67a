//! `blindspot bench` (`make bench`): blindspot against pytorch-grad-cam 1.5.7 on the same weights,
//! inputs, device and thread count; the Theorem 1 Monte Carlo against a per-draw loop; memory over
//! repeated explain calls. A benchmark, not a test: it reports, it does not fail on speed.
use crate::cam::{explain, method_by_name};
use crate::check::theorem::TheoremCheck;
use crate::device::{device_name, parse_device};
use crate::io::npy;
use crate::model::export::{python, save_split};
use crate::model::init::Init;
use crate::model::rcnn::{RcnnConfig, RcnnDraws};
use crate::model::zoo::ZooOptions;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

#[derive(Args)]
pub struct BenchArgs {
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Skip the masked VGG16 (slow on a CPU).
    #[arg(long)]
    pub no_vgg16: bool,
    /// Only the memory measurement: RSS over this many repeated explain calls.
    #[arg(long)]
    pub memory: Option<usize>,
    /// Where to write bench.json.
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
}

/// (blindspot name, pytorch-grad-cam class).
const PAIRS: &[(&str, &str)] = &[
    ("gradcam", "GradCAM"),
    ("hirescam", "HiResCAM"),
    ("gradcam++", "GradCAMPlusPlus"),
    ("xgradcam", "XGradCAM"),
    ("layercam", "LayerCAM"),
    ("eigengradcam", "EigenGradCAM"),
    ("eigencam", "EigenCAM"),
    ("scorecam", "ScoreCAM"),
    ("ablationcam", "AblationCAM"),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<f64>().ok()))
        .map(|pages| pages * 4096.0 / 1e6)
        .unwrap_or(f64::NAN)
}

struct Setup {
    label: &'static str,
    spec: &'static str,
    images: i64,
    size: i64,
    /// Images for the perturbation methods (ScoreCAM, AblationCAM) where the full batch is too slow.
    perturbation_images: i64,
    reps: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let threads = tch::get_num_threads();
    if let Some(calls) = args.memory {
        return memory(device, calls);
    }
    std::fs::create_dir_all(&args.out)?;
    println!("blindspot bench: device {}, {threads} thread(s), median of {} repetitions after a warm-up", device_name(device), args.reps);
    let mut setups = vec![Setup {
        label: "small VGG 64x64, batch 32",
        spec: "builtin:small-vgg",
        images: 32,
        size: 64,
        perturbation_images: 32,
        reps: args.reps,
    }];
    if !args.no_vgg16 {
        // On a CPU the perturbation methods take about a minute per image in pytorch-grad-cam.
        let (few, reps) = if device == Device::Cpu { (1, 1) } else { (8, args.reps) };
        setups.push(Setup {
            label: "masked VGG16 224x224, batch 8",
            spec: "builtin:vgg16-masked",
            images: 8,
            size: 224,
            perturbation_images: few,
            reps,
        });
    }
    let mut json = serde_json::Map::new();
    for setup in &setups {
        let model = crate::open_model(setup.spec, device, &ZooOptions::default())?;
        let x = Init::new(1, Device::Cpu).normal(&[setup.images, 3, setup.size, setup.size], 1.0);
        let targets = tch::no_grad(|| model.forward(&x.to_device(device)))?.argmax(1, false).to_device(Device::Cpu);
        let dir = args.out.join(setup.spec.trim_start_matches("builtin:"));
        std::fs::create_dir_all(&dir)?;
        save_split(model.as_ref(), &x.narrow(0, 0, 1), &dir.join("model.pt")).context("exporting the model for pytorch-grad-cam")?;
        npy::write(&dir.join("inputs.npy"), &x)?;
        npy::write(&dir.join("targets.npy"), &targets)?;
        let specs: Vec<String> = PAIRS
            .iter()
            .map(|(ours, theirs)| {
                if matches!(*ours, "scorecam" | "ablationcam") {
                    format!("{theirs}:{}", setup.perturbation_images)
                } else {
                    theirs.to_string()
                }
            })
            .collect();
        let output = std::process::Command::new(python())
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/bench_pgc.py"))
            .arg(dir.join("model.pt"))
            .arg(dir.join("inputs.npy"))
            .arg(dir.join("targets.npy"))
            .arg(threads.to_string())
            .arg(setup.reps.to_string())
            .args(&specs)
            .output()
            .context("running python/bench_pgc.py (needs the venv: run `make bench`)")?;
        if !output.status.success() {
            anyhow::bail!("python/bench_pgc.py failed: {}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""));
        }
        let theirs: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        println!("\n{}\n{:<14} {:>8} {:>14} {:>14} {:>8}", setup.label, "method", "images", "blindspot/s", "pgc/s", "ratio");
        let mut rows = Vec::new();
        for ((ours, _), spec) in PAIRS.iter().zip(&specs) {
            let n = theirs[spec]["images"].as_i64().unwrap_or(setup.images);
            let method = method_by_name(ours)?;
            let xs = x.narrow(0, 0, n);
            let ts = targets.narrow(0, 0, n);
            explain(method.as_ref(), model.as_ref(), &xs.narrow(0, 0, 1), Some(&ts.narrow(0, 0, 1)))?;
            let ours_s = median(
                (0..setup.reps)
                    .map(|_| {
                        let start = Instant::now();
                        let e = explain(method.as_ref(), model.as_ref(), &xs, Some(&ts)).expect("explain");
                        let _ = e.maps.sum(tch::Kind::Float).double_value(&[]);
                        start.elapsed().as_secs_f64()
                    })
                    .collect(),
            );
            let theirs_s =
                median(theirs[spec]["seconds"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default());
            let (a, b) = (n as f64 / ours_s, n as f64 / theirs_s);
            println!("{:<14} {:>8} {:>14.2} {:>14.2} {:>7.1}x", ours, n, a, b, a / b);
            rows.push(serde_json::json!({"method": ours, "images": n, "blindspot_images_per_s": a, "pgc_images_per_s": b, "ratio": a / b}));
        }
        json.insert(setup.spec.into(), serde_json::Value::Array(rows));
    }
    json.insert("theorem".into(), theorem(device, args.reps)?);
    json.insert("device".into(), serde_json::json!(device_name(device)));
    json.insert("threads".into(), serde_json::json!(threads));
    crate::io::write_atomic(&args.out.join("bench.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    println!("\nwrote {}", args.out.join("bench.json").display());
    Ok(())
}

/// Draws per second of the batched Monte Carlo and of a per-draw loop (one model, one autograd
/// call per draw), at V = 512.
fn theorem(device: Device, reps: usize) -> Result<serde_json::Value> {
    let check = TheoremCheck::default();
    let config = RcnnConfig { filters: 512, classes: 1, ..RcnnConfig::default() };
    let xi = Init::new(0, Device::Cpu).normal(&[1, 1, 29, 29], 1.0);
    let batched_draws = 2048;
    let per_draw = 64;
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        f()?;
        let mut v = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            f()?;
            v.push(start.elapsed().as_secs_f64());
        }
        Ok(median(v))
    };
    let batched = time(&mut || {
        let mut done = 0;
        let mut seed = 0;
        while done < batched_draws {
            let chunk = (4096 / 512).min(batched_draws - done);
            check.sample(&config, &xi, chunk, seed, device)?;
            done += chunk;
            seed += 1;
        }
        Ok(())
    })?;
    let looped = time(&mut || {
        for d in 0..per_draw {
            let model = RcnnDraws::new(config.clone(), 1, d as u64, device);
            let x = xi.to_device(device);
            let e = explain(&crate::cam::gradcam::GradCam, &model, &x, Some(&Tensor::zeros([1], (tch::Kind::Int64, device))))?;
            let _ = e.raw.relu().mean(tch::Kind::Float).double_value(&[]);
        }
        Ok(())
    })?;
    let (a, b) = (batched_draws as f64 / batched, per_draw as f64 / looped);
    println!(
        "\ntheorem Monte Carlo at V = 512\n{:<34} {:>12.0} draws/s\n{:<34} {:>12.0} draws/s\nratio {:.1}x",
        "batched (RcnnDraws, chunks of 8)",
        a,
        "per-draw loop (one model per draw)",
        b,
        a / b
    );
    Ok(serde_json::json!({"filters": 512, "batched_draws_per_s": a, "per_draw_loop_draws_per_s": b, "ratio": a / b}))
}

/// RSS after a tenth of `calls` repeated explain calls (GradCAM, gradients through the head) on
/// the small VGG, and after all of them: allocations that outlive a call would show as growth.
fn memory(device: Device, calls: usize) -> Result<()> {
    let model = crate::open_model("builtin:small-vgg", device, &ZooOptions::default())?;
    let x = Init::new(2, Device::Cpu).normal(&[1, 3, 64, 64], 1.0);
    let methods = [method_by_name("gradcam")?];
    let warm = calls / 10;
    let mut marks = Vec::new();
    for i in 0..calls {
        for m in &methods {
            let e = explain(m.as_ref(), model.as_ref(), &x, None)?;
            let _ = e.maps.sum(tch::Kind::Float).double_value(&[]);
        }
        if i + 1 == warm || i + 1 == calls {
            marks.push(rss_mb());
        }
    }
    println!("rss_after_warmup_mb {:.1}\nrss_after_{calls}_calls_mb {:.1}\ngrowth_mb {:.1}", marks[0], marks[1], marks[1] - marks[0]);
    Ok(())
}
