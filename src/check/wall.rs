//! Wall leakage, the paper's Table 1: on a model that provably cannot see part of its input,
//! how much of a method's saliency lands there?
//!
//! µ = ‖Λ on the certified wall‖₂ / ‖Λ‖₂ per image, on the final map Λ (ReLU'd, min–max
//! normalised, upsampled: pytorch-grad-cam's semantics). Verdict: pass iff the one-sided upper
//! confidence bound (Student-t, level 95% by default) of mean µ is at most `threshold` (1%).
//! An all-zero map makes µ undefined: such images are counted and reported, excluded from the
//! statistics, and a method with fewer than two defined images gets an error, never a pass.
use super::randomization::open;
use super::stats::{bootstrap_interval, t_interval, Side};
use super::{default_batch, default_level, finite, Check, CheckContext, CheckResult};
use crate::cam::{explain_batched, CamMethod};
use crate::data::DataSpec;
use crate::error::Result;
use crate::model::wall::{certify, Certificate, CertifyOptions};
use crate::progress::Progress;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallCheck {
    /// The walled model: builtin:stack-masked, builtin:vgg16-masked, a TorchScript file, …
    pub model: String,
    /// Post-hoc wall: feature rows the head must not read (for models without their own wall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_rows: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// The same architecture without the wall, for comparison (no verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_weights: Option<PathBuf>,
    pub data: DataSpec,
    /// Seed of built-in models (their initialisation, or their training for builtin:stack-*);
    /// independent of the suite's seed, which drives the data and the random draws.
    #[serde(default)]
    pub model_seed: u64,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_level")]
    pub level: f64,
    #[serde(default = "default_batch")]
    pub batch_size: i64,
}

fn default_threshold() -> f64 {
    0.01
}

/// µ per image for maps [N, H, W] and a 0/1 region [H, W]; None where the map is all zero.
pub fn leakage(maps: &Tensor, region: &Tensor) -> Vec<Option<f64>> {
    let total = maps
        .square()
        .sum_dim_intlist([1, 2].as_slice(), false, Kind::Double)
        .sqrt();
    let inside = (maps * region.unsqueeze(0))
        .square()
        .sum_dim_intlist([1, 2].as_slice(), false, Kind::Double)
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
    /// Runs every method; also returns the certificate.
    pub fn run_with_wall(
        &self,
        methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
    ) -> Result<(Certificate, Vec<CheckResult>)> {
        let model = open(
            &self.model,
            &self.weights,
            &self.mask_rows,
            self.model_seed,
            ctx,
        )?;
        let x = self.data.load(ctx.seed)?;
        crate::cam::pipeline::validate_input(&x, model.as_ref(), &self.data.describe(ctx.seed))?;
        let (c, h, w) = (x.size()[1], x.size()[2], x.size()[3]);
        let cert = certify(
            model.as_ref(),
            c,
            h,
            w,
            &CertifyOptions {
                seed: ctx.seed,
                ..CertifyOptions::default()
            },
        )?;
        let region = cert.mask().to_kind(Kind::Float).to_device(ctx.device);
        let baseline = match &self.baseline {
            Some(spec) => Some(open(
                spec,
                &self.baseline_weights,
                &None,
                self.model_seed,
                ctx,
            )?),
            None => None,
        };
        let rule = format!(
            "pass iff the one-sided upper {:.0}% Student-t bound of mean mu over images with a defined mu is <= {}%",
            self.level * 100.0,
            self.threshold * 100.0
        );
        let mut progress = Progress::new(
            format!("wall check on {} images", x.size()[0]),
            methods.len() as u64,
        );
        let mut results = Vec::new();
        for method in methods {
            let e = explain_batched(method.as_ref(), model.as_ref(), &x, None, self.batch_size)?;
            let per_sample = leakage(&e.maps, &region);
            let feature = e.feature_maps();
            let fregion = feature_region(&region, feature.size()[1], feature.size()[2]);
            let feature_mu: Vec<f64> = leakage(&feature, &fregion).into_iter().flatten().collect();
            let baseline_mu: Option<Vec<f64>> = match &baseline {
                Some(b) => Some(
                    leakage(
                        &explain_batched(method.as_ref(), b.as_ref(), &x, None, self.batch_size)?
                            .maps,
                        &region,
                    )
                    .into_iter()
                    .flatten()
                    .collect(),
                ),
                None => None,
            };
            let defined: Vec<f64> = per_sample.iter().flatten().cloned().collect();
            let undefined = per_sample.len() - defined.len();
            let mut detail = json!({
                "undefined": undefined,
                "feature_level": moments(&feature_mu),
                "feature_wall_cells": fregion.sum(Kind::Int64).int64_value(&[]),
                "images": per_sample.len(),
                "model": model.name(),
                "data": self.data.describe(ctx.seed),
            });
            if let Some(b) = &baseline_mu {
                detail["baseline"] = moments(b);
                detail["baseline_model"] = json!(self.baseline);
            }
            let statistic =
                "mean mu: share of the map's l2 norm behind the certified wall".to_string();
            let result = if defined.len() < 2 {
                let mut r = CheckResult::error(
                    "wall",
                    method.title(),
                    format!(
                        "mu is undefined for {undefined} of {} images (all-zero maps); at least 2 defined values are needed",
                        per_sample.len()
                    ),
                    &rule,
                );
                r.per_sample = per_sample;
                r.detail = detail;
                r.statistic = statistic;
                r
            } else {
                let s = t_interval(&defined, self.level, Side::Upper);
                detail["bootstrap_upper"] = json!(finite(
                    bootstrap_interval(&defined, self.level, Side::Upper, 2000, ctx.seed).ci_high
                ));
                let pass = s.ci_high <= self.threshold;
                let undefined_note = if undefined > 0 {
                    format!("; {undefined} image(s) with an all-zero map excluded")
                } else {
                    String::new()
                };
                CheckResult {
                    reason: format!(
                        "mean mu = {:.2}% (upper bound {:.2}%) {} threshold {}%{undefined_note}",
                        100.0 * s.mean,
                        100.0 * s.ci_high,
                        if pass { "<=" } else { ">" },
                        100.0 * self.threshold
                    ),
                    statistic,
                    rule: rule.clone(),
                    per_sample,
                    detail,
                    ..CheckResult::judged("wall", method.title(), pass, s)
                }
            };
            results.push(result);
            progress.inc(1);
        }
        progress.finish(&format!("wall = {}", cert.describe()));
        Ok((cert, results))
    }
}

fn moments(values: &[f64]) -> serde_json::Value {
    if values.is_empty() {
        return json!({"n": 0});
    }
    json!({"n": values.len(), "mean": super::stats::mean(values), "std": super::stats::std(values)})
}

impl Check for WallCheck {
    fn name(&self) -> &str {
        "wall"
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("params serialise")
    }
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Vec<CheckResult>> {
        let (cert, mut results) = self.run_with_wall(methods, ctx)?;
        let wall = serde_json::to_value(&cert).expect("certificates serialise");
        for r in &mut results {
            r.extra.insert("wall".into(), wall.clone());
        }
        Ok(results)
    }
}
