//! In-process training with tch: the small VGG-style model on STACK-SYNTH, masked (its wall
//! re-applied after every optimiser step) or not, on true or permuted labels; and the cache that
//! makes a second run load instead of train ([`cache`]). [`presets`] names the trained models.
pub mod cache;
pub mod presets;

use crate::data::synth::{StackSynth, SynthConfig};
use crate::error::{Error, Result};
use crate::model::network::{Architecture, Network};
use crate::progress::ProgressSink;
use crate::seed::{streams, Seeds};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor};

/// Everything that determines a trained model; its hash keys the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub model: Architecture,
    pub data: SynthConfig,
    /// Seed of the STACK-SYNTH stream (training images are 0.., test images start at 2^32).
    pub data_seed: u64,
    pub train_images: i64,
    pub test_images: i64,
    pub max_epochs: i64,
    /// Stop once the training accuracy (eval mode) reaches this; none = run every epoch.
    pub stop_at_train_accuracy: Option<f64>,
    pub batch_size: i64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Train on a seeded permutation of the labels (Adebayo's data randomization test).
    pub random_labels: bool,
    /// The model seed: the initialisation, the batch order, dropout and the label permutation
    /// (streams `model/init`, `train/order`, `train/permutation`).
    pub seed: u64,
}

/// What training achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: i64,
    /// Accuracy on the labels trained on (permuted ones for a random-label model), eval mode.
    pub train_accuracy: f64,
    /// Accuracy on held-out images with their true labels.
    pub test_accuracy: f64,
    pub seconds: f64,
    pub threads: i64,
}

/// The test set never overlaps the training set: it starts far into the image stream.
pub const TEST_OFFSET: u64 = 1 << 32;

/// Fraction of `labels` that `model` predicts, in eval mode, in batches.
pub fn accuracy(model: &dyn Network, images: &Tensor, labels: &Tensor, batch_size: i64) -> f64 {
    tch::no_grad(|| {
        let n = images.size()[0];
        let mut correct = 0i64;
        let mut start = 0;
        while start < n {
            let len = batch_size.min(n - start);
            let logits = model.logits_t(&images.narrow(0, start, len), false);
            correct += logits
                .argmax(1, false)
                .eq_tensor(&labels.narrow(0, start, len))
                .sum(Kind::Int64)
                .int64_value(&[]);
            start += len;
        }
        correct as f64 / n as f64
    })
}

fn permuted(labels: &Tensor, seeds: &Seeds) -> Tensor {
    let mut values: Vec<i64> = Vec::<i64>::try_from(labels).expect("labels are int64");
    values.shuffle(&mut seeds.stream(streams::TRAIN_PERMUTATION).rng());
    Tensor::from_slice(&values)
}

/// Trains a model from scratch.
pub fn train(
    config: &TrainConfig,
    label: &str,
    device: Device,
) -> Result<(Box<dyn Network>, TrainReport)> {
    crate::precision::pin_thread();
    let start = Instant::now();
    let seeds = Seeds::new(config.seed);
    let shuffling = seeds.stream(streams::TRAIN_ORDER);
    tch::manual_seed(shuffling.seed() as i64);
    let train_set = StackSynth::generate(&config.data, config.train_images, config.data_seed, 0);
    let test_set = StackSynth::generate(
        &config.data,
        config.test_images,
        config.data_seed,
        TEST_OFFSET,
    );
    let x = train_set.normalized().to_device(device);
    let y = match config.random_labels {
        true => permuted(&train_set.labels, &seeds),
        false => train_set.labels.shallow_clone(),
    };
    let y = y.to_device(device);
    let x_test = test_set.normalized().to_device(device);
    let y_test = test_set.labels.to_device(device);
    let init = seeds.stream(streams::MODEL_INIT).seed();
    let model = config.model.build(label, init, device);
    let mut optimizer = tch::nn::AdamW::default()
        .wd(config.weight_decay)
        .build(model.var_store(), config.learning_rate)
        .map_err(|e| Error::torch("building the optimiser", e))?;
    let n = config.train_images;
    let batches_per_epoch = (n + config.batch_size - 1) / config.batch_size;
    let mut order: Vec<i64> = (0..n).collect();
    let mut rng = shuffling.rng();
    let mut progress = ProgressSink::from_env().start(
        format!("training {label}"),
        (config.max_epochs * batches_per_epoch) as u64,
    );
    let mut epochs = 0;
    let mut train_accuracy = 0.0;
    for epoch in 0..config.max_epochs {
        // Cosine learning-rate decay over the epoch budget.
        let lr = config.learning_rate
            * 0.5
            * (1.0 + (std::f64::consts::PI * epoch as f64 / config.max_epochs as f64).cos());
        optimizer.set_lr(lr);
        order.shuffle(&mut rng);
        for chunk in order.chunks(config.batch_size as usize) {
            crate::progress::poll(|| format!("training {label}, epoch {}", epoch + 1))?;
            let idx = Tensor::from_slice(chunk).to_device(device);
            let logits = model.logits_t(&x.index_select(0, &idx), true);
            let loss = logits.cross_entropy_for_logits(&y.index_select(0, &idx));
            optimizer.backward_step(&loss);
            model.enforce_wall();
            progress.inc(1);
        }
        epochs = epoch + 1;
        if let Some(target) = config.stop_at_train_accuracy {
            train_accuracy = accuracy(model.as_ref(), &x, &y, 256);
            if train_accuracy >= target {
                break;
            }
        }
    }
    if config.stop_at_train_accuracy.is_none() {
        train_accuracy = accuracy(model.as_ref(), &x, &y, 256);
    }
    let test_accuracy = accuracy(model.as_ref(), &x_test, &y_test, 256);
    let report = TrainReport {
        epochs,
        train_accuracy,
        test_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        threads: tch::get_num_threads() as i64,
    };
    progress.finish(&format!(
        "{epochs} epochs, train accuracy {:.1}%, test accuracy {:.1}%",
        100.0 * train_accuracy,
        100.0 * test_accuracy
    ));
    Ok((model, report))
}
