//! Model randomization (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): a
//! method whose maps barely change when the model's weights are replaced by random ones does not
//! explain the model.
//!
//! Layers are randomized from the top (output side) down, cumulatively (`cascading`, Adebayo's
//! main test) or one at a time with the others at their trained values (`independent`). After each
//! step every method explains the same images for the same target classes (the trained model's
//! predictions) and the maps are compared with the trained model's maps: Spearman rank correlation
//! of the absolute maps, Spearman of the signed raw maps, SSIM, Spearman of HOG descriptors.
//! Verdict: pass iff the one-sided upper bound of mean Spearman(abs) after full randomization
//! (cascading: every layer random; independent: per image, the mean over the steps) is below
//! `threshold` (0.5; docs/checks.md justifies it from the controls).
use super::similarity::{compare, Similarities};
use super::stats::{t_interval, Side};
use super::{default_batch, default_level, Check, CheckContext, CheckResult};
use crate::cam::{explain_batched, CamMethod, Explanation};
use crate::data::DataSpec;
use crate::error::{Error, Result};
use crate::model::init::Init;
use crate::model::wall::{RowRange, Walled};
use crate::model::zoo::ZooOptions;
use crate::model::ParameterGroup;
use crate::progress::Progress;
use crate::SplitModel;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Cascading,
    Independent,
}

/// How a layer's parameters are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// N(0, σ²) with σ the standard deviation of the parameter tensor's trained values.
    Gaussian,
    /// PyTorch's default initialisation: weights and biases U(−1/√fan_in, 1/√fan_in) (Kaiming-uniform
    /// with a = √5), one-dimensional weights (normalisation scales) 1, their biases 0.
    DefaultInit,
    /// A seeded random permutation of the tensor's entries.
    Permutation,
}

/// Replaces one layer's parameters in place.
pub fn randomize(group: &ParameterGroup, distribution: Distribution, seed: u64) {
    let mut init = Init::new(seed, group.parameters[0].1.device());
    let fan_in = group
        .parameters
        .iter()
        .find(|(_, t)| t.dim() >= 2)
        .map(|(_, t)| t.size()[1..].iter().product::<i64>())
        .unwrap_or(1);
    let normalisation = group.parameters.iter().all(|(_, t)| t.dim() <= 1);
    tch::no_grad(|| {
        for (k, (name, tensor)) in group.parameters.iter().enumerate() {
            let shape = tensor.size();
            let fresh = match distribution {
                Distribution::Gaussian => {
                    let sigma = if tensor.numel() > 1 {
                        tensor.std(true).double_value(&[])
                    } else {
                        0.0
                    };
                    init.normal(&shape, sigma)
                }
                Distribution::DefaultInit if normalisation => {
                    if name.ends_with("weight") {
                        init.ones(&shape)
                    } else {
                        init.zeros(&shape)
                    }
                }
                Distribution::DefaultInit => init.uniform(&shape, 1.0 / (fan_in as f64).sqrt()),
                Distribution::Permutation => {
                    let flat = tensor.flatten(0, -1);
                    let mut order: Vec<i64> = (0..flat.size()[0]).collect();
                    order.shuffle(&mut StdRng::seed_from_u64(seed.wrapping_add(k as u64)));
                    flat.index_select(0, &Tensor::from_slice(&order).to_device(tensor.device()))
                        .view(shape.as_slice())
                }
            };
            let mut target = tensor.shallow_clone();
            target.copy_(&fresh);
        }
    });
}

/// A snapshot of every parameter, to restore the trained model.
pub struct Snapshot(Vec<(Tensor, Tensor)>);

impl Snapshot {
    pub fn take(groups: &[ParameterGroup]) -> Self {
        Snapshot(
            groups
                .iter()
                .flat_map(|g| {
                    g.parameters
                        .iter()
                        .map(|(_, t)| (t.shallow_clone(), t.detach().copy()))
                })
                .collect(),
        )
    }

    pub fn restore(&self) {
        tch::no_grad(|| {
            for (live, saved) in &self.0 {
                let mut live = live.shallow_clone();
                live.copy_(saved);
            }
        });
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomizationCheck {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_rows: Option<String>,
    pub data: DataSpec,
    /// Seed of built-in models (their initialisation, or their training for builtin:stack-*);
    /// independent of the suite's seed, which drives the data and the random draws.
    #[serde(default)]
    pub model_seed: u64,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    #[serde(default = "default_distribution")]
    pub distribution: Distribution,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_level")]
    pub level: f64,
    #[serde(default = "default_batch")]
    pub batch_size: i64,
}

fn default_mode() -> Mode {
    Mode::Cascading
}
fn default_distribution() -> Distribution {
    Distribution::Gaussian
}
pub(crate) fn default_threshold() -> f64 {
    0.5
}

/// Opens a check's model, walled when `mask_rows` is given.
pub(crate) fn open(
    spec: &str,
    weights: &Option<PathBuf>,
    mask_rows: &Option<String>,
    model_seed: u64,
    ctx: &CheckContext,
) -> Result<Box<dyn SplitModel>> {
    let model = crate::open_model(
        spec,
        ctx.device,
        &ZooOptions {
            seed: model_seed,
            weights: weights.clone(),
        },
    )?;
    Ok(match mask_rows {
        Some(rows) => Box::new(Walled::new(model, RowRange::parse(rows)?)),
        None => model,
    })
}

/// Mean and undefined count of each similarity, for one step.
pub(crate) fn step_summary(label: &str, s: &Similarities) -> serde_json::Value {
    let summary = |values: &[Option<f64>]| {
        let defined: Vec<f64> = values.iter().flatten().cloned().collect();
        let mean = if defined.is_empty() {
            None
        } else {
            Some(super::stats::mean(&defined))
        };
        json!({"mean": mean, "undefined": values.len() - defined.len()})
    };
    json!({
        "step": label,
        "spearman_abs": summary(&s.spearman_abs),
        "spearman_signed": summary(&s.spearman_signed),
        "ssim": summary(&s.ssim),
        "hog": summary(&s.hog),
    })
}

/// The verdict on per-image Spearman(abs) values: pass iff the one-sided upper bound of their
/// mean is below `threshold`.
pub(crate) fn verdict(
    check: &str,
    method: &str,
    per_sample: Vec<Option<f64>>,
    threshold: f64,
    level: f64,
    what: &str,
    detail: serde_json::Value,
) -> CheckResult {
    let rule = format!("pass iff the one-sided upper {:.0}% Student-t bound of mean Spearman(abs) {what} is < {threshold}", level * 100.0);
    let defined: Vec<f64> = per_sample.iter().flatten().cloned().collect();
    let undefined = per_sample.len() - defined.len();
    if defined.len() < 2 {
        let mut r = CheckResult::error(
            check,
            method,
            format!(
                "Spearman is undefined for {undefined} of {} images (constant maps); at least 2 defined values are needed",
                per_sample.len()
            ),
            &rule,
        );
        r.per_sample = per_sample;
        r.detail = detail;
        return r;
    }
    let s = t_interval(&defined, level, Side::Upper);
    let pass = s.ci_high < threshold;
    CheckResult {
        reason: format!(
            "mean Spearman(abs) {what} = {:.3} (upper bound {:.3}) {} {threshold}{}",
            s.mean,
            s.ci_high,
            if pass { "<" } else { ">=" },
            if undefined > 0 {
                format!("; {undefined} constant map(s) excluded")
            } else {
                String::new()
            }
        ),
        statistic: format!("mean Spearman rank correlation of absolute maps {what}"),
        rule,
        per_sample,
        detail,
        ..CheckResult::judged(check, method, pass, s)
    }
}

fn explain_all(
    methods: &[Box<dyn CamMethod>],
    model: &dyn SplitModel,
    x: &Tensor,
    targets: &Tensor,
    batch: i64,
) -> Result<Vec<Explanation>> {
    methods
        .iter()
        .map(|m| explain_batched(m.as_ref(), model, x, Some(targets), batch))
        .collect()
}

impl Check for RandomizationCheck {
    fn name(&self) -> &str {
        "randomization"
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("params serialise")
    }
    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Vec<CheckResult>> {
        let model = open(
            &self.model,
            &self.weights,
            &self.mask_rows,
            self.model_seed,
            ctx,
        )?;
        let x = self.data.load(ctx.seed)?;
        crate::cam::pipeline::validate_input(&x, model.as_ref(), &self.data.describe(ctx.seed))?;
        let mut groups = model.parameter_groups()?;
        if groups.is_empty() {
            return Err(Error::model(
                "the model exposes no parameters to randomize",
                model.name(),
                "use a built-in model or a TorchScript module with parameters",
            ));
        }
        groups.reverse(); // output side first
        let targets = tch::no_grad(|| model.forward(&x.to_device(ctx.device)))?.argmax(1, false);
        let originals = explain_all(methods, model.as_ref(), &x, &targets, self.batch_size)?;
        let snapshot = Snapshot::take(&groups);
        let mut curves: Vec<Vec<serde_json::Value>> = vec![Vec::new(); methods.len()];
        let mut per_step: Vec<Vec<Similarities>> = vec![Vec::new(); methods.len()];
        let mut progress = Progress::new(
            format!("{:?} randomization of {} layers", self.mode, groups.len()).to_lowercase(),
            groups.len() as u64,
        );
        let outcome = (|| -> Result<()> {
            for (step, group) in groups.iter().enumerate() {
                if self.mode == Mode::Independent {
                    snapshot.restore();
                }
                randomize(
                    group,
                    self.distribution,
                    ctx.seed.wrapping_mul(31).wrapping_add(step as u64),
                );
                let label = match self.mode {
                    Mode::Cascading => format!("{}..top", group.layer),
                    Mode::Independent => group.layer.clone(),
                };
                let maps = explain_all(methods, model.as_ref(), &x, &targets, self.batch_size)?;
                for (i, (o, r)) in originals.iter().zip(&maps).enumerate() {
                    let s = compare(&o.maps, &r.maps, &o.raw, &r.raw);
                    curves[i].push(step_summary(&label, &s));
                    per_step[i].push(s);
                }
                progress.inc(1);
            }
            Ok(())
        })();
        snapshot.restore();
        outcome?;
        progress.finish("done");
        let n = x.size()[0] as usize;
        Ok(methods
            .iter()
            .enumerate()
            .map(|(i, method)| {
                let per_sample: Vec<Option<f64>> = match self.mode {
                    Mode::Cascading => per_step[i]
                        .last()
                        .expect("one step at least")
                        .spearman_abs
                        .clone(),
                    Mode::Independent => (0..n)
                        .map(|img| {
                            let v: Vec<f64> = per_step[i]
                                .iter()
                                .filter_map(|s| s.spearman_abs[img])
                                .collect();
                            (!v.is_empty()).then(|| super::stats::mean(&v))
                        })
                        .collect(),
                };
                let what = match self.mode {
                    Mode::Cascading => "after every layer is randomized",
                    Mode::Independent => "averaged over single-layer randomizations",
                };
                let detail = json!({
                    "mode": self.mode, "distribution": self.distribution, "model": model.name(),
                    "layers_top_down": groups.iter().map(|g| g.layer.clone()).collect::<Vec<_>>(),
                    "curve": curves[i],
                    "data": self.data.describe(ctx.seed),
                });
                verdict(
                    "randomization",
                    method.title(),
                    per_sample,
                    self.threshold,
                    self.level,
                    what,
                    detail,
                )
            })
            .collect())
    }
}
