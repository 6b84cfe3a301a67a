//! The trained built-in models, named `builtin:stack-*`: the small VGG-style network trained on
//! STACK-SYNTH, trained on first use and cached.
use super::cache::{load_or_train, Trained};
use super::TrainConfig;
use crate::data::synth::SynthConfig;
use crate::error::Result;
use crate::model::vgg::VggConfig;
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
];

/// The recipe of a preset, for a given seed.
pub fn config(name: &str, seed: u64) -> Option<TrainConfig> {
    let masked = VggConfig::small(6, Some(SMALL_DEAD_ROWS));
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
            model: VggConfig::small(6, None),
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

/// Loads (or trains) a preset.
pub fn open(name: &str, seed: u64, device: Device) -> Result<Option<Trained>> {
    match config(name, seed) {
        Some(cfg) => Ok(Some(load_or_train(
            &cfg,
            &format!("builtin:{name}"),
            device,
        )?)),
        None => Ok(None),
    }
}
