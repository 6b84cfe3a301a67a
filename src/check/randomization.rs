//! Model randomization (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): a
//! method whose maps barely change when the model's weights are replaced by random ones does not
//! explain the model.
//!
//! Layers are randomized from the top (output side) down, cumulatively (`cascading`, Adebayo's
//! main test), from the input side up, cumulatively (`bottom-up`, Quantus' default order), or one
//! at a time with the others at their trained values (`independent`). After each
//! step every method explains the same images for the same target classes (the trained model's
//! predictions) and the maps are compared with the trained model's maps: Spearman rank correlation
//! of the absolute maps, Spearman of the signed raw maps, SSIM, Spearman of HOG descriptors.
//! Verdict: pass iff the one-sided upper bound of mean Spearman(abs) after the last step
//! (cascading and bottom-up: every layer random, or the first `layers` of the order; independent:
//! per image, the mean over the steps) is below `threshold` (0.5; docs/checks.md justifies it
//! from the controls).
//!
//! The whole randomization is drawn `draws` times independently (draw r's layer at position s
//! from the output side replaces its weights from sub-stream (r, s) of `randomization/weights`),
//! and the bounds come from the crossed images × draws design ([`super::stats::Crossed`]), so a
//! verdict is not one draw's luck. The negative controls ([`super::controls`]) run beside the
//! methods on the same draws.
//!
//! Smooth MPRT ([`super::smooth_mprt`]) runs the same steps on maps averaged over noisy copies of
//! the images ([`Smoothing`]).
use super::controls;
use super::correlation::{threshold, Rule, StepSimilarity, THRESHOLD};
use super::similarity::{Reference, Similarities};
use super::stats::mean;
use super::{Check, CheckContext, Findings, Outcome, Subject};
use crate::cam::{explain_all, CamMethod, Explanation};
use crate::error::{Error, Result};
use crate::model::init::Init;
use crate::model::memo::FeatureMemo;
use crate::model::ParameterGroup;
use crate::seed::{streams, Stream};
use crate::SplitModel;
use rand::seq::SliceRandom;
use super::CheckResult;
use crate::chart::{Chart, Point, Series, XAxis, MARKERS, PALETTE};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Cumulatively from the output side down (Adebayo's main test).
    Cascading,
    /// One layer at a time, the others at their trained values.
    Independent,
    /// Cumulatively from the input side up (Quantus' default `bottom_up`).
    #[serde(rename = "bottom-up")]
    BottomUp,
}

/// Smooth MPRT's maps: each the mean of a method's maps over `samples` copies of the images, the
/// k-th with N(0, σ²) noise, σ = `noise` × (max − min) of each image, and the last noise-free.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Smoothing {
    pub samples: usize,
    pub noise: f64,
}

impl Smoothing {
    /// The noisy copies of `x` [N, C, H, W], stacked [samples · N, C, H, W] (copy k is rows
    /// k·N..(k + 1)·N; the last copy is `x`), from `stream` (sub-stream k for copy k).
    fn copies(&self, x: &Tensor, stream: Stream) -> Result<Tensor> {
        let bytes = 4 * (self.samples as u128) * (x.numel() as u128);
        crate::limits::fits("Smooth MPRT's noisy copies of the images", "samples", bytes)?;
        let n = x.size()[0];
        let flat = x.flatten(1, -1);
        let range = (flat.amax(1, true) - flat.amin(1, true)).view([n, 1, 1, 1]);
        let shape = x.size();
        let copies: Vec<Tensor> = (0..self.samples)
            .map(|k| match k + 1 == self.samples {
                true => x.shallow_clone(),
                false => {
                    let noise =
                        Init::new(stream.at(k as u64).seed(), x.device()).normal(&shape, 1.0);
                    x + noise * &range * self.noise
                }
            })
            .collect();
        Ok(Tensor::cat(&copies, 0))
    }

    /// Each method's smoothed maps (and raw maps) of the copies, for `targets` of the N images
    /// (every copy's forward shared by the methods, [`explain_all`]).
    fn explain(
        &self,
        methods: &[&dyn CamMethod],
        model: &dyn SplitModel,
        copies: &Tensor,
        targets: &Tensor,
        batch: i64,
    ) -> Result<Vec<Explanation>> {
        let k = self.samples as i64;
        let repeated = targets.repeat([k]);
        let all = explain_all(methods, model, copies, Some(&repeated), batch)?;
        let mean = |t: &Tensor| {
            let mut shape = t.size();
            shape[0] /= k;
            shape.insert(0, k);
            t.view(shape.as_slice())
                .mean_dim(0, false, tch::Kind::Float)
        };
        let n = targets.size()[0];
        Ok(all
            .into_iter()
            .map(|e| Explanation {
                raw: mean(&e.raw),
                maps: mean(&e.maps),
                targets: targets.shallow_clone(),
                logits: e.logits.narrow(0, (k - 1) * n, n),
                reading: e.reading,
            })
            .collect())
    }
}

/// How a layer's parameters are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// N(0, σ²) with σ the standard deviation of the parameter tensor's trained values, or,
    /// for a constant tensor (a fresh normalisation layer's scale of ones), its root mean
    /// square: σ = 0 would set that scale to 0 and every later activation to a constant, so
    /// that every randomized map were constant (a zero tensor stays 0).
    Gaussian,
    /// PyTorch's default initialisation: weights and biases U(−1/√fan_in, 1/√fan_in)
    /// (Kaiming-uniform with a = √5), one-dimensional weights (normalisation scales) 1, their
    /// biases 0.
    DefaultInit,
    /// A seeded random permutation of the tensor's entries.
    Permutation,
}

/// Replaces one layer's parameters in place, from `stream` (sub-stream k for the k-th tensor's
/// permutation).
pub fn randomize(group: &ParameterGroup, distribution: Distribution, stream: Stream) {
    let mut init = Init::new(stream.seed(), group.parameters[0].1.device());
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
                    let std = match tensor.numel() > 1 {
                        true => tensor.std(true).double_value(&[]),
                        false => 0.0,
                    };
                    let sigma = match std > 0.0 {
                        true => std,
                        false => tensor.square().mean(Kind::Double).sqrt().double_value(&[]),
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
                    order.shuffle(&mut stream.at(k as u64).rng());
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

/// Default independent randomizations per check (docs/checks.md, "Repeated randomization": the
/// measured power analysis behind it).
pub const DRAWS: usize = 32;

/// The most independent randomizations a check may draw.
pub const MAX_DRAWS: usize = 64;

/// What a report written before repeated randomization drew: one randomization.
pub(crate) fn one_draw() -> usize {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct RandomizationCheck {
    /// The trained model and its images.
    #[command(flatten)]
    #[serde(flatten)]
    pub subject: Subject,
    /// Randomize cumulatively from the top, or one layer at a time.
    #[arg(long, value_enum, default_value_t = Mode::Cascading)]
    pub mode: Mode,
    /// How a layer's parameters are replaced.
    #[arg(long, value_enum, default_value_t = Distribution::Gaussian)]
    pub distribution: Distribution,
    /// Pass threshold on the upper bound of mean Spearman(abs).
    #[arg(long, default_value_t = THRESHOLD)]
    pub threshold: f64,
    /// Independent randomizations of the whole model (R ≥ 1); the bounds account for images and
    /// draws.
    #[arg(long, default_value_t = DRAWS)]
    pub draws: usize,
    /// Randomize only the first K layers of the order (cascading: the K output-side layers) and
    /// judge after them; default: every layer.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
}

impl Default for RandomizationCheck {
    fn default() -> Self {
        RandomizationCheck {
            subject: Subject::default(),
            mode: Mode::Cascading,
            distribution: Distribution::Gaussian,
            threshold: THRESHOLD,
            draws: DRAWS,
            layers: None,
        }
    }
}

/// The randomization check's own numbers for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomizationFindings {
    pub detail: RandomizationDetail,
}

impl super::CheckFindings for RandomizationFindings {
    fn charts(&self, run: usize, results: &[CheckResult]) -> Vec<Chart> {
        charts(run, results)
    }

    fn decided_against_threshold(&self) -> bool {
        true
    }

    /// The check, the model and what was randomized: a pass names the evidence it rests on
    /// (a green "model randomization" badge from the output layer of a small model read as more).
    fn badge_label(&self, _check: &str) -> Option<String> {
        let d = &self.detail;
        let (k, of) = (d.curve.len(), d.layers_top_down.len());
        let layers = match d.mode {
            Mode::Cascading if k == of => format!("all {of} layers"),
            Mode::Cascading if k == 1 => format!("output layer of {of}"),
            Mode::Cascading => format!("top {k} of {of} layers"),
            Mode::BottomUp if k == of => format!("all {of} layers, bottom-up"),
            Mode::BottomUp => format!("bottom {k} of {of} layers"),
            Mode::Independent => format!("each of {k} layers alone"),
        };
        let check = match d.smoothing {
            Some(_) => "smooth MPRT",
            None => "model randomization",
        };
        Some(format!(
            "{check} · {}, {layers}",
            super::result::badge_model(&d.model)
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomizationDetail {
    pub mode: Mode,
    pub distribution: Distribution,
    pub model: String,
    /// The randomized layers, output side first.
    pub layers_top_down: Vec<String>,
    /// One entry per step: the similarities to the trained model's maps (over every draw).
    pub curve: Vec<StepSimilarity>,
    /// Independent randomizations drawn.
    #[serde(default = "one_draw")]
    pub draws: usize,
    pub data: String,
    /// The pass threshold on the upper bound of mean Spearman(abs).
    #[serde(default = "threshold")]
    pub threshold: f64,
    /// Smooth MPRT's smoothing (absent for plain model randomization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Smoothing>,
}

/// The model's parameter groups, output side first (the order randomization numbers its steps
/// and its replacement weights' sub-streams in); an error for a model with none.
pub fn layers_top_down(model: &dyn SplitModel) -> Result<Vec<ParameterGroup>> {
    let mut groups = model.parameter_groups()?;
    if groups.is_empty() {
        return Err(Error::model(
            "the model exposes no parameters to randomize",
            model.name(),
            "use a built-in model or a TorchScript module with parameters",
        ));
    }
    groups.reverse();
    Ok(groups)
}

/// Every method's maps of `x` (of its noisy copies, averaged, when smoothed), each batch's
/// forward shared by the methods.
fn explain_each(
    methods: &[&dyn CamMethod],
    model: &dyn SplitModel,
    x: &Tensor,
    targets: &Tensor,
    batch: i64,
    smoothing: Option<(&Smoothing, &Tensor)>,
) -> Result<Vec<Explanation>> {
    match smoothing {
        Some((s, copies)) => s.explain(methods, model, copies, targets, batch),
        None => explain_all(methods, model, x, Some(targets), batch),
    }
}

impl RandomizationCheck {
    /// The check with its default parameters on `subject`.
    #[cfg(feature = "internals")]
    pub fn new(subject: Subject) -> Self {
        RandomizationCheck {
            subject,
            ..Self::default()
        }
    }

    /// Every step's similarities per method, one per draw, the trained model restored
    /// afterwards. `groups` are output side first; a layer draws the same replacement weights in
    /// every order (sub-stream of the draw, then of its position there).
    #[allow(clippy::type_complexity)]
    fn steps(
        &self,
        methods: &[&dyn CamMethod],
        model: &dyn SplitModel,
        groups: &[ParameterGroup],
        x: &Tensor,
        smoothing: Option<Smoothing>,
        ctx: &CheckContext,
    ) -> Result<Vec<Vec<(String, Vec<Similarities>)>>> {
        let batch = self.subject.batch_size;
        let x = x.to_device(ctx.device);
        let targets = tch::no_grad(|| model.forward(&x))?.argmax(1, false);
        let copies = smoothing
            .map(|s| s.copies(&x, ctx.stream(streams::SMOOTH_NOISE)))
            .transpose()?;
        let smoothing = smoothing.as_ref().zip(copies.as_ref());
        let order: Vec<usize> = match self.mode {
            Mode::BottomUp => (0..groups.len()).rev().collect(),
            Mode::Cascading | Mode::Independent => (0..groups.len()).collect(),
        };
        let order = &order[..self.layers.unwrap_or(groups.len())];
        // A step that replaces only layers the head reads re-runs the head only: the trained
        // model's features calls are recorded and answered again (exactly, or computed).
        let memo = FeatureMemo::new(model, crate::limits::memory_budget()? as u128 / 4);
        if order.iter().any(|&step| groups[step].head_only) {
            memo.record();
        }
        let originals = explain_each(methods, &memo, &x, &targets, batch, smoothing)?;
        // Ranked once, compared with every draw's maps.
        let references: Vec<Reference> =
            originals.iter().map(|o| Reference::of(&o.maps, &o.raw)).collect();
        let snapshot = Snapshot::take(groups);
        let mut per_step: Vec<Vec<(String, Vec<Similarities>)>> = vec![Vec::new(); methods.len()];
        let label = format!(
            "{:?} randomization of {} layers, {} draw(s)",
            self.mode,
            order.len(),
            self.draws
        );
        let mut progress = ctx.progress(label.to_lowercase(), (order.len() * self.draws) as u64);
        let weights = ctx.stream(streams::RANDOMIZATION_WEIGHTS);
        let outcome = (|| -> Result<()> {
            for draw in 0..self.draws {
                snapshot.restore();
                let mut changed: Vec<&ParameterGroup> = Vec::new();
                for (k, &step) in order.iter().enumerate() {
                    let group = &groups[step];
                    if self.mode == Mode::Independent {
                        snapshot.restore();
                        changed.clear();
                    }
                    randomize(
                        group,
                        self.distribution,
                        weights.at(draw as u64).at(step as u64),
                    );
                    changed.push(group);
                    memo.follow(&changed);
                    let label = match self.mode {
                        Mode::Cascading => format!("{}..top", group.layer),
                        Mode::Independent => group.layer.clone(),
                        Mode::BottomUp => format!("input..{}", group.layer),
                    };
                    let maps = explain_each(methods, &memo, &x, &targets, batch, smoothing)?;
                    for (i, (o, r)) in references.iter().zip(&maps).enumerate() {
                        let similarities = o.compare(&r.maps, &r.raw);
                        match draw {
                            0 => per_step[i].push((label.clone(), vec![similarities])),
                            _ => per_step[i][k].1.push(similarities),
                        }
                    }
                    progress.inc(1);
                }
            }
            Ok(())
        })();
        snapshot.restore();
        outcome?;
        progress.finish("done");
        Ok(per_step)
    }
}

impl Check for RandomizationCheck {
    const NAME: &'static str = "randomization";
    const ABOUT: &'static str =
        "Cascading, bottom-up or independent model randomization (Adebayo et al., NeurIPS 2018)";
    type Findings = RandomizationFindings;

    super::plugin::image_check_methods!(subject);

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::real("threshold", self.threshold, -1.0, 1.0, false)?;
        crate::limits::count("draws", self.draws, 1, MAX_DRAWS)?;
        if let Some(layers) = self.layers {
            crate::limits::count("layers", layers, 1, 10_000)?;
        }
        self.subject.validate()
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        self.run_as(Self::NAME, None, methods, ctx)
    }
}

impl RandomizationCheck {
    /// The check's run under the name `check`, with Smooth MPRT's `smoothing` when given.
    pub(crate) fn run_as(
        &self,
        check: &'static str,
        smoothing: Option<Smoothing>,
        methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
    ) -> Result<Outcome> {
        let model = self.subject.open(ctx)?;
        let x = self.subject.images(model.as_ref(), ctx)?;
        let groups = layers_top_down(model.as_ref())?;
        if let Some(k) = self.layers.filter(|&k| k > groups.len()) {
            return Err(Error::model(
                format!("`layers = {k}` but the model has {} layers", groups.len()),
                model.name(),
                format!(
                    "randomize from 1 to {} layers, or leave `layers` out",
                    groups.len()
                ),
            ));
        }
        let controls = controls::methods(ctx);
        let all = controls::with_controls(methods, &controls);
        let per_step = self.steps(&all, model.as_ref(), &groups, &x, smoothing, ctx)?;
        let n = x.size()[0] as usize;
        let what = match (self.mode, self.layers) {
            (Mode::Cascading | Mode::BottomUp, None) => "after every layer is randomized".into(),
            (Mode::Cascading, Some(1)) => "after the output layer is randomized".into(),
            (Mode::BottomUp, Some(1)) => "after the input layer is randomized".into(),
            (Mode::Cascading, Some(k)) => {
                format!("after the {k} output-side layers are randomized")
            }
            (Mode::BottomUp, Some(k)) => format!("after the {k} input-side layers are randomized"),
            (Mode::Independent, _) => "averaged over single-layer randomizations".into(),
        };
        // Smooth MPRT judges other maps than plain model randomization: say so in every output.
        let what = match smoothing {
            Some(s) => format!(
                "averaged over {} noisy copies of each image (σ = {} of its range), {what}",
                s.samples, s.noise
            ),
            None => what,
        };
        let rule = Rule {
            check,
            threshold: self.threshold,
            alpha: ctx.alpha(),
            what: &what,
        };
        let results = all
            .iter()
            .zip(&per_step)
            .map(|(method, steps)| {
                // Per draw: the per-image values the rule judges, and how many it set.
                let judged: Vec<(Vec<f64>, usize)> = (0..self.draws)
                    .map(|draw| match self.mode {
                        Mode::Cascading | Mode::BottomUp => {
                            steps.last().expect("one step at least").1[draw].spearman_abs_ruled()
                        }
                        Mode::Independent => {
                            let ruled: Vec<(Vec<f64>, usize)> = steps
                                .iter()
                                .map(|(_, s)| s[draw].spearman_abs_ruled())
                                .collect();
                            let values = (0..n)
                                .map(|img| {
                                    mean(&ruled.iter().map(|(v, _)| v[img]).collect::<Vec<_>>())
                                })
                                .collect();
                            (values, ruled.iter().map(|(_, u)| u).sum())
                        }
                    })
                    .collect();
                let undefined = judged.iter().map(|(_, u)| u).sum();
                let draws = judged.into_iter().map(|(v, _)| v).collect();
                let detail = RandomizationDetail {
                    mode: self.mode,
                    distribution: self.distribution,
                    model: model.name(),
                    layers_top_down: groups.iter().map(|g| g.layer.clone()).collect(),
                    curve: steps
                        .iter()
                        .map(|(label, s)| StepSimilarity::of(label, &Similarities::concat(s)))
                        .collect(),
                    draws: self.draws,
                    data: self.subject.data.describe(&ctx.seeds),
                    threshold: self.threshold,
                    smoothing,
                };
                let findings = Findings::new(RandomizationFindings { detail });
                rule.verdict(*method, draws, undefined, findings)
            })
            .collect();
        Ok(Outcome::new(controls::apply(results, controls.len())))
    }
}

/// The chart of one randomization check: the mean Spearman correlation (absolute maps) of each
/// method's maps with the trained model's, step by step, the layers named on the x axis and the
/// number of undefined correlations (constant maps) written beside a mark.
pub fn charts(run: usize, results: &[CheckResult]) -> Vec<Chart> {
    let curves: Vec<(&CheckResult, &RandomizationDetail)> = results
        .iter()
        .filter_map(|r| Some((r, &r.findings.get::<RandomizationFindings>()?.detail)))
        .collect();
    let Some((first, detail)) = curves.first() else {
        return Vec::new();
    };
    let mut names = vec![String::from("trained")];
    names.extend(detail.curve.iter().map(|s| s.step.clone()));
    let series = curves
        .iter()
        .enumerate()
        .map(|(i, (r, d))| {
            let mut points = vec![Point::at(0.0, 1.0)];
            for (s, step) in d.curve.iter().enumerate() {
                if let Some(m) = step.spearman_abs.mean {
                    points.push(Point::at(s as f64 + 1.0, m));
                }
            }
            Series {
                name: r.title.clone(),
                note: undefined_note(r, d),
                marker: MARKERS[i % MARKERS.len()],
                colour: PALETTE[i % PALETTE.len()],
                line: true,
                points,
            }
        })
        .collect();
    let mode = format!("{:?}", detail.mode).to_lowercase();
    vec![Chart {
        stem: "randomization".into(),
        run,
        title: match &detail.smoothing {
            Some(s) => format!(
                "Smooth MPRT ({mode}) of {}: maps averaged over {} noisy copies",
                detail.model, s.samples
            ),
            None => format!("Model randomization ({mode}) of {}", detail.model),
        },
        x: XAxis::Categories {
            label: "randomized (output side first)".into(),
            names,
        },
        y_label: "mean Spearman ρ of |map| vs trained".into(),
        y_range: (-1.05, 1.05),
        reference: Some((
            detail.threshold,
            format!("pass threshold {} ({})", detail.threshold, first.check),
        )),
        series,
    }]
}

/// The legend's note for a method's undefined correlations (constant maps): how many of the
/// curve's correlations are undefined, and at how many steps none is defined (no mark there).
pub fn undefined_note(r: &CheckResult, d: &RandomizationDetail) -> Option<String> {
    let n = r.summary.n.max(r.per_sample.len());
    let undefined: usize = d.curve.iter().map(|s| s.spearman_abs.undefined).sum();
    let empty = d
        .curve
        .iter()
        .filter(|s| s.spearman_abs.mean.is_none())
        .count();
    match (undefined, empty) {
        (0, _) => None,
        (u, 0) => Some(format!("{u}/{} ρ undefined", n * d.curve.len())),
        (u, e) => Some(format!(
            "{u}/{} ρ undefined, none at {e} step{}",
            n * d.curve.len(),
            if e == 1 { "" } else { "s" }
        )),
    }
}
