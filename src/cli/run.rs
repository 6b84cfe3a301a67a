//! `blindspot run`: the main job. Until the default sanity suite lands, it explains a built-in
//! walled model with every method and prints, per method, the share of the map's ℓ2 norm that
//! falls behind the wall (the paper's µ) and the time taken.
use crate::cam::{builtin_methods, explain_batched};
use crate::device::{device_name, parse_device};
use crate::model::init::Init;
use crate::model::zoo::ZooOptions;
use anyhow::{Context, Result};
use clap::Args;
use std::time::Instant;
use tch::Kind;

#[derive(Args)]
pub struct RunArgs {
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Seed of the model and the images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of images.
    #[arg(long, default_value_t = 16)]
    pub images: i64,
}

pub fn run(args: RunArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let spec = "builtin:small-vgg";
    let model = crate::open_model(spec, device, &ZooOptions { seed: args.seed, weights: None }).context("opening the built-in model")?;
    let x = Init::new(args.seed.wrapping_add(1), device).normal(&[args.images, 3, 64, 64], 1.0);
    // Feature rows 4..7 of the 8x8 map are dead. Live row 3 sees input rows up to 46 (receptive
    // field of four 3x3 convs and three 2x2 pools), so rows 47..63 cannot influence any logit.
    let wall_start = 47;
    println!("blindspot run: {spec} (random weights, seed {}), {} random images, device {}", args.seed, args.images, device_name(device));
    println!("share of saliency behind the bottom input rows {wall_start}..63 (mu, % of l2 norm); a truthful map gives 0\n");
    println!("{:<20} {:>10} {:>10} {:>10}", "method", "mean mu %", "max mu %", "seconds");
    for method in builtin_methods() {
        let start = Instant::now();
        let e = explain_batched(method.as_ref(), model.as_ref(), &x, None, 16)
            .with_context(|| format!("explaining with {}", method.title()))?;
        let seconds = start.elapsed().as_secs_f64();
        let total = e.maps.square().sum_dim_intlist([1, 2].as_slice(), false, Kind::Float).sqrt();
        let wall = e.maps.narrow(1, wall_start, 64 - wall_start).square().sum_dim_intlist([1, 2].as_slice(), false, Kind::Float).sqrt();
        let defined = total.gt(0.0);
        let mu = (wall / total.clamp_min(1e-12)).masked_select(&defined) * 100.0;
        let (mean, max) =
            if mu.numel() == 0 { (f64::NAN, f64::NAN) } else { (mu.mean(Kind::Float).double_value(&[]), mu.max().double_value(&[])) };
        let fmt = |v: f64| {
            if v.is_nan() {
                "undefined".to_string()
            } else {
                format!("{v:.2}")
            }
        };
        println!("{:<20} {:>10} {:>10} {:>10.3}", method.title(), fmt(mean), fmt(max), seconds);
    }
    Ok(())
}
