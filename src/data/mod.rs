//! Data: STACK-SYNTH, the embedded synthetic two-object dataset ([`synth`]), and image folders
//! such as the paper's STACK-MIX / STACK-GEN ([`folder`]). Images are RGB in [0, 1] until
//! [`normalize()`] applies ImageNet's mean and standard deviation.
pub mod folder;
pub mod impute;
pub mod normalize;
pub mod synth;

pub use normalize::{denormalize, normalize};

use crate::error::{Error, Result};
use crate::seed::{streams, Seeds};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Tensor;

/// Where a check's images come from, as suites (`data = { synthetic = 64 }`) and the command
/// line (`--synthetic 64`) declare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawDataSpec")]
#[non_exhaustive]
pub enum DataSpec {
    /// `synthetic = N`: the first N STACK-SYNTH images of the run's data stream, or of the run
    /// seed `seed` when given (what `blindspot data --seed` writes).
    Synthetic {
        /// How many images.
        synthetic: i64,
        /// The run seed whose data stream draws them (default: the run's own).
        #[serde(skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// Their side in pixels.
        size: i64,
    },
    /// `input = "X.npy"`: normalised float32 `[N, C, H, W]`.
    Npy {
        /// The `.npy` file.
        input: PathBuf,
    },
    /// `folder = "DIR"`: JPEG/PNG files, preprocessed and normalised.
    Folder {
        /// The folder.
        folder: PathBuf,
        /// How each image becomes `size` × `size`.
        preprocess: folder::Preprocess,
        /// The side the images are brought to.
        size: i64,
    },
}

/// Side of STACK-SYNTH images unless `size` says otherwise.
pub const SYNTH_SIZE: i64 = 64;
/// Side of folder images unless `size` says otherwise (the paper's 224).
pub const FOLDER_SIZE: i64 = 224;

/// Every key a `data` table may hold; [`DataSpec`] picks the variant and names a misplaced or
/// unknown key (an untagged enum could only say that nothing matched).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataSpec {
    synthetic: Option<i64>,
    seed: Option<u64>,
    size: Option<i64>,
    input: Option<PathBuf>,
    folder: Option<PathBuf>,
    preprocess: Option<folder::Preprocess>,
}

impl TryFrom<RawDataSpec> for DataSpec {
    type Error = String;

    fn try_from(raw: RawDataSpec) -> std::result::Result<Self, String> {
        let only = |variant: &str, extra: &[(&str, bool)]| -> std::result::Result<(), String> {
            match extra.iter().find(|(_, given)| *given) {
                Some((key, _)) => Err(format!("data: `{key}` does not apply to `{variant}` data")),
                None => Ok(()),
            }
        };
        match (raw.synthetic, raw.input, raw.folder) {
            (Some(synthetic), None, None) => {
                only("synthetic", &[("preprocess", raw.preprocess.is_some())])?;
                let size = raw.size.unwrap_or(SYNTH_SIZE);
                Ok(DataSpec::Synthetic {
                    synthetic,
                    seed: raw.seed,
                    size,
                })
            }
            (None, Some(input), None) => {
                only(
                    "input",
                    &[
                        ("seed", raw.seed.is_some()),
                        ("size", raw.size.is_some()),
                        ("preprocess", raw.preprocess.is_some()),
                    ],
                )?;
                Ok(DataSpec::Npy { input })
            }
            (None, None, Some(folder)) => {
                only("folder", &[("seed", raw.seed.is_some())])?;
                let preprocess = raw.preprocess.unwrap_or(folder::Preprocess::AsIs);
                Ok(DataSpec::Folder {
                    folder,
                    preprocess,
                    size: raw.size.unwrap_or(FOLDER_SIZE),
                })
            }
            _ => Err(
                "data: give exactly one of `synthetic = N`, `input = \"X.npy\"` or \
                      `folder = \"DIR\"`"
                    .into(),
            ),
        }
    }
}

const SYNTHETIC: &str = "data.synthetic";
const INPUT: &str = "data.input";
const FOLDER: &str = "data.folder";
const SEED: &str = "data.seed";
const SIZE: &str = "data.size";
const PREPROCESS: &str = "data.preprocess";

/// The command line's spelling: `--synthetic N [--data-seed S] | --input X.npy | --data DIR
/// [--preprocess P]`, with `--size`. (Written by hand because one value is chosen from three
/// flags; the field names match the suite keys.)
impl clap::Args for DataSpec {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        use clap::{value_parser, Arg, ArgGroup};
        cmd.arg(
            Arg::new(SYNTHETIC)
                .long("synthetic")
                .value_name("N")
                .value_parser(value_parser!(i64))
                .help("N STACK-SYNTH images"),
        )
        .arg(
            Arg::new(INPUT)
                .long("input")
                .value_name("X.npy")
                .value_parser(value_parser!(PathBuf))
                .help("Images as float32 [N, C, H, W] .npy, normalised"),
        )
        .arg(
            Arg::new(FOLDER)
                .long("data")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("A folder of JPEG/PNG images"),
        )
        .group(
            ArgGroup::new("images")
                .args([SYNTHETIC, INPUT, FOLDER])
                .required(true),
        )
        .arg(
            Arg::new(SEED)
                .long("data-seed")
                .value_name("S")
                .value_parser(value_parser!(u64))
                .requires(SYNTHETIC)
                .help("Run seed of the STACK-SYNTH images (default: --seed)"),
        )
        .arg(
            Arg::new(SIZE)
                .long("size")
                .value_name("PIXELS")
                .value_parser(value_parser!(i64))
                .conflicts_with(INPUT)
                .help("Image side (default: 64 for --synthetic, 224 for --data)"),
        )
        .arg(
            Arg::new(PREPROCESS)
                .long("preprocess")
                .value_parser(value_parser!(folder::Preprocess))
                .requires(FOLDER)
                .help("Preprocessing of --data images (default: as-is)"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for DataSpec {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let raw = RawDataSpec {
            synthetic: m.get_one::<i64>(SYNTHETIC).copied(),
            seed: m.get_one::<u64>(SEED).copied(),
            size: m.get_one::<i64>(SIZE).copied(),
            input: m.get_one::<PathBuf>(INPUT).cloned(),
            folder: m.get_one::<PathBuf>(FOLDER).cloned(),
            preprocess: m.get_one::<folder::Preprocess>(PREPROCESS).copied(),
        };
        DataSpec::try_from(raw)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, e + "\n"))
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl DataSpec {
    /// The seeds STACK-SYNTH images come from: the data's own run seed, else the run's.
    fn synth_stream(seed: Option<u64>, seeds: &Seeds) -> u64 {
        seed.map(Seeds::new)
            .unwrap_or(*seeds)
            .stream(streams::DATA)
            .seed()
    }

    /// Refuses counts and sizes outside their ranges (the memory budget is checked at load).
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            DataSpec::Synthetic {
                synthetic, size, ..
            } => {
                crate::limits::int("data.synthetic", *synthetic, 2, 1_000_000)?;
                crate::limits::int("data.size", *size, 16, 1024)
            }
            DataSpec::Npy { .. } => Ok(()),
            DataSpec::Folder { size, .. } => crate::limits::int("data.size", *size, 8, 4096),
        }
    }

    /// Loads the images, normalised, [N, C, H, W] on the CPU.
    pub fn load(&self, seeds: &Seeds) -> Result<Tensor> {
        self.validate()
            .map_err(|e| Error::input(e, "data", "see docs/data.md"))?;
        match self {
            DataSpec::Synthetic {
                synthetic,
                seed,
                size,
            } => {
                if *synthetic < 2 {
                    return Err(Error::input(
                        format!("synthetic = {synthetic}: a check needs at least 2 images"),
                        "data",
                        "use synthetic = 32 or more",
                    ));
                }
                // Two float32 copies (the images and their normalised form) must fit.
                let bytes = 2 * 4 * 3 * (*synthetic as u128) * (*size as u128).pow(2);
                crate::limits::fits(&format!("STACK-SYNTH x{synthetic}"), "data", bytes)?;
                let config = synth::SynthConfig::square(*size);
                let stream = Self::synth_stream(*seed, seeds);
                Ok(synth::StackSynth::generate(&config, *synthetic, stream, 0).normalized())
            }
            DataSpec::Npy { input } => crate::io::npy::read_as(
                input,
                "data.input",
                &[crate::io::npy::DType::F32],
                "float32 [N, C, H, W]",
            ),
            DataSpec::Folder {
                folder,
                preprocess,
                size,
            } => Ok(folder::load(folder, *size, *preprocess)?.images),
        }
    }

    /// The boxes of STACK-SYNTH's class objects, (x0, y0, x1, y1) in pixels, inclusive, int64
    /// \[N, 4\], in the order of [`DataSpec::load`]'s images; None for data that does not know
    /// where its objects are (a check then asks for a box file).
    pub fn boxes(&self, seeds: &Seeds) -> Result<Option<Tensor>> {
        match self {
            DataSpec::Synthetic {
                synthetic,
                seed,
                size,
            } => {
                self.validate()
                    .map_err(|e| Error::input(e, "data", "see docs/data.md"))?;
                let config = synth::SynthConfig::square(*size);
                let stream = Self::synth_stream(*seed, seeds);
                Ok(Some(synth::StackSynth::generate(&config, *synthetic, stream, 0).boxes))
            }
            DataSpec::Npy { .. } | DataSpec::Folder { .. } => Ok(None),
        }
    }

    /// A short description for reports.
    pub fn describe(&self, seeds: &Seeds) -> String {
        match self {
            DataSpec::Synthetic {
                synthetic,
                seed,
                size,
            } => {
                let root = seed.unwrap_or(seeds.root());
                format!("STACK-SYNTH x{synthetic} ({size}x{size}, seed {root})")
            }
            DataSpec::Npy { input } => input.display().to_string(),
            DataSpec::Folder {
                folder,
                preprocess,
                size,
            } => {
                format!("{} ({preprocess:?}, {size}x{size})", folder.display())
            }
        }
    }

    /// The file or folder the images are read from, if any (suites resolve it against their
    /// own folder).
    pub fn path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            DataSpec::Synthetic { .. } => None,
            DataSpec::Npy { input } => Some(input),
            DataSpec::Folder { folder, .. } => Some(folder),
        }
    }
}

