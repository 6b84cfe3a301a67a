//! Localisation against a known object, judged relative to the trivial baseline that beats
//! many methods: the pointing game (Zhang, Bargal, Lin, Brandt, Shen & Sclaroff, "Top-down
//! Neural Attention by Excitation Backprop", IJCV 2018) and the energy-based pointing game
//! (Wang et al., "Score-CAM", CVPR Workshops 2020). TorchRay's table has the centre of the image
//! (69.6) beating deconvnet (67.5) at the pointing game, so a hit rate alone says little: here
//! each image's score is compared with the centre baseline's on the same image.
//!
//! * `pointing-game`: the hit of a final map is the share of its maximal pixels (usually one;
//!   ties share the hit) that lie in the object's box grown by `tolerance` pixels (Zhang et al.'s
//!   15 pixels at 224 × 224 scale to 4 at STACK-SYNTH's 64). The centre baseline's map has its
//!   maximum at the centre pixel (the four central pixels of an even size, sharing the hit).
//! * `localisation`: the share of the final map's sum inside the box (Score-CAM's energy-based
//!   pointing game); the centre baseline's map is an isotropic Gaussian at the centre, σ a quarter
//!   of the shorter side.
//!
//! Per image: the method's score minus the centre baseline's. Verdict on the mean difference
//! ([`super::stats::judge_above`] against 0): pass iff the one-sided lower bound is above 0 (the
//! method localises better than the image's centre), fail iff the upper bound is at or below 0,
//! inconclusive otherwise. A blurred random map (uniform noise at the explained layer's
//! resolution, upsampled as every map is: [`crate::cam::random_map::RandomMap`]) runs beside
//! the methods under the same rule as a negative control; when it passes, the check cannot
//! separate on these data and every verdict is inconclusive ([`super::controls::apply`]).
//!
//! The boxes come with STACK-SYNTH data (the class object's visible pixels,
//! [`crate::data::DataSpec::boxes`]) or from a file: `boxes = "boxes.npy"`, int64 or float
//! \[N, 4\] (x0, y0, x1, y1 in pixels, inclusive), one per image in order. Each map explains the
//! class the model predicts.
use super::stats::{judge_above, percent, Threshold};
use super::{controls, Check, CheckContext, CheckResult, Findings, Outcome, Subject, Verdict};
use crate::cam::random_map::RandomMap;
use crate::cam::CamMethod;
use crate::error::{Error, Result};
use crate::io::npy::DType;
use crate::io::number::fixed;
use crate::seed::streams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Kind, Tensor};

/// Default pointing tolerance in pixels (Zhang et al.'s 15 at 224 × 224, at 64 × 64).
pub const TOLERANCE: i64 = 4;

/// What a method's mean difference from the centre baseline must rise above to pass.
const ABOVE_CENTRE: Threshold = Threshold {
    value: 0.0,
    inclusive: false,
};

/// The pointing game: is the map's maximum on the object more often than the centre's?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct PointingGameCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Object boxes for data that does not know them: .npy \[N, 4\] (x0, y0, x1, y1, pixels).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boxes: Option<PathBuf>,
    /// A maximum within this many pixels of the box counts as a hit.
    #[arg(long, default_value_t = TOLERANCE)]
    pub tolerance: i64,
}

impl Default for PointingGameCheck {
    fn default() -> Self {
        PointingGameCheck {
            subject: Subject::default(),
            boxes: None,
            tolerance: TOLERANCE,
        }
    }
}

/// The energy-based pointing game: is more of the map on the object than of the centre's?
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct LocalisationCheck {
    /// The model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Object boxes for data that does not know them: .npy \[N, 4\] (x0, y0, x1, y1, pixels).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boxes: Option<PathBuf>,
}

/// A localisation check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationFindings {
    pub detail: LocalisationDetail,
}

impl super::CheckFindings for LocalisationFindings {
    /// The merge's audit: the verdict the one-sided bounds give against 0, a rise above it
    /// passing (inconclusive unless every negative control failed).
    fn audit(
        &self,
        result: &CheckResult,
        control: &super::ErrorControl,
    ) -> std::result::Result<(), String> {
        super::audit::above_threshold(result, ABOVE_CENTRE, control)
    }

    fn badge_label(&self, check: &str) -> Option<String> {
        super::result::badge_check_model(check, &self.detail.model)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationDetail {
    /// The method's mean score (hit rate, or share of the map in the box).
    pub score: f64,
    /// The centre baseline's mean score on the same images.
    pub centre: f64,
    /// The pointing tolerance in pixels (pointing game only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<i64>,
    /// Where the boxes came from: `STACK-SYNTH` or the file.
    pub boxes: String,
    pub model: String,
    pub data: String,
}

/// What the two checks differ in.
#[derive(Clone, Copy)]
enum Score {
    /// The pointing game with its tolerance.
    Pointing(i64),
    /// The share of the map's sum in the box.
    Energy,
}

impl Score {
    /// Per image, the score of `maps` \[N, H, W\] against `inside` \[N, H, W\] (1 in the box).
    fn of(self, maps: &Tensor, inside: &Tensor) -> Tensor {
        let maps = maps.to_kind(Kind::Double);
        match self {
            Score::Pointing(_) => {
                let top = maps.amax([1, 2].as_slice(), true);
                let at_max = maps.eq_tensor(&top).to_kind(Kind::Double);
                let sum = |t: &Tensor| t.sum_dim_intlist([1, 2].as_slice(), false, Kind::Double);
                sum(&(&at_max * inside)) / sum(&at_max)
            }
            Score::Energy => {
                let total = maps.sum_dim_intlist([1, 2].as_slice(), false, Kind::Double);
                let on = (&maps * inside).sum_dim_intlist([1, 2].as_slice(), false, Kind::Double);
                // An all-zero map puts no energy anywhere: its share counts 0.
                on / total.clamp_min(f64::MIN_POSITIVE)
            }
        }
    }

    /// The centre baseline's map \[N, H, W\].
    fn centre(self, n: i64, h: i64, w: i64) -> Tensor {
        let options = (Kind::Double, tch::Device::Cpu);
        let ys = Tensor::arange(h, options) - (h - 1) as f64 / 2.0;
        let xs = Tensor::arange(w, options) - (w - 1) as f64 / 2.0;
        let d2 = ys.square().unsqueeze(1) + xs.square().unsqueeze(0);
        let map = match self {
            // Distance to the centre: its maximum, the negated minimum, at the central pixel(s).
            Score::Pointing(_) => -d2,
            Score::Energy => {
                let sigma = h.min(w) as f64 / 4.0;
                (d2 / (-2.0 * sigma * sigma)).exp()
            }
        };
        map.unsqueeze(0).expand([n, h, w], false)
    }

    /// 1 inside each box grown by the tolerance, \[N, H, W\].
    fn inside(self, boxes: &Tensor, h: i64, w: i64) -> Tensor {
        let grow = match self {
            Score::Pointing(t) => t as f64,
            Score::Energy => 0.0,
        };
        let b = boxes.to_kind(Kind::Double);
        let column = |k: i64| b.select(1, k).view([-1, 1, 1]);
        let options = (Kind::Double, tch::Device::Cpu);
        let ys = Tensor::arange(h, options).view([1, h, 1]);
        let xs = Tensor::arange(w, options).view([1, 1, w]);
        let in_x = xs.ge_tensor(&(column(0) - grow)) * xs.le_tensor(&(column(2) + grow));
        let in_y = ys.ge_tensor(&(column(1) - grow)) * ys.le_tensor(&(column(3) + grow));
        (in_x * in_y).to_kind(Kind::Double)
    }
}

/// The boxes of `subject`'s images: from `file` when one is given, else from the data (the
/// source named as the report says it); checked against the images' count and size.
fn boxes(
    subject: &Subject,
    file: Option<&PathBuf>,
    x: &Tensor,
    ctx: &CheckContext,
    check: &str,
) -> Result<(Tensor, String)> {
    let (n, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let (boxes, source) = match file {
        Some(path) => {
            let boxes = crate::io::npy::read_as(
                path,
                "boxes",
                &[DType::I64, DType::I32, DType::F32, DType::F64],
                "[N, 4] boxes (x0, y0, x1, y1 in pixels)",
            )?;
            (boxes, path.display().to_string())
        }
        None => match subject.data.boxes(&ctx.seeds)? {
            Some(boxes) => (boxes, "STACK-SYNTH".to_string()),
            None => {
                return Err(Error::input(
                    format!("{check} needs to know where each image's object is"),
                    format!("the data {}", subject.data.describe(&ctx.seeds)),
                    "use STACK-SYNTH data (`synthetic = N`), or give `boxes = \"FILE.npy\"`: \
                     int64 [N, 4], x0, y0, x1, y1 in pixels, inclusive, one per image",
                ))
            }
        },
    };
    let size = boxes.size();
    let where_ = format!("the boxes of {source}");
    if size != [n, 4] {
        return Err(Error::input(
            format!("boxes of shape {size:?} for {n} images"),
            where_,
            "give one box per image: [N, 4], x0, y0, x1, y1 in pixels",
        ));
    }
    let b = boxes.to_kind(Kind::Double);
    let col = |k: i64| b.select(1, k);
    let finite = b.isfinite().all().int64_value(&[]) == 1;
    let ordered = col(0).le_tensor(&col(2)).all().int64_value(&[]) == 1
        && col(1).le_tensor(&col(3)).all().int64_value(&[]) == 1;
    let within = col(0).ge(0.0).all().int64_value(&[]) == 1
        && col(1).ge(0.0).all().int64_value(&[]) == 1
        && col(2).le((w - 1) as f64).all().int64_value(&[]) == 1
        && col(3).le((h - 1) as f64).all().int64_value(&[]) == 1;
    if !(finite && ordered && within) {
        return Err(Error::input(
            format!(
                "a box is not finite, not ordered (x0 <= x1, y0 <= y1) or not within the \
                 {w} x {h} image"
            ),
            where_,
            "give boxes as x0, y0, x1, y1 in pixels, inclusive, inside the image",
        ));
    }
    Ok((b, source))
}

/// Either check's run: every method's score against the centre baseline's, with the blurred
/// random map as a negative control.
fn run(
    check: &'static str,
    subject: &Subject,
    file: Option<&PathBuf>,
    score: Score,
    methods: &[Box<dyn CamMethod>],
    ctx: &CheckContext,
) -> Result<Outcome> {
    let model = subject.open(ctx)?;
    let x = subject.images(model.as_ref(), ctx)?.to_device(ctx.device);
    let (n, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    if n < 2 {
        return Ok(Outcome::too_few_images(check, methods, n));
    }
    let (boxes, source) = boxes(subject, file, &x, ctx, check)?;
    let inside = score.inside(&boxes, h, w);
    let centre = score.of(&score.centre(n, h, w), &inside);
    let control: Vec<Box<dyn CamMethod>> = vec![Box::new(RandomMap {
        seed: ctx.stream(streams::RANDOM_MAP).seed(),
        symmetric: false,
    })];
    let alpha = ctx.alpha();
    let (measure, baseline) = match score {
        Score::Pointing(t) => (
            format!("the share of the map's maximal pixels within {t} pixels of the object's box"),
            "the maximum at the image's centre",
        ),
        Score::Energy => (
            "the share of the map's sum inside the object's box".to_string(),
            "a Gaussian at the image's centre (sigma a quarter of the side)",
        ),
    };
    let rule = format!(
        "pass iff the one-sided lower Student-t bound ({} per side) of the mean difference \
         between the method's score ({measure}) and the centre baseline's ({baseline}) is > 0; \
         fail iff the upper bound is <= 0; inconclusive otherwise",
        percent(1.0 - alpha)
    );
    let centre_values = Vec::<f64>::try_from(&centre).expect("centre scores");
    let centre_mean = centre_values.iter().sum::<f64>() / n as f64;
    let batch = subject.batch_size;
    let mut results = Vec::new();
    for method in controls::with_controls(methods, &control) {
        let e = ctx.explain(method, model.as_ref(), &x, None, batch)?;
        let scores = score.of(&e.maps.to_device(tch::Device::Cpu), &inside);
        let own = Vec::<f64>::try_from(&scores).expect("scores");
        let values: Vec<f64> = own.iter().zip(&centre_values).map(|(a, b)| a - b).collect();
        // Both scores lie in [0, 1]: their difference in [-1, 1].
        let (verdict, s) = judge_above(&values, alpha, ABOVE_CENTRE);
        let s = s.within(-1.0, 1.0);
        let mean_score = own.iter().sum::<f64>() / n as f64;
        let reason = match verdict {
            Verdict::Pass => format!(
                "score {} against the centre's {}: the difference's lower bound {} > 0",
                fixed(mean_score, 3),
                fixed(centre_mean, 3),
                fixed(s.ci_low, 3)
            ),
            Verdict::Fail => format!(
                "score {} against the centre's {}: the difference's upper bound {} <= 0",
                fixed(mean_score, 3),
                fixed(centre_mean, 3),
                fixed(s.ci_high, 3)
            ),
            _ => format!(
                "score {} against the centre's {}: the difference's bounds {}..{} straddle 0",
                fixed(mean_score, 3),
                fixed(centre_mean, 3),
                fixed(s.ci_low, 3),
                fixed(s.ci_high, 3)
            ),
        };
        let detail = LocalisationDetail {
            score: mean_score,
            centre: centre_mean,
            tolerance: match score {
                Score::Pointing(t) => Some(t),
                Score::Energy => None,
            },
            boxes: source.clone(),
            model: model.name(),
            data: subject.data.describe(&ctx.seeds),
        };
        let findings = Findings::new(LocalisationFindings { detail });
        results.push(CheckResult {
            reason,
            statistic: format!("mean difference of {measure} from the centre baseline's"),
            rule: rule.clone(),
            per_sample: values.into_iter().map(Some).collect(),
            ..CheckResult::new(check, method, verdict, s, findings)
        });
    }
    Ok(Outcome::new(controls::apply(results, control.len())))
}

/// Either check's files, which a suite resolves: the subject's image file or folder and the box
/// file.
fn paths_mut<'a>(subject: &'a mut Subject, boxes: &'a mut Option<PathBuf>) -> Vec<&'a mut PathBuf> {
    let mut paths: Vec<&mut PathBuf> = subject.data.path_mut().into_iter().collect();
    paths.extend(boxes.iter_mut());
    paths
}

impl Check for PointingGameCheck {
    const NAME: &'static str = "pointing-game";
    const ABOUT: &'static str = "Pointing game (Zhang et al. 2018): the map's maximum on the \
                                 object's box, against the image's centre";
    type Findings = LocalisationFindings;

    super::plugin::image_check_methods!(subject);

    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        paths_mut(&mut self.subject, &mut self.boxes)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::int("tolerance", self.tolerance, 0, 4096)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let score = Score::Pointing(self.tolerance);
        run(Self::NAME, &self.subject, self.boxes.as_ref(), score, methods, ctx)
    }
}

impl Check for LocalisationCheck {
    const NAME: &'static str = "localisation";
    const ABOUT: &'static str = "Energy-based pointing game (Score-CAM): the map's share inside \
                                 the object's box, against a map centred on the image";
    type Findings = LocalisationFindings;

    super::plugin::image_check_methods!(subject);

    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        paths_mut(&mut self.subject, &mut self.boxes)
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        run(Self::NAME, &self.subject, self.boxes.as_ref(), Score::Energy, methods, ctx)
    }
}
