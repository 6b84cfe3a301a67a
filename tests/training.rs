//! Training: the masked STACK-SYNTH model reaches its accuracy budget and is certified blind over
//! the distractor band; the cache loads what it saved and retrains over corrupt files.
use crate::common::{ensure, TestResult};
use blindspot::data::synth::SynthConfig;
use blindspot::model::vgg::VggConfig;
use blindspot::model::wall::{certify, CertifyOptions, RowRange};
use blindspot::train::cache::load_or_train_in;
use blindspot::train::presets;
use blindspot::train::TrainConfig;
use libtest_mimic::Trial;
use tch::Device;

pub fn trials() -> Vec<Trial> {
    vec![
        crate::common::slow(
            "training::stack_masked_reaches_budget_and_is_blind",
            stack_masked,
        ),
        crate::common::slow(
            "training::random_labels_are_memorised_not_learned",
            random_labels,
        ),
        crate::common::slow("training::cache_loads_and_detects_corruption", cache),
        crate::common::slow(
            "training::a_second_process_waits_for_a_training",
            two_processes,
        ),
        crate::common::slow(
            "training::committed_weights_match_their_records",
            committed_records,
        ),
    ]
}

fn stack_masked() -> TestResult {
    // The committed model, then the recipe retrained from scratch (into a fresh cache folder):
    // it must reach the committed model's accuracy band and be blind over the distractor band.
    let committed = presets::open("stack-masked", 0, Device::Cpu)?.ok_or("preset")?;
    let dir = crate::common::scratch_root().join(format!("retrain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = presets::config("stack-masked", 0).ok_or("recipe")?;
    let trained = load_or_train_in(&dir, &config, "stack-masked", Device::Cpu)?;
    let _ = std::fs::remove_dir_all(&dir);
    let (r, c) = (&trained.report, &committed.report);
    ensure(r.test_accuracy >= 0.90, || {
        format!("test accuracy {:.3} < 0.90", r.test_accuracy)
    })?;
    ensure(r.train_accuracy >= 0.90, || {
        format!("train accuracy {:.3}", r.train_accuracy)
    })?;
    ensure((r.test_accuracy - c.test_accuracy).abs() <= 0.03, || {
        format!(
            "retrained {:.3} vs committed {:.3}",
            r.test_accuracy, c.test_accuracy
        )
    })?;
    for model in [&trained.model, &committed.model] {
        let cert = certify(model.as_ref(), 3, 64, 64, &CertifyOptions::default())?;
        ensure(
            cert.rows
                == Some(RowRange {
                    first: 47,
                    last: 63,
                }),
            || format!("certified {}", cert.describe()),
        )?;
        let band = SynthConfig::default().band_start;
        ensure(cert.rows.unwrap().first <= band, || {
            "the wall does not cover the distractor band".into()
        })?;
    }
    Ok(())
}

fn committed_records() -> TestResult {
    // The committed weights are what presets.json says, for the current recipes: a changed
    // recipe without new weights would silently fall back to training.
    for (name, record) in presets::committed_records() {
        let recipe = presets::config(&name, 0).ok_or("no recipe")?;
        ensure(record.config == recipe, || {
            format!("{name}: recipe changed, retrain and commit")
        })?;
        let trained = presets::open(&name, 0, Device::Cpu)?.ok_or("preset")?;
        let sha = blindspot::io::sha256_file(&trained.weights)?;
        let file = crate::common::root().join(format!("fixtures/models/{name}.safetensors"));
        ensure(
            sha == record.weights_sha256 && blindspot::io::sha256_file(&file)? == sha,
            || {
                format!(
                    "{name}: SHA-256 {sha} vs recorded {}",
                    record.weights_sha256
                )
            },
        )?;
        ensure(trained.report == record.report, || {
            format!("{name}: report")
        })?;
    }
    ensure(
        presets::committed_records().len() == presets::PRESETS.len(),
        || "a preset has no committed weights".into(),
    )
}

fn random_labels() -> TestResult {
    let trained = presets::open("stack-randlabels", 0, Device::Cpu)?.ok_or("preset")?;
    let r = &trained.report;
    ensure(r.train_accuracy >= 0.95, || {
        format!(
            "permuted labels not fitted: train accuracy {:.3}",
            r.train_accuracy
        )
    })?;
    ensure(r.test_accuracy < 0.35, || {
        format!(
            "a random-label model should be near chance (1/6) on true labels: {:.3}",
            r.test_accuracy
        )
    })
}

/// The environment variable that makes the test binary train [`tiny`] into the cache folder it
/// names and print whether the model came from the cache ([`train_child`]).
pub const TRAIN_CHILD: &str = "BLINDSPOT_TEST_TRAIN_INTO";

fn tiny() -> TrainConfig {
    TrainConfig {
        model: blindspot::model::network::Architecture::Vgg(VggConfig::small(6, Some((4, 8)))),
        data: SynthConfig::default(),
        data_seed: 9,
        train_images: 64,
        test_images: 32,
        max_epochs: 1,
        stop_at_train_accuracy: None,
        batch_size: 32,
        learning_rate: 1e-3,
        weight_decay: 0.0,
        random_labels: false,
        seed: 4,
    }
}

/// Trains [`tiny`] into `dir` and prints `from_cache=BOOL`.
pub fn train_child(dir: &str) {
    let trained = load_or_train_in(std::path::Path::new(dir), &tiny(), "tiny", Device::Cpu)
        .expect("training");
    println!("from_cache={}", trained.from_cache);
}

fn two_processes() -> TestResult {
    // Two processes asking at once for a model nobody has trained: the cache's file lock makes
    // one train it and the other wait and load it.
    let dir = crate::common::scratch_root().join(format!("lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spawn = || {
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .env(TRAIN_CHILD, &dir)
            .env("BLINDSPOT_QUIET", "1")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let mut trained = 0;
    for out in [a?, b?] {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure(out.status.success(), || {
            String::from_utf8_lossy(&out.stderr).into_owned()
        })?;
        trained += usize::from(text.contains("from_cache=false"));
    }
    ensure(trained == 1, || {
        format!("{trained} of 2 processes trained the same model")
    })
}

fn cache() -> TestResult {
    let dir = crate::common::scratch_root().join(format!("cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = tiny();
    let first = load_or_train_in(&dir, &config, "tiny", Device::Cpu)?;
    ensure(!first.from_cache, || {
        "trained model claims to come from the cache".into()
    })?;
    let second = load_or_train_in(&dir, &config, "tiny", Device::Cpu)?;
    ensure(second.from_cache, || {
        "second run did not load from the cache".into()
    })?;
    ensure(second.report == first.report, || {
        "cached report differs".into()
    })?;
    let x = blindspot::model::init::Init::new(0, Device::Cpu).normal(&[2, 3, 64, 64], 1.0);
    ensure(
        first.model.forward(&x)?.equal(&second.model.forward(&x)?),
        || "cached weights differ".into(),
    )?;
    // The wall holds in the trained and in the reloaded model: the dead rows' weights are zero.
    ensure(
        first.model.wall_weight_max() == Some(0.0) && second.model.wall_weight_max() == Some(0.0),
        || "wall weights not zero".into(),
    )?;
    // Corrupt the weights file: detected by its checksum, retrained, never used.
    let mut bytes = std::fs::read(&second.weights)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&second.weights, &bytes)?;
    let third = load_or_train_in(&dir, &config, "tiny", Device::Cpu)?;
    ensure(!third.from_cache, || "a corrupt cache file was used".into())?;
    // Truncated file: the same.
    std::fs::write(&third.weights, b"short")?;
    let fourth = load_or_train_in(&dir, &config, "tiny", Device::Cpu)?;
    ensure(!fourth.from_cache, || {
        "a truncated cache file was used".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
