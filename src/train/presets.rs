//! The trained built-in models, named `builtin:stack-*`: the small VGG-style network and a small
//! vision transformer trained on STACK-SYNTH.
//!
//! At model seed 0 (the default) the weights are the committed ones in `fixtures/models/`,
//! embedded in the binary with their training configuration, report and SHA-256: training on a
//! CPU is not bit-reproducible (thread schedules sum in different orders), so every machine
//! training its own default models would report slightly different numbers, and verdicts near a
//! threshold could differ. Any other seed, and `blindspot train --retrain`, trains in-process
//! and caches the result ([`super::cache`]).
use super::cache::{cache_root, load_or_train, Trained};
use super::{TrainConfig, TrainReport};
use crate::data::synth::SynthConfig;
use crate::error::{Error, Result};
use crate::model::network::Architecture;
use crate::model::vgg::VggConfig;
use crate::model::vit::VitConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use tch::Device;

/// Feature rows 4..7 (of 8) of the small VGG are dead: the certified wall is input rows 47..63,
/// which covers STACK-SYNTH's distractor band (rows 48..63).
pub const SMALL_DEAD_ROWS: (i64, i64) = (4, 8);

/// The trained presets: name, description.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "stack-masked",
        "small VGG trained on STACK-SYNTH with feature rows 4..7 dead (wall: input rows 47..63)",
    ),
    ("stack-baseline", "the same recipe without the wall"),
    (
        "stack-randlabels",
        "the masked model trained on permuted labels until it fits them (data randomization)",
    ),
    (
        "stack-vit-masked",
        "ViT (8x8 patches, 3 blocks, attention-pooling head) trained on STACK-SYNTH with \
         token rows 6..7 masked out of every attention (wall: input rows 48..63)",
    ),
    ("stack-vit", "the same ViT recipe without the wall"),
];

/// The recipe of a preset, for a given seed.
pub fn config(name: &str, seed: u64) -> Option<TrainConfig> {
    let masked = Architecture::Vgg(VggConfig::small(6, Some(SMALL_DEAD_ROWS)));
    let base = TrainConfig {
        model: masked,
        data: SynthConfig::default(),
        data_seed: 1000 + seed,
        train_images: 3000,
        test_images: 1000,
        max_epochs: 4,
        stop_at_train_accuracy: None,
        batch_size: 64,
        learning_rate: 3e-3,
        weight_decay: 1e-4,
        random_labels: false,
        seed,
    };
    Some(match name {
        "stack-masked" => base,
        "stack-baseline" => TrainConfig {
            model: Architecture::Vgg(VggConfig::small(6, None)),
            ..base
        },
        "stack-vit-masked" | "stack-vit" => TrainConfig {
            model: Architecture::Vit(VitConfig::stack(name == "stack-vit-masked")),
            max_epochs: VIT_EPOCHS,
            learning_rate: 1e-3,
            weight_decay: 0.05,
            ..base
        },
        "stack-randlabels" => TrainConfig {
            train_images: 500,
            max_epochs: 120,
            stop_at_train_accuracy: Some(0.95),
            learning_rate: 2e-3,
            weight_decay: 0.0,
            random_labels: true,
            ..base
        },
        _ => return None,
    })
}

/// Epochs of the ViT presets (a transformer learns STACK-SYNTH more slowly than the VGG).
const VIT_EPOCHS: i64 = 12;

/// The committed weights of every preset at model seed 0.
const COMMITTED: [(&str, &[u8]); 5] = [
    (
        "stack-masked",
        include_bytes!("../../fixtures/models/stack-masked.safetensors"),
    ),
    (
        "stack-baseline",
        include_bytes!("../../fixtures/models/stack-baseline.safetensors"),
    ),
    (
        "stack-randlabels",
        include_bytes!("../../fixtures/models/stack-randlabels.safetensors"),
    ),
    (
        "stack-vit-masked",
        include_bytes!("../../fixtures/models/stack-vit-masked.safetensors"),
    ),
    (
        "stack-vit",
        include_bytes!("../../fixtures/models/stack-vit.safetensors"),
    ),
];

/// What `fixtures/models/presets.json` records of each committed model.
#[derive(Debug, Clone, Deserialize)]
pub struct CommittedRecord {
    /// The configuration the weights were trained with.
    pub config: TrainConfig,
    pub report: TrainReport,
    pub weights_sha256: String,
}

/// The records of the committed weights, by preset name.
pub fn committed_records() -> BTreeMap<String, CommittedRecord> {
    serde_json::from_str(include_str!("../../fixtures/models/presets.json"))
        .expect("fixtures/models/presets.json is valid (tested)")
}

/// The committed model of preset `name`, when `config` is the recipe it was trained with.
fn committed(name: &str, config: &TrainConfig, device: Device) -> Result<Option<Trained>> {
    let Some(record) = committed_records().remove(name) else {
        return Ok(None);
    };
    let Some((_, bytes)) = COMMITTED.iter().find(|(n, _)| *n == name) else {
        return Ok(None);
    };
    if &record.config != config {
        return Ok(None);
    }
    let sha = crate::io::sha256(bytes);
    if sha != record.weights_sha256 {
        return Err(Error::model(
            format!("the committed weights of {name} have SHA-256 {sha}, not the recorded one"),
            "fixtures/models",
            "rebuild blindspot from an intact checkout",
        ));
    }
    // libtorch loads safetensors from a file: the embedded bytes are written once, by content.
    let path = cache_root()
        .join("models")
        .join(format!("committed-{sha}.safetensors"));
    let intact = crate::io::sha256_file(&path).is_ok_and(|s| s == sha);
    if !intact {
        // blindspot's own cache: whatever sits there (a link, a FIFO, a truncated file) goes.
        crate::io::remove_unless_regular(&path);
        crate::io::write_atomic(&path, bytes)?;
    }
    let mut model = config.model.for_loading(&format!("builtin:{name}"), device);
    model.load_from(&path)?;
    Ok(Some(Trained {
        model,
        report: record.report,
        from_cache: true,
        weights: path,
    }))
}

/// Opens a preset: the committed weights at model seed 0, else trained (or loaded from the
/// cache) with `seed`.
pub fn open(name: &str, seed: u64, device: Device) -> Result<Option<Trained>> {
    let Some(cfg) = config(name, seed) else {
        return Ok(None);
    };
    if let Some(trained) = committed(name, &cfg, device)? {
        return Ok(Some(trained));
    }
    Ok(Some(load_or_train(
        &cfg,
        &format!("builtin:{name}"),
        device,
    )?))
}

/// Trains a preset in-process whatever the cache or the committed weights hold, and caches it.
pub fn retrain(name: &str, seed: u64, device: Device) -> Result<Option<Trained>> {
    let Some(cfg) = config(name, seed) else {
        return Ok(None);
    };
    let label = format!("builtin:{name}");
    Ok(Some(super::cache::train_into_cache(&cfg, &label, device)?))
}
