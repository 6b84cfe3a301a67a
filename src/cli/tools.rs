//! `blindspot certify`, `blindspot data` and `blindspot train`: walls, datasets and models.
use super::common::ModelArgs;
use crate::data::synth::{StackSynth, SynthConfig, CLASSES};
use crate::device::parse_device;
use crate::error::Error;
use crate::io::{npy, write_atomic};
use crate::model::wall::{certify, CertifyOptions};
use crate::seed::{streams, Seeds};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input size HxW, for models without a fixed one (TorchScript).
    #[arg(long, value_name = "HxW")]
    pub input_size: Option<String>,
    /// Input channels, for models that do not declare them.
    #[arg(long, default_value_t = 3)]
    pub channels: i64,
    /// Random inputs for the gradient support.
    #[arg(long, default_value_t = 8)]
    pub gradient_inputs: i64,
    /// Noise replacements that must leave the logits bit-identical.
    #[arg(long, default_value_t = 16)]
    pub noise_trials: i64,
    /// Write the certificate as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Run seed of the random inputs and noise (stream `wall/certify`, as in the wall check).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// A parameter error of a subcommand, as one message.
fn invalid(command: &str, message: String) -> anyhow::Error {
    Error::input(message, command, format!("see `{command} --help`")).into()
}

pub fn certify_cmd(args: CertifyArgs) -> Result<()> {
    let cmd = "blindspot certify";
    let checks = [
        crate::limits::int("--gradient-inputs", args.gradient_inputs, 1, 1024),
        crate::limits::int("--noise-trials", args.noise_trials, 1, 1024),
        crate::limits::int("--channels", args.channels, 1, 64),
    ];
    for check in checks {
        check.map_err(|e| invalid(cmd, e))?;
    }
    let model = args.model.open()?;
    let (height, width) = match (&args.input_size, model.input_size()) {
        (Some(text), _) => parse_size(text)?,
        (None, Some(size)) => size,
        (None, None) => {
            let fix = "pass --input-size HxW, e.g. 224x224";
            return Err(
                Error::input("the model has no fixed input size", "--input-size", fix).into(),
            );
        }
    };
    if let Some((h, w)) = model.input_size().filter(|&fixed| fixed != (height, width)) {
        return Err(Error::input(
            format!(
                "{} takes {h}x{w} inputs only; it cannot run on {height}x{width}",
                model.name()
            ),
            "--input-size",
            format!("drop --input-size, or pass {h}x{w}"),
        )
        .into());
    }
    let channels = model.input_channels().unwrap_or(args.channels);
    // The inputs certify makes (the gradient batch and its gradient, the noise trials' base,
    // noise and mixed images) and, for a model that knows them, its layers (with gradients).
    let pixels = (channels * height * width) as u128;
    let inputs = 4 * pixels * (2 * args.gradient_inputs + 3 * args.noise_trials) as u128;
    let layers = model
        .peak_bytes(args.gradient_inputs.max(args.noise_trials), height, width)
        .unwrap_or(0);
    crate::limits::fits(
        &format!("certifying {} on {height}x{width} inputs", model.name()),
        "--input-size, --gradient-inputs, --noise-trials",
        inputs + 2 * layers,
    )?;
    let options = CertifyOptions {
        gradient_inputs: args.gradient_inputs,
        noise_trials: args.noise_trials,
        seed: Seeds::new(args.seed).stream(streams::CERTIFY).seed(),
    };
    let cert = certify(model.as_ref(), channels, height, width, &options)
        .with_context(|| format!("certifying the wall of {}", model.name()))?;
    println!("{}: blind region = {}", model.name(), cert.describe());
    println!("certified by {}", cert.method);
    if let Some(rows) = &cert.pixel_rows {
        for row in rows {
            println!("  {row}");
        }
    }
    if let Some(path) = &args.json {
        let text = crate::io::escape::json(&serde_json::to_string_pretty(&cert)?);
        write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}

fn parse_size(text: &str) -> Result<(i64, i64)> {
    let bad = || {
        Error::input(
            format!("`{text}` is not a size"),
            "--input-size",
            "write HxW, e.g. 224x224",
        )
    };
    let (h, w) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let number = |t: &str| t.trim().parse::<i64>().map_err(|_| bad());
    let (h, w) = (number(h)?, number(w)?);
    if !(1..=8192).contains(&h) || !(1..=8192).contains(&w) {
        return Err(Error::input(
            format!("--input-size {text} is out of range"),
            "--input-size",
            "use sides from 1 to 8192",
        )
        .into());
    }
    Ok((h, w))
}

#[derive(Args)]
pub struct DataArgs {
    /// Number of STACK-SYNTH images.
    #[arg(long)]
    pub synthetic: i64,
    /// Run seed: the images a check with `--seed S` (or `data = { seed = S }`) reads.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Image height and width.
    #[arg(long, default_value_t = 64)]
    pub size: i64,
    /// Output folder: images.npy (normalised float32), raw.npy ([0, 1]), labels.npy,
    /// distractors.npy, boxes.npy (the class objects' boxes), meta.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every image as a PNG file under OUT/png/.
    #[arg(long)]
    pub png: bool,
}

pub fn data_cmd(args: DataArgs) -> Result<()> {
    let cmd = "blindspot data";
    crate::limits::int("--synthetic", args.synthetic, 1, 1_000_000).map_err(|e| invalid(cmd, e))?;
    crate::limits::int("--size", args.size, 16, 1024).map_err(|e| invalid(cmd, e))?;
    // The images, their normalised copy and their 8-bit PNGs.
    let bytes = 9 * 3 * args.synthetic as u128 * (args.size as u128).pow(2);
    crate::limits::fits(
        &format!("{} STACK-SYNTH images", args.synthetic),
        cmd,
        bytes,
    )?;
    // The folder rule of every command that writes one (io::StagedDir): never into a folder
    // blindspot did not write, replaced whole, checked before the work.
    let staged = crate::io::StagedDir::begin(&args.out)?;
    let out = staged.path();
    let config = SynthConfig::square(args.size);
    let stream = Seeds::new(args.seed).stream(streams::DATA).seed();
    let set = StackSynth::generate(&config, args.synthetic, stream, 0);
    npy::write(&out.join("images.npy"), &set.normalized())?;
    npy::write(&out.join("raw.npy"), &set.images)?;
    npy::write(&out.join("labels.npy"), &set.labels)?;
    npy::write(&out.join("distractors.npy"), &set.distractors)?;
    npy::write(&out.join("boxes.npy"), &set.boxes)?;
    let meta = serde_json::json!({
        "dataset": "STACK-SYNTH", "seed": args.seed, "config": config,
        "classes": CLASSES.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "normalisation": "ImageNet mean/std (images.npy); raw.npy is RGB in [0, 1]",
    });
    write_atomic(
        &out.join("meta.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    if args.png {
        let labels = Vec::<i64>::try_from(&set.labels)?;
        for i in 0..set.len() {
            let class = CLASSES[labels[i as usize] as usize].0;
            let path = out.join("png").join(format!("{i:05}_{class}.png"));
            let side = args.size as u32;
            let img = image::RgbImage::from_raw(side, side, set.rgb8(i)).expect("buffer size");
            let mut bytes = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )?;
            write_atomic(&path, &bytes)?;
        }
    }
    staged.commit()?;
    let (n, side, out) = (set.len(), args.size, args.out.display());
    println!("wrote {n} STACK-SYNTH images ({side}x{side}) to {out}");
    Ok(())
}

#[derive(Args)]
pub struct TrainArgs {
    /// stack-masked, stack-baseline, stack-randlabels, stack-vit-masked or stack-vit.
    pub preset: String,
    /// Seed of the model (initialisation, batch order, label permutation). Seed 0 is the
    /// committed model unless --retrain.
    #[arg(long, default_value_t = 0)]
    pub model_seed: u64,
    /// Train in-process even when the weights are committed or cached (and cache the result).
    #[arg(long)]
    pub retrain: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

pub fn train_cmd(args: TrainArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let name = args.preset.trim_start_matches("builtin:");
    let open = match args.retrain {
        true => crate::train::presets::retrain,
        false => crate::train::presets::open,
    };
    let names: Vec<&str> = crate::train::presets::PRESETS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let known = || names.join(", ");
    let trained = open(name, args.model_seed, device)?.ok_or_else(|| Error::Unknown {
        kind: "trained preset",
        name: args.preset.clone(),
        known: known(),
    })?;
    let r = &trained.report;
    println!(
        "builtin:{name} (model seed {}): {} epochs, train accuracy {:.1}%, test accuracy {:.1}%, \
         {:.1}s of training on {} thread(s){}",
        args.model_seed,
        r.epochs,
        100.0 * r.train_accuracy,
        100.0 * r.test_accuracy,
        r.seconds,
        r.threads,
        if trained.from_cache {
            " (loaded, not trained now)"
        } else {
            ""
        }
    );
    let sha = crate::io::sha256_file(&trained.weights)?;
    println!("weights: {} (SHA-256 {sha})", trained.weights.display());
    Ok(())
}
