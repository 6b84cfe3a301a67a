//! Theorem 1 (Taimeskhanov, Sicre & Garreau, ECML-PKDD 2024), property-style: on the masked rCNN
//! with i.i.d. N(0, τ²) weights, GradCAM is positive *in expectation* behind the wall.
//!
//! Monte Carlo over fresh weight draws, through blindspot's own GradCAM code path on a real model
//! (`features` / `head`, autograd): D draws form one [`crate::model::rcnn::RcnnDraws`] model, so
//! one forward/backward gives D GradCAM maps. For each draw the statistic is T = mean over the
//! pixels (i, j) behind the wall of GC_ij / ‖m_ij‖, whose expectation does not depend on the pixel
//! (derivation in docs/theory.md):
//!
//!   κ = E\[GC_ij\] / ‖m_ij‖₂ = τ² √n_vis · E[√X] / (hw √(2π)),
//!   E[√X] = Σ_K P(K) √2 Γ((K+1)/2) / Γ(K/2),  K ~ Binomial(V, ½),
//!
//! with n_vis the live pooled positions per channel. Draws are added in chunks (their size follows
//! the device) until the estimate's precision — the half-width of its 95% interval, a property of
//! the measurement — is below `relative_half_width` of the estimate (or `max_draws`), looking at
//! fixed draw counts only (`min_draws`, then every [`sampler::LOOK`] draws), so that the draws kept
//! are the same on every device. The decision uses the two-sided interval at the run's per-verdict
//! level 1 − α: fail ("inconsistent") iff the closed form lies outside it; pass iff it lies inside
//! and the precision was reached; inconclusive iff it lies inside but `max_draws` ran out first.
//! Each reading of the talk's bound "holds" unless the interval's upper end is below it.
pub mod closed_form;
pub mod findings;
pub mod render;
pub mod sampler;

pub use closed_form::{bound_readings, closed_form, expected_sqrt_chi};
pub use findings::{
    BoundReading, Bounds, ClassChoice, Estimator, ExamplePixel, PlainEstimate, TheoremDetail,
    TheoremFindings,
};

use super::stats::{finite, mean, percent, std, t_interval, Side};
use super::{Check, CheckContext, CheckResult, Findings, Outcome, Verdict};
use crate::cam::{gradcam::GradCam, CamMethod};
use crate::error::{Error, Result};
use crate::model::init::Init;
use crate::model::rcnn::RcnnConfig;
use crate::progress::Progress;
use crate::seed::{streams, Stream};

use sampler::{chunk_draws, patch_norms, Sampler, StoppingRule};
use serde::{Deserialize, Serialize};
use tch::Device;

/// A (τ, input scale) pair of the scaling rows: `[0.5, 1.0]` in a suite, `0.5:1` on the
/// command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, f64)", into = "(f64, f64)")]
pub struct Scaling {
    pub tau: f64,
    pub input_scale: f64,
}

impl From<(f64, f64)> for Scaling {
    fn from((tau, input_scale): (f64, f64)) -> Self {
        Scaling { tau, input_scale }
    }
}

impl From<Scaling> for (f64, f64) {
    fn from(s: Scaling) -> Self {
        (s.tau, s.input_scale)
    }
}

fn parse_scaling(text: &str) -> std::result::Result<Scaling, String> {
    let bad = || format!("`{text}` is not TAU:SCALE (e.g. 0.5:1)");
    let (tau, scale) = text.split_once(':').ok_or_else(bad)?;
    let tau = tau.trim().parse::<f64>().map_err(|_| bad())?;
    let input_scale = scale.trim().parse::<f64>().map_err(|_| bad())?;
    Ok(Scaling { tau, input_scale })
}

const FILTERS: [i64; 6] = [64, 256, 512, 1024, 2048, 4096];
const KERNEL: i64 = 2;
const SIZE: i64 = 29;
const TAU: f64 = 1.0;
const ONE: f64 = 1.0;
const RELATIVE_HALF_WIDTH: f64 = 0.02;
const MIN_DRAWS: i64 = 512;
const MAX_DRAWS: i64 = 200_000;
const SCALING_FILTERS: i64 = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct TheoremCheck {
    /// Numbers of filters V, one configuration each.
    #[arg(long, value_delimiter = ',', default_values_t = FILTERS)]
    pub filters: Vec<i64>,
    /// Convolution kernel side k.
    #[arg(long, default_value_t = KERNEL)]
    pub kernel: i64,
    /// Input height and width (29 in the authors' notebook).
    #[arg(long, default_value_t = SIZE)]
    pub size: i64,
    /// Standard deviation τ of the Gaussian weights.
    #[arg(long, default_value_t = TAU)]
    pub tau: f64,
    /// Multiplies the input image, hence every ‖m‖.
    #[arg(long, default_value_t = ONE)]
    pub input_scale: f64,
    /// The explained class: a fixed class (the theorem) or the argmax of 10 logits.
    #[arg(long, value_enum, default_value_t = ClassChoice::Fixed)]
    pub class: ClassChoice,
    /// The Monte Carlo statistic (control-variate needs a fixed class).
    #[arg(long, value_enum, default_value_t = Estimator::ControlVariate)]
    pub estimator: Estimator,
    /// Draw until the half-width of the estimate's 95% interval is below this fraction of it.
    #[arg(long, default_value_t = RELATIVE_HALF_WIDTH)]
    pub relative_half_width: f64,
    /// Draws per configuration at least.
    #[arg(long, default_value_t = MIN_DRAWS)]
    pub min_draws: i64,
    /// Draws per configuration at most.
    #[arg(long, default_value_t = MAX_DRAWS)]
    pub max_draws: i64,
    /// Exactly this many draws per configuration (overrides min_draws and max_draws).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<i64>,
    /// Multiplies the closed form before comparing (1 = the true value; a control uses 1.1).
    #[arg(long, default_value_t = ONE)]
    pub closed_form_factor: f64,
    /// Extra configurations that show the scaling: (τ, input scale) pairs at V =
    /// scaling_filters, written TAU:SCALE.
    #[arg(long, value_delimiter = ',', value_parser = parse_scaling)]
    pub scaling: Vec<Scaling>,
    /// V of the scaling configurations.
    #[arg(long, default_value_t = SCALING_FILTERS)]
    pub scaling_filters: i64,
}

impl Default for TheoremCheck {
    fn default() -> Self {
        TheoremCheck {
            filters: FILTERS.to_vec(),
            kernel: KERNEL,
            size: SIZE,
            tau: TAU,
            input_scale: ONE,
            class: ClassChoice::Fixed,
            estimator: Estimator::ControlVariate,
            relative_half_width: RELATIVE_HALF_WIDTH,
            min_draws: MIN_DRAWS,
            max_draws: MAX_DRAWS,
            draws: None,
            closed_form_factor: ONE,
            scaling: Vec::new(),
            scaling_filters: SCALING_FILTERS,
        }
    }
}

impl TheoremCheck {
    fn config(&self, filters: i64, tau: f64) -> RcnnConfig {
        RcnnConfig {
            in_channels: 1,
            filters,
            kernel: self.kernel,
            height: self.size,
            width: self.size,
            classes: if self.class == ClassChoice::Fixed {
                1
            } else {
                10
            },
            tau,
            masked: true,
            wall_rows: None,
        }
    }

    fn estimator(&self) -> Estimator {
        if self.class == ClassChoice::Argmax {
            Estimator::Plain
        } else {
            self.estimator
        }
    }

    /// (min_draws, max_draws), or `draws` twice when it is set.
    fn draw_range(&self) -> (i64, i64) {
        match self.draws {
            Some(d) => (d, d),
            None => (self.min_draws, self.max_draws),
        }
    }

    /// The configurations this check runs: (V, τ, input scale) for each V, then the scaling
    /// pairs at `scaling_filters`.
    pub fn sweep(&self) -> Vec<(i64, f64, f64)> {
        let sweep = self
            .filters
            .iter()
            .map(|&v| (v, self.tau, self.input_scale));
        let scaling = self
            .scaling
            .iter()
            .map(|s| (self.scaling_filters, s.tau, s.input_scale));
        sweep.chain(scaling).collect()
    }

    /// Runs one configuration to the precision target.
    pub fn run_config(
        &self,
        filters: i64,
        tau: f64,
        input_scale: f64,
        ctx: &CheckContext,
        progress: &mut Progress,
    ) -> Result<CheckResult> {
        let config = self.config(filters, tau);
        let streams = (
            ctx.stream(streams::THEOREM_INPUT),
            ctx.stream(streams::THEOREM_DRAWS).at(filters as u64),
        );
        self.measure(
            &config,
            input_scale,
            streams,
            ctx.alpha(),
            ctx.device,
            progress,
        )
    }

    /// The Monte Carlo of any rCNN geometry `config` (fixed class), to the precision target,
    /// judged at error rate `alpha`: its input image from `streams.0`, draw i from
    /// `streams.1.at(i)`.
    pub fn measure(
        &self,
        config: &RcnnConfig,
        input_scale: f64,
        streams: (Stream, Stream),
        alpha: f64,
        device: Device,
        progress: &mut Progress,
    ) -> Result<CheckResult> {
        let chunk = chunk_draws(config, device);
        self.measure_in_chunks(
            config,
            input_scale,
            streams,
            alpha,
            (device, chunk),
            progress,
        )
    }

    /// [`TheoremCheck::measure`] with `chunk` draws per model (the first try; halved where the
    /// device runs out of memory). The result does not depend on it.
    ///
    /// Long: the sampler's loop: draw a chunk, halve it where the device runs out of memory, look
    /// only at the fixed draw counts, stop by the rule.
    pub fn measure_in_chunks(
        &self,
        config: &RcnnConfig,
        input_scale: f64,
        streams: (Stream, Stream),
        alpha: f64,
        (device, chunk): (Device, i64),
        progress: &mut Progress,
    ) -> Result<CheckResult> {
        let (filters, tau) = (config.filters, config.tau);
        let config = config.clone();
        let shape = [1, config.in_channels, config.height, config.width];
        let xi = Init::new(streams.0.seed(), Device::Cpu).normal(&shape, 1.0) * input_scale;
        let sampler = Sampler::new(
            &config,
            &xi,
            streams.1,
            self.class == ClassChoice::Fixed,
            device,
        );
        let (min_draws, max_draws) = self.draw_range();
        let rule = StoppingRule {
            min_draws: min_draws as usize,
            max_draws: max_draws.max(min_draws) as usize,
            relative_half_width: self.relative_half_width,
        };
        let control_variate = self.estimator() == Estimator::ControlVariate;
        let (values, plain) = sampler.until(&rule, control_variate, chunk, progress)?;
        progress.inc(1);
        let precise = sampler::relative_half_width(&values) <= self.relative_half_width;
        let s = t_interval(&values, 1.0 - alpha, Side::TwoSided);
        let exact = closed_form(&config) * self.closed_form_factor;
        let fixed = self.class == ClassChoice::Fixed;
        let consistent = fixed && s.ci_low <= exact && exact <= s.ci_high;
        let g = closed_form::geometry(&config);
        let norms = patch_norms(&xi, config.kernel);
        let reference_norm = norms.get(g.dead_rows.start).get(0).double_value(&[]);
        let reading = |value: Option<f64>| BoundReading {
            holds: value.map(|b| s.ci_high >= b).unwrap_or(true),
            vacuous: value.is_none(),
            value: value.and_then(finite),
        };
        let [linear, over_sqrt, sqrt] = bound_readings(&config).map(|(_, value)| reading(value));
        let class_words = match self.class {
            ClassChoice::Fixed => "a fixed class",
            ClassChoice::Argmax => {
                "the argmax class (no closed form: expected to exceed the fixed-class value)"
            }
        };
        let rule = format!(
            "fail iff the closed form lies outside the two-sided {} Student-t interval of the \
             Monte Carlo mean; pass iff inside and the 95% half-width reached {}% of the \
             estimate; inconclusive iff inside but max_draws came first; a bound reading is \
             violated iff the interval's upper end is below it",
            percent(1.0 - alpha),
            self.relative_half_width * 100.0
        );
        let half = (s.ci_high - s.ci_low) / 2.0;
        let findings = TheoremFindings {
            detail: TheoremDetail {
                draws: s.n,
                estimator: self.estimator(),
                plain_estimate: PlainEstimate {
                    mean: mean(&plain),
                    std: std(&plain),
                },
                relative_half_width: sampler::relative_half_width(&values),
                target_relative_half_width: self.relative_half_width,
                n_vis: g.n_vis,
                pixels_behind_wall: g.dead_rows.end - g.dead_rows.start,
                expected_sqrt_chi: expected_sqrt_chi(filters),
                example_pixel: ExamplePixel {
                    row: g.dead_rows.start,
                    col: 0,
                    patch_norm: reference_norm,
                    expected_gc: s.mean * reference_norm,
                },
            },
            bounds: Bounds {
                linear,
                over_sqrt,
                sqrt,
            },
            class: self.class,
            closed_form: exact,
            consistent,
            estimate: s.mean,
            filters,
            input_scale,
            tau,
        };
        let place = match (fixed, consistent) {
            (true, true) => " (inside the interval)",
            (true, false) => " (outside the interval)",
            (false, _) => "",
        };
        let verdict = match (fixed && !consistent, precise) {
            (true, _) => Verdict::Fail,
            (false, true) => Verdict::Pass,
            (false, false) => Verdict::Inconclusive,
        };
        let imprecise = match precise {
            true => "",
            false => "; precision target not reached by max_draws",
        };
        Ok(CheckResult {
            reason: format!(
                "E[GC]/|m| = {:.5} +- {half:.5} over {} draws for {class_words}; closed form \
                 {exact:.5}{place}{imprecise}",
                s.mean, s.n,
            ),
            statistic: "mean over draws of the average of GC_ij / |m_ij| over the pixels behind \
                        the wall"
                .into(),
            rule,
            ..CheckResult::new(
                TheoremCheck::NAME,
                &GradCam,
                verdict,
                s,
                Findings::new(findings),
            )
        })
    }
}

impl Check for TheoremCheck {
    const NAME: &'static str = "theorem";
    const ABOUT: &'static str = "Theorem 1 Monte Carlo on the masked rCNN (GradCAM)";
    type Findings = TheoremFindings;

    fn validate(&self) -> std::result::Result<(), String> {
        use crate::limits::{int, real};
        if self.filters.is_empty() {
            return Err("filters is empty: give at least one number of filters V".into());
        }
        // Each entry is a configuration with its own Monte Carlo: a list is bounded like a number.
        crate::limits::count("the number of filters entries", self.filters.len(), 1, 64)?;
        for &v in self
            .filters
            .iter()
            .chain(std::iter::once(&self.scaling_filters))
        {
            int("filters", v, 1, 65_536)?;
        }
        int("size", self.size, 4, 512)?;
        // The map (size − k + 1 rows) must keep two pooled rows: one live, one behind the wall.
        int("kernel", self.kernel, 1, self.size - 3)?;
        // One draw holds about 32 bytes per feature-map element ([`chunk_draws`]).
        let map = (self.size - self.kernel + 1) as u128;
        for &v in self.filters.iter().chain([&self.scaling_filters]) {
            crate::limits::within(
                &format!(
                    "one Monte Carlo draw at V = {v} filters and size {}",
                    self.size
                ),
                32 * v as u128 * map * map,
            )?;
        }
        real("tau", self.tau, 1e-3, 1e3, false)?;
        real("input_scale", self.input_scale, 1e-3, 1e6, false)?;
        real(
            "relative_half_width",
            self.relative_half_width,
            0.0,
            1.0,
            true,
        )?;
        real(
            "closed_form_factor",
            self.closed_form_factor,
            0.0,
            1e6,
            true,
        )?;
        int("min_draws", self.min_draws, 2, 10_000_000)?;
        int("max_draws", self.max_draws, self.min_draws, 10_000_000)?;
        if let Some(d) = self.draws {
            int("draws", d, 2, 10_000_000)?;
        }
        for s in &self.scaling {
            real("scaling tau", s.tau, 1e-3, 1e3, false)?;
            real("scaling input scale", s.input_scale, 1e-3, 1e6, false)?;
        }
        Ok(())
    }

    /// One verdict per configuration, whatever the methods (GradCAM is built in).
    fn verdicts(&self, _methods: usize) -> usize {
        self.sweep().len()
    }

    /// One trial per V (`rcnn::V=512`); the scaling rows stay with the suite run.
    fn configurations(&self) -> Vec<(String, Self)> {
        let one = |v: i64| TheoremCheck {
            filters: vec![v],
            scaling: vec![],
            ..self.clone()
        };
        self.filters
            .iter()
            .map(|&v| (format!("rcnn::V={v}"), one(v)))
            .collect()
    }

    /// Theorem 1 is about GradCAM: its maps decide, whatever the methods given.
    fn fixed_method(&self) -> Option<&'static str> {
        Some("gradcam")
    }

    /// One unit per configuration of the sweep: each Monte Carlo, its stopping rule included,
    /// runs on one shard, from the streams of its V alone.
    fn units(&self, _ctx: &CheckContext) -> Result<Option<usize>> {
        Ok(Some(self.sweep().len()))
    }

    fn run_units(
        &self,
        _methods: &[Box<dyn CamMethod>],
        ctx: &CheckContext,
        units: &[usize],
    ) -> Result<Vec<serde_json::Value>> {
        let configs = self.sweep();
        let mut progress = ctx.progress("theorem Monte Carlo", units.len() as u64);
        let mut found = Vec::new();
        for &unit in units {
            let &(v, tau, scale) = configs.get(unit).ok_or_else(|| unit_error(unit))?;
            let result = self.run_config(v, tau, scale, ctx, &mut progress)?;
            found.push(serde_json::to_value(result).map_err(|e| {
                Error::input(
                    format!("a theorem result does not serialise: {e}"),
                    "the theorem check",
                    "report this: every number of a theorem result is finite",
                )
            })?);
        }
        progress.finish(&format!("{} configurations", found.len()));
        Ok(found)
    }

    /// Each configuration's result, re-derived from its own evidence ([`crate::check::audit`]):
    /// its verdict must follow from its closed form, interval and precision target.
    fn decide(
        &self,
        _methods: &[Box<dyn CamMethod>],
        evidence: Vec<serde_json::Value>,
        ctx: &CheckContext,
    ) -> Result<Outcome> {
        let results = evidence
            .into_iter()
            .enumerate()
            .map(|(unit, value)| {
                let refuse = |why: String| {
                    Error::input(
                        format!("configuration {unit} of the theorem check: {why}"),
                        "blindspot merge",
                        "merge reports as `blindspot run --shard K/N` wrote them",
                    )
                };
                let result = CheckResult::from_json_as::<TheoremFindings>(value)
                    .map_err(|e| refuse(format!("not a result: {e}")))?;
                crate::check::audit::audit(&result, &ctx.control)
                    .map_err(|why| refuse(format!("contradicts its own evidence: {why}")))?;
                Ok(result)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outcome::new(results))
    }

    fn run(&self, methods: &[Box<dyn CamMethod>], ctx: &CheckContext) -> Result<Outcome> {
        crate::check::run_split(self, methods, ctx)
    }
}

fn unit_error(unit: usize) -> Error {
    Error::input(
        format!("the theorem check has no configuration {unit}"),
        "a shard's work units",
        "run every shard with the same suite",
    )
}
