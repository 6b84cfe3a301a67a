//! Image folders: STACK-MIX / STACK-GEN as their authors distribute them, or any user set of JPEG
//! and PNG files, with the paper's preprocessing options.
use crate::error::{Error, Result};
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// How images become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Preprocess {
    /// Use the image as it is; it must already be `size`×`size` (STACK-MIX is 224×224).
    AsIs,
    /// Resize the shorter side to size·256/224 (256 for 224) with a bilinear filter, then crop the
    /// centre `size`×`size` (STACK-GEN's recipe, torchvision's Resize(256) + CenterCrop(224)).
    ResizeCrop,
}

/// A loaded folder: normalised images [N, 3, size, size] and their paths, sorted by file name.
pub struct ImageFolder {
    pub images: Tensor,
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub paths: Vec<PathBuf>,
}

fn file_error(path: &Path, what: String, fix: &str) -> Error {
    Error::input(what, path.display().to_string(), fix)
}

/// Largest image side ratio accepted: STACK-MIX and STACK-GEN images are square or nearly so,
/// and resizing the short side of a 1×100,000 strip to 256 pixels would make a 25-million-pixel
/// image out of a few kilobytes.
pub const MAX_ASPECT_RATIO: u32 = 16;
/// Largest image accepted, in pixels (decoded RGB: 3 bytes each).
pub const MAX_PIXELS: u64 = 100_000_000;

fn check_dimensions(path: &Path, w: u32, h: u32) -> Result<()> {
    let bad = |what: String| {
        file_error(
            path,
            what,
            "remove it from the folder, or crop or resize it beforehand",
        )
    };
    if w == 0 || h == 0 {
        return Err(bad(format!(
            "{} is {w}x{h}: an empty image",
            path.display()
        )));
    }
    if w.max(h) / w.min(h) > MAX_ASPECT_RATIO {
        return Err(bad(format!(
            "{} is {w}x{h}: an aspect ratio over {MAX_ASPECT_RATIO}:1",
            path.display()
        )));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(bad(format!(
            "{} is {w}x{h}: over {MAX_PIXELS} pixels",
            path.display()
        )));
    }
    crate::limits::fits(
        &path.display().to_string(),
        "image",
        3 * w as u128 * h as u128,
    )
}

/// Loads every file of `dir` (hidden files excepted) as an RGB image, sorted by name.
///
/// Long: per file: open (bounded), decode, convert and preprocess, each refusal naming the file.
pub fn load(dir: &Path, size: i64, preprocess: Preprocess) -> Result<ImageFolder> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the image folder", dir, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("read the image folder", dir, e))?
            .path();
        let hidden = path
            .file_name()
            .is_none_or(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        // Nothing is skipped in silence: a subfolder, a FIFO, a device or a dangling link
        // would leave a data set smaller than the folder looks.
        if !path.is_file() {
            return Err(Error::input(
                format!(
                    "{} in the image folder {}",
                    crate::io::escape::printable(&path.display().to_string()),
                    crate::io::not_a_file(&path)
                ),
                dir.display().to_string(),
                "keep only image files in the folder (hidden files, starting with `.`, are \
                 left alone)",
            ));
        }
        paths.push(path);
    }
    paths.sort();
    if paths.is_empty() {
        return Err(Error::input(
            format!("the folder {} holds no image", dir.display()),
            dir.display().to_string(),
            "pass a folder of JPEG or PNG files",
        ));
    }
    if !(8..=4096).contains(&size) {
        return Err(Error::input(
            format!("image size {size} is out of range"),
            dir.display().to_string(),
            "use a size from 8 to 4096",
        ));
    }
    // The decoded set (float32, and its normalised copy) must fit before any file is decoded.
    let bytes = 2 * 4 * 3 * paths.len() as u128 * (size as u128).pow(2);
    let what = format!("{} images of {size}x{size}", paths.len());
    crate::limits::fits(&what, &dir.display().to_string(), bytes)?;
    let s = size as u32;
    let mut data = Vec::with_capacity(paths.len() * (3 * s * s) as usize);
    for path in &paths {
        let reader = || -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>> {
            image::ImageReader::open(path)
                .map_err(|e| Error::io("open", path, e))?
                .with_guessed_format()
                .map_err(|e| Error::io("read", path, e))
        };
        let unreadable = |e: image::ImageError| {
            file_error(
                path,
                format!(
                    "{} is not a readable JPEG or PNG image: {e}",
                    path.display()
                ),
                "remove it from the folder or replace it with a valid image",
            )
        };
        // Dimensions from the header first: no decoding (or resizing) of a bomb.
        let (w, h) = reader()?.into_dimensions().map_err(unreadable)?;
        check_dimensions(path, w, h)?;
        let mut limited = reader()?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(w);
        limits.max_image_height = Some(h);
        limits.max_alloc = Some(crate::limits::memory_budget()?);
        limited.limits(limits);
        let img = limited.decode().map_err(unreadable)?.to_rgb8();
        let img = match preprocess {
            Preprocess::AsIs => {
                if img.width() != s || img.height() != s {
                    return Err(file_error(
                        path,
                        format!(
                            "{} is {}x{}, not {size}x{size}",
                            path.display(),
                            img.width(),
                            img.height()
                        ),
                        "use --preprocess resize-crop, or resize the images beforehand",
                    ));
                }
                img
            }
            Preprocess::ResizeCrop => {
                let short = (size * 256 / 224) as u32;
                let (w, h) = (img.width(), img.height());
                let (nw, nh) = if w <= h {
                    (short, ((h as u64 * short as u64) / w as u64) as u32)
                } else {
                    (((w as u64 * short as u64) / h as u64) as u32, short)
                };
                let resized = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
                image::imageops::crop_imm(&resized, (nw - s) / 2, (nh - s) / 2, s, s).to_image()
            }
        };
        data.extend(img.as_raw().iter().map(|&b| b as f32 / 255.0));
    }
    let n = paths.len() as i64;
    let images = Tensor::from_slice(&data)
        .view([n, size, size, 3])
        .permute([0, 3, 1, 2])
        .contiguous();
    Ok(ImageFolder {
        images: super::normalize(&images),
        paths,
    })
}
