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
    pub paths: Vec<PathBuf>,
}

fn file_error(path: &Path, what: String, fix: &str) -> Error {
    Error::input(what, path.display().to_string(), fix)
}

/// Loads every file of `dir` (hidden files excepted) as an RGB image, sorted by name.
pub fn load(dir: &Path, size: i64, preprocess: Preprocess) -> Result<ImageFolder> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the image folder", dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .map(|n| n.to_string_lossy().starts_with('.'))
                    .unwrap_or(true)
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::input(
            format!("the folder {} holds no image", dir.display()),
            dir.display().to_string(),
            "pass a folder of JPEG or PNG files",
        ));
    }
    let s = size as u32;
    let mut data = Vec::with_capacity(paths.len() * (3 * s * s) as usize);
    for path in &paths {
        let img = image::ImageReader::open(path)
            .map_err(|e| Error::io("open", path, e))?
            .with_guessed_format()
            .map_err(|e| Error::io("read", path, e))?
            .decode()
            .map_err(|e| {
                file_error(
                    path,
                    format!(
                        "{} is not a readable JPEG or PNG image: {e}",
                        path.display()
                    ),
                    "remove it from the folder or replace it with a valid image",
                )
            })?
            .to_rgb8();
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
