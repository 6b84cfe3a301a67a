//! STACK-SYNTH determinism and layout; the image-folder loader.
use crate::common::{ensure, ensure_close, TestResult};
use blindspot::data::folder::{self, Preprocess};
use blindspot::data::normalize::{normalize, IMAGENET_MEAN, IMAGENET_STD};
use blindspot::data::synth::{StackSynth, SynthConfig};
use libtest_mimic::Trial;
use std::path::PathBuf;
use tch::Kind;

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch_root().join(format!("data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("data::synth_is_deterministic_per_seed", || {
            let c = SynthConfig::default();
            let (a, b) = (
                StackSynth::generate(&c, 12, 3, 0),
                StackSynth::generate(&c, 12, 3, 0),
            );
            ensure(
                a.images.equal(&b.images)
                    && a.labels.equal(&b.labels)
                    && a.distractors.equal(&b.distractors),
                || "same seed, different data".into(),
            )?;
            let other = StackSynth::generate(&c, 12, 4, 0);
            ensure(!a.images.equal(&other.images), || {
                "different seeds, same images".into()
            })?;
            // Image i depends on (seed, i) only: a set is a prefix of a larger one.
            let more = StackSynth::generate(&c, 20, 3, 0);
            ensure(more.images.narrow(0, 0, 12).equal(&a.images), || {
                "not a prefix".into()
            })
        }),
        Trial::test("data::synth_layout", synth_layout),
        Trial::test("data::folder_loads_png_and_jpeg", folder_loads),
        Trial::test("data::folder_rejects_broken_file", || {
            let dir = scratch("broken");
            write_png(&dir.join("a.png"), 224, 224);
            std::fs::write(dir.join("b.jpg"), b"not really a jpeg").unwrap();
            let err = folder::load(&dir, 224, Preprocess::AsIs)
                .err()
                .ok_or("a broken file was accepted")?
                .to_string();
            ensure(
                err.contains("b.jpg") && err.contains("not a readable JPEG or PNG image"),
                || err,
            )
        }),
        Trial::test("data::folder_as_is_requires_the_size", || {
            let dir = scratch("size");
            write_png(&dir.join("small.png"), 100, 80);
            let err = folder::load(&dir, 224, Preprocess::AsIs)
                .err()
                .ok_or("a 100x80 image was accepted as-is")?
                .to_string();
            ensure(
                err.contains("small.png") && err.contains("100x80") && err.contains("resize-crop"),
                || err,
            )
        }),
    ]
}

fn synth_layout() -> TestResult {
    let c = SynthConfig::default();
    let set = StackSynth::generate(&c, 200, 0, 0);
    let labels = Vec::<i64>::try_from(&set.labels)?;
    let distractors = Vec::<i64>::try_from(&set.distractors)?;
    ensure(labels.iter().zip(&distractors).all(|(l, d)| l != d), || {
        "a distractor has the label's class".into()
    })?;
    for class in 0..6 {
        ensure(labels.contains(&class), || {
            format!("class {class} never appears in 200 images")
        })?;
    }
    // The class object lives above the band: the rows 46..47 between object and band hold only
    // background (no channel brighter than the background's 0.41).
    let gap = set
        .images
        .narrow(2, 46, 2)
        .amax([1, 2, 3].as_slice(), false);
    ensure(gap.le(0.42).all().int64_value(&[]) == 1, || {
        "an object reaches into rows 46..47".into()
    })?;
    // Every image has bright object pixels in the band (the distractor) and above it.
    let band = set
        .images
        .narrow(2, c.band_start, c.height - c.band_start)
        .amax([1, 2, 3].as_slice(), false);
    let top = set
        .images
        .narrow(2, 0, 46)
        .amax([1, 2, 3].as_slice(), false);
    ensure(
        band.gt(0.5).all().int64_value(&[]) == 1 && top.gt(0.5).all().int64_value(&[]) == 1,
        || "an object is missing".into(),
    )
}

fn write_png(path: &std::path::Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    img.save(path).unwrap();
}

fn folder_loads() -> TestResult {
    let dir = scratch("ok");
    write_png(&dir.join("b.png"), 224, 224);
    let jpeg = image::RgbImage::from_fn(300, 240, |x, y| {
        image::Rgb([((x + y) % 256) as u8, 40, 200])
    });
    jpeg.save(dir.join("a.jpg"))?;
    std::fs::write(dir.join(".hidden"), b"ignored")?;
    let err = folder::load(&dir, 224, Preprocess::AsIs)
        .err()
        .ok_or("a 300x240 image was accepted as-is")?;
    ensure(err.to_string().contains("a.jpg"), || err.to_string())?;
    let loaded = folder::load(&dir, 224, Preprocess::ResizeCrop)?;
    ensure(loaded.images.size() == [2, 3, 224, 224], || {
        format!("{:?}", loaded.images.size())
    })?;
    ensure(
        loaded
            .paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            == ["a.jpg", "b.png"],
        || "files not sorted by name".into(),
    )?;
    // The 224x224 PNG resizes to 256 and crops back to its centre: pixel (y, x) of the crop is
    // pixel (y + 16, x + 16) of the 256 image, about (y + 16) * 224/256 of the original. The blue
    // channel is constant 128 everywhere, so it must come back exactly, normalised.
    let blue = loaded.images.get(1).get(2);
    let want = (128.0 / 255.0 - IMAGENET_MEAN[2] as f64) / IMAGENET_STD[2] as f64;
    ensure(
        (blue.mean(Kind::Double).double_value(&[]) - want).abs() < 1e-5,
        || "blue channel".into(),
    )?;
    // As-is on a folder of exact-size images is the raw pixels, normalised.
    let exact = scratch("exact");
    write_png(&exact.join("c.png"), 224, 224);
    let loaded = folder::load(&exact, 224, Preprocess::AsIs)?;
    let raw = tch::Tensor::from_slice(&image::open(exact.join("c.png"))?.to_rgb8().into_raw())
        .view([224, 224, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
        / 255.0;
    ensure_close(
        "as-is pixels",
        &loaded.images,
        &normalize(&raw.unsqueeze(0)),
        1e-6,
    )
}
