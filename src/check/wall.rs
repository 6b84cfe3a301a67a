//! Wall leakage, the paper's Table 1: on a model that provably cannot see part of its input,
//! how much of a method's saliency lands there?
//!
//! µ = ‖Λ on the certified wall‖₂ / ‖Λ‖₂ per image, on the final map Λ (ReLU'd, min–max
//! normalised, upsampled: pytorch-grad-cam's semantics). Verdict on mean µ against `threshold`
//! (1%), each side at the run's error rate α ([`super::stats::judge_below`]): pass iff the
//! one-sided upper Student-t bound is at most the threshold, fail iff the lower bound is above
//! it, inconclusive otherwise.
//!
//! An all-zero map makes µ = 0/0 undefined. Rule: it counts µ = 0 — a map without saliency puts
//! none behind the wall, and counting it against the method would make a clean method fail on
//! maps that say nothing. The count is reported (`undefined`) beside the verdict; a method whose
//! every map is all zero gets an error, never a pass.
use super::stats::{bootstrap_interval, finite, judge_below, percent, Moments, Side, Threshold};
use super::{
    Check, CheckContext, CheckResult, Findings, Gallery, Outcome, Subject, Verdict, Worst,
};
use crate::cam::{explain_batched, CamMethod};
use crate::error::Result;
use crate::io::number::pct;
use crate::model::wall::{certify, Certificate, CertifyOptions};
use crate::seed::streams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Kind, Tensor};

/// Default pass threshold on the upper bound of mean µ (a fraction: 0.01 = 1%).
pub const THRESHOLD: f64 = 0.01;
/// Images of the first wall check that Figure 1 shows.
const GALLERY_IMAGES: i64 = 4;
/// Images per method in the report's gallery of the worst leaks.
const WORST_IMAGES: usize = 3;

/// The images on which a method leaked most (µ undefined counts as no leak), worst first.
fn worst_images(title: &str, per_sample: &[Option<f64>], x: &Tensor, maps: &Tensor) -> Worst {
    let mut order: Vec<(usize, f64)> = per_sample
        .iter()
        .enumerate()
        .map(|(i, v)| (i, v.unwrap_or(0.0)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(WORST_IMAGES);
    let indices: Vec<i64> = order.iter().map(|(i, _)| *i as i64).collect();
    let at = Tensor::from_slice(&indices).to_device(x.device());
    Worst {
        title: title.to_string(),
        mu: order.iter().map(|(_, v)| *v).collect(),
        images: crate::data::denormalize(&x.index_select(0, &at)).to_device(tch::Device::Cpu),
        maps: maps.index_select(0, &at).to_device(tch::Device::Cpu),
        indices,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct WallCheck {
    /// The walled model (builtin:stack-masked, builtin:vgg16-masked, a TorchScript file, …),
    /// its images and the verdict's level.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// The same architecture without the wall, for comparison (no verdict).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Weights for a built-in baseline architecture.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_weights: Option<PathBuf>,
    /// Pass threshold on the upper bound of mean µ (a fraction: 0.01 = 1%).
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
    /// Where µ is measured: `input`, on the final upsampled map (the paper's Table 1,
    /// pytorch-grad-cam's maps); `features`, on the map at the explained layer's resolution,
    /// behind the cells whose whole footprint lies behind the wall (no upsampling, whose bilinear
    /// interpolation carries the last visible row across the wall's border).
    #[arg(long, value_enum, default_value_t = Resolution::Input)]
    pub resolution: Resolution,
}

/// Where the wall check measures µ ([`WallCheck::resolution`]).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The final map, upsampled to the input (the paper's metric).
    #[default]
    Input,
    /// The map at the explained layer's resolution, before upsampling.
    Features,
}

impl Default for WallCheck {
    fn default() -> Self {
        WallCheck {
            subject: Subject::default(),
            baseline: None,
            baseline_weights: None,
            threshold: THRESHOLD,
            resolution: Resolution::Input,
        }
    }
}

/// The wall check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallFindings {
    pub detail: WallDetail,
    /// The certificate of the wall µ was measured behind.
    pub wall: Certificate,
}

/// µ is a share of the map: shown as a percentage.
impl super::CheckFindings for WallFindings {
    fn as_percent(&self) -> bool {
        true
    }

    fn decided_against_threshold(&self) -> bool {
        true
    }

    /// The certified wall's input rows and how they were certified.
    fn rule_note(&self) -> Option<String> {
        let rows = self.wall.rows?;
        Some(format!(
            "wall: input rows {}..{}, certified by {}",
            rows.first, rows.last, self.wall.method
        ))
    }

    /// The walled models of the run with their certified walls.
    fn html_section(&self, results: &[CheckResult]) -> Option<String> {
        use crate::io::escape::xml;
        let mut walls: Vec<(&str, String)> = Vec::new();
        for w in results.iter().filter_map(|r| r.findings.get::<WallFindings>()) {
            if !walls.iter().any(|(m, _)| *m == w.detail.model) {
                walls.push((w.detail.model.as_str(), w.wall.describe()));
            }
        }
        let mut out =
            String::from("<table>\n<tr><th>walled model</th><th>certified wall</th></tr>\n");
        for (model, wall) in walls {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                xml(model),
                xml(&wall)
            ));
        }
        out.push_str("</table>\n");
        Some(out)
    }

    fn badge_label(&self, _check: &str) -> Option<String> {
        let random = match self.detail.random_weights {
            true => ", random weights",
            false => "",
        };
        Some(format!(
            "wall leakage · {}{random}",
            super::result::badge_model(&self.detail.model)
        ))
    }

    /// The generic header, and a word when the model has random weights (a built-in
    /// architecture without --weights): a Table-1-style share is then not the paper's.
    fn table_header(&self, first: &CheckResult) -> Option<String> {
        if !self.detail.random_weights {
            return None;
        }
        let columns = format!(
            "{:<20} {:<12} {:>18} {:>22} {:>5} {:>5}",
            "method", "verdict", "mean ± std", "interval", "n", "undef"
        );
        Some(format!(
            "{}: {} — on {} with random weights (no --weights), not a trained classifier\n\
             {columns}\n",
            first.check, first.statistic, self.detail.model
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WallDetail {
    /// Images whose map is all zero (µ undefined, counted as 0).
    pub undefined: usize,
    /// µ at feature resolution, before upsampling.
    pub feature_level: Moments,
    /// Feature cells whose whole footprint lies behind the wall.
    pub feature_wall_cells: i64,
    pub images: usize,
    pub model: String,
    /// The model's weights are its seeded initialisation (a built-in architecture without
    /// trained or given weights): an untrained network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random_weights: bool,
    pub data: String,
    /// µ on the unmasked baseline model, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Moments>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_model: Option<String>,
    /// The percentile bootstrap's upper bound at the same level, beside the Student-t one.
    #[serde(default)]
    pub bootstrap_upper: Option<f64>,
}

/// µ per image for maps [N, H, W] and a 0/1 region [H, W]; None where the map is all zero.
pub fn leakage(maps: &Tensor, region: &Tensor) -> Vec<Option<f64>> {
    let dims = [1i64, 2].as_slice();
    let total = maps
        .square()
        .sum_dim_intlist(dims, false, Kind::Double)
        .sqrt();
    let inside = (maps * region.unsqueeze(0))
        .square()
        .sum_dim_intlist(dims, false, Kind::Double)
        .sqrt();
    let total = Vec::<f64>::try_from(total.to_device(tch::Device::Cpu)).expect("norms");
    let inside = Vec::<f64>::try_from(inside.to_device(tch::Device::Cpu)).expect("norms");
    total
        .iter()
        .zip(&inside)
        .map(|(t, i)| (*t > 0.0).then(|| i / t))
        .collect()
}

/// The feature cells whose whole footprint in the input lies behind the wall, [h, w].
pub fn feature_region(input_region: &Tensor, h: i64, w: i64) -> Tensor {
    let open = (input_region.ones_like() - input_region)
        .unsqueeze(0)
        .unsqueeze(0);
    let open = open.adaptive_max_pool2d([h, w]).0;
    (open.ones_like() - open).squeeze_dim(0).squeeze_dim(0)
}

impl WallCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        WallCheck {
            subject,
            ..Self::default()
        }
    }

    fn rule(&self, alpha: f64) -> String {
        format!(
            "pass iff the one-sided upper Student-t bound ({} per side) of mean mu is <= {}%; \
             fail iff the lower bound is > {}%; inconclusive otherwise; an all-zero map counts \
             mu = 0",
            percent(1.0 - alpha),
            self.threshold * 100.0,
            self.threshold * 100.0
        )
    }

    /// The verdict for one method from its per-image µ (None for an all-zero map).
    fn judge(
        &self,
        method: &dyn CamMethod,
        mu: Vec<Option<f64>>,
        mut findings: WallFindings,
        ctx: &CheckContext,
    ) -> CheckResult {
        let alpha = ctx.alpha();
        let statistic = match self.resolution {
            Resolution::Input => "mean mu: share of the map's l2 norm behind the certified wall",
            Resolution::Features => {
                "mean mu: share of the feature-resolution map's l2 norm on the cells behind the \
                 certified wall"
            }
        }
        .to_string();
        let undefined = mu.iter().filter(|v| v.is_none()).count();
        let values: Vec<f64> = mu.iter().map(|v| v.unwrap_or(0.0)).collect();
        let per_sample: Vec<Option<f64>> = values.iter().map(|&v| Some(v)).collect();
        if undefined == values.len() || values.len() < 2 {
            let reason = match undefined == values.len() {
                true => format!(
                    "all {} maps are all zero: the method shows nothing",
                    values.len()
                ),
                false => "a verdict needs at least 2 images".to_string(),
            };
            return CheckResult {
                statistic,
                per_sample,
                undefined,
                findings: Findings::new(findings),
                ..CheckResult::error(WallCheck::NAME, method, reason, &self.rule(alpha))
            };
        }
        let threshold = Threshold {
            value: self.threshold,
            inclusive: true,
        };
        // µ is a share of the map: bounds beyond [0, 1] say nothing.
        let (verdict, s) = judge_below(&values, alpha, threshold);
        let s = s.within(0.0, 1.0);
        let bootstrap = ctx.stream(streams::WALL_BOOTSTRAP);
        let resamples = ((20.0 / alpha).ceil() as usize).clamp(2000, 200_000);
        let upper = bootstrap_interval(&values, 1.0 - alpha, Side::Upper, resamples, bootstrap);
        findings.detail.bootstrap_upper = finite(upper.ci_high);
        let zero = match undefined {
            0 => String::new(),
            k => format!("; {k} all-zero map(s) counted as 0"),
        };
        let t = 100.0 * self.threshold;
        let comparison = match verdict {
            Verdict::Pass => format!("upper bound {} <= {t}%", pct(s.ci_high, 2)),
            Verdict::Fail => format!("lower bound {} > {t}%", pct(s.ci_low, 2)),
            _ => format!(
                "bounds {}..{} straddle {t}%",
                pct(s.ci_low, 2),
                pct(s.ci_high, 2)
            ),
        };
        CheckResult {
            reason: format!("mean mu = {}: {comparison}{zero}", pct(s.mean, 2)),
            statistic,
            rule: self.rule(alpha),
            per_sample,
            undefined,
            threshold: Some(threshold),
            ..CheckResult::new(WallCheck::NAME, method, verdict, s, Findings::new(findings))
        }
    }
}

impl Check for WallCheck {
    const NAME: &'static str = "wall";
    const ABOUT: &'static str = "Wall leakage (the paper's Table 1) on a walled model";
    type Findings = WallFindings;

    super::plugin::image_check_methods!(subject);

    fn models(&self) -> Vec<(String, Option<PathBuf>)> {
        let subject = (self.subject.model.clone(), self.subject.weights.clone());
        let baseline = self
            .baseline
            .clone()
            .map(|b| (b, self.baseline_weights.clone()));
        std::iter::once(subject).chain(baseline).collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, 0.0, 1.0, false)?;
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        let model = self.subject.open(ctx)?;
        let x = self.subject.images(model.as_ref(), ctx)?;
        let (c, h, w) = (x.size()[1], x.size()[2], x.size()[3]);
        let options = CertifyOptions {
            seed: ctx.stream(streams::CERTIFY).seed(),
            ..CertifyOptions::default()
        };
        let cert = certify(model.as_ref(), c, h, w, &options)?;
        let region = cert.mask().to_kind(Kind::Float).to_device(ctx.device);
        let baseline = match &self.baseline {
            Some(spec) => Some(self.subject.open_other(
                spec,
                self.baseline_weights.clone(),
                ctx,
            )?),
            None => None,
        };
        let batch = self.subject.batch_size;
        let shown = x.size()[0].min(GALLERY_IMAGES);
        let mut gallery_maps = Vec::new();
        let mut worst = Vec::new();
        let label = format!("wall check on {} images", x.size()[0]);
        let mut progress = ctx.progress(label, methods.len() as u64);
        let mut results = Vec::new();
        for method in methods {
            let e = ctx.explain(method.as_ref(), model.as_ref(), &x, None, batch)?;
            gallery_maps.push(e.maps.narrow(0, 0, shown).to_device(tch::Device::Cpu));
            let per_sample = leakage(&e.maps, &region);
            let feature = e.feature_maps();
            let fregion = feature_region(&region, feature.size()[1], feature.size()[2]);
            let feature_per_sample = leakage(&feature, &fregion);
            let feature_mu: Vec<f64> = feature_per_sample.iter().flatten().copied().collect();
            let cells = fregion.sum(Kind::Int64).int64_value(&[]);
            if self.resolution == Resolution::Features && cells == 0 {
                return Err(crate::error::Error::input(
                    format!(
                        "no cell of {}'s {}x{} map lies wholly behind the wall ({})",
                        method.title(),
                        feature.size()[1],
                        feature.size()[2],
                        cert.describe()
                    ),
                    "--resolution features",
                    "measure at the input (--resolution input), or use a wall at least one \
                     cell of the explained layer tall",
                ));
            }
            let baseline_mu = match &baseline {
                Some(b) => {
                    let maps = explain_batched(method.as_ref(), b.as_ref(), &x, None, batch)?.maps;
                    Some(Moments::of(
                        &leakage(&maps, &region)
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>(),
                    ))
                }
                None => None,
            };
            let judged = match self.resolution {
                Resolution::Input => per_sample,
                Resolution::Features => feature_per_sample,
            };
            // The gallery ranks and labels the worst images by the µ the verdict judged.
            if c == 3 {
                worst.push(worst_images(method.title(), &judged, &x, &e.maps));
            }
            let undefined = judged.iter().filter(|v| v.is_none()).count();
            let findings = WallFindings {
                detail: WallDetail {
                    undefined,
                    feature_level: Moments::of(&feature_mu),
                    feature_wall_cells: cells,
                    images: judged.len(),
                    model: model.name(),
                    random_weights: model.sha256().is_none()
                        && self.subject.model.starts_with("builtin:"),
                    data: self.subject.data.describe(&ctx.seeds),
                    baseline: baseline_mu,
                    baseline_model: baseline.as_ref().and(self.baseline.clone()),
                    bootstrap_upper: None,
                },
                wall: cert.clone(),
            };
            results.push(self.judge(method.as_ref(), judged, findings, ctx));
            progress.inc(1);
        }
        progress.finish(&format!("wall = {}", cert.describe()));
        let gallery = (c == 3).then(|| Gallery {
            // Set by the runner, which knows where the check runs.
            run: 0,
            images: crate::data::denormalize(&x.narrow(0, 0, shown)),
            titles: methods.iter().map(|m| m.title().to_string()).collect(),
            maps: gallery_maps,
            wall_rows: cert.rows.map(|r| (r.first, r.last)),
            worst,
        });
        Ok(Outcome { results, gallery })
    }
}
