//! `prop-theorem`: Theorem 1 on random rCNN geometries. Each case draws V (log-uniform in
//! 8..8192, with V·h·w capped at one million so a draw stays cheap), a kernel k in 1..5, an input
//! of 9..64 × 9..64 pixels, τ and the input scale (log-uniform in 0.25..4) and the wall (1 to
//! h'−1 bottom pooled rows), and checks that the Monte Carlo mean of GC/‖m‖ behind the wall agrees
//! with the closed form κ = τ² √n_vis E[√X] / (hw √(2π)) (docs/theory.md derives it for any k,
//! pooled size and wall), each case a verdict of the run's family. For every reading of the
//! talk's bound that the case's Monte Carlo shows violated, the smallest V at which the closed
//! form falls below it is found by bisection.
use super::runner::{CaseRecord, CaseVerdict, Property, Reading};
use super::{Boundary, CaseId, Counterexample};
use crate::cam::CamMethod;
use crate::check::theorem::{bound_readings, closed_form, TheoremCheck, TheoremFindings};
use crate::check::{Check, CheckContext, Outcome, Verdict};
use crate::error::Result;
use crate::model::rcnn::RcnnConfig;
use crate::progress::{Progress, ProgressSink};
use crate::seed::streams;
use rand::RngExt;
use serde::{Deserialize, Serialize};

const CASES: usize = 50;
const RELATIVE_HALF_WIDTH: f64 = 0.05;
const MIN_DRAWS: i64 = 128;
const MAX_DRAWS: i64 = 20_000;
/// Largest V·h·w of a drawn geometry.
const MAX_ELEMENTS: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct PropTheoremCheck {
    /// Random geometries to draw.
    #[arg(long, default_value_t = CASES)]
    pub cases: usize,
    /// Precision target: the 95% half-width relative to the estimate.
    #[arg(long, default_value_t = RELATIVE_HALF_WIDTH)]
    pub relative_half_width: f64,
    /// Draws per geometry at least.
    #[arg(long, default_value_t = MIN_DRAWS)]
    pub min_draws: i64,
    /// Draws per geometry at most.
    #[arg(long, default_value_t = MAX_DRAWS)]
    pub max_draws: i64,
}

/// A geometry and its input scale.
pub struct Geometry {
    pub config: RcnnConfig,
    pub input_scale: f64,
}

impl Geometry {
    pub fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "k={} {}x{} tau={:.3} scale={:.3} wall={} pooled rows",
            c.kernel,
            c.height,
            c.width,
            c.tau,
            self.input_scale,
            c.dead_pooled_rows().end - c.dead_pooled_rows().start
        )
    }
}

/// The geometry of `case`.
pub fn draw_geometry(case: &CaseId) -> Geometry {
    let mut rng = case.stream(streams::PROP_THEOREM).rng();
    let log_uniform = |rng: &mut rand::rngs::StdRng, low: f64, high: f64| {
        (rng.random_range(low.ln()..high.ln())).exp()
    };
    let kernel = rng.random_range(1..=5i64);
    let height = rng.random_range(9..=64i64).max(kernel + 3);
    let width = if rng.random_bool(0.5) {
        height
    } else {
        rng.random_range(9..=64i64)
    };
    let width = width.max(kernel + 3);
    let (h, w) = (height - kernel + 1, width - kernel + 1);
    let filters = (log_uniform(&mut rng, 8.0, 8192.0).round() as i64).min(MAX_ELEMENTS / (h * w));
    let tau = log_uniform(&mut rng, 0.25, 4.0);
    let input_scale = log_uniform(&mut rng, 0.25, 4.0);
    let hp = h / 2;
    let wall_rows = rng.random_range(1..hp.max(2));
    let config = RcnnConfig {
        in_channels: 1,
        filters: filters.max(1),
        kernel,
        height,
        width,
        classes: 1,
        tau,
        masked: true,
        wall_rows: Some(wall_rows),
    };
    Geometry {
        config,
        input_scale,
    }
}

/// The smallest V ≤ `upper` at which the closed form lies below `reading` (the readings grow
/// like V, the closed form like √V: once below, it stays below).
pub fn boundary(config: &RcnnConfig, reading: usize, upper: i64) -> Option<i64> {
    let below = |v: i64| {
        let c = RcnnConfig {
            filters: v,
            ..config.clone()
        };
        bound_readings(&c)[reading]
            .1
            .is_some_and(|b| closed_form(&c) < b)
    };
    if !below(upper) {
        return None;
    }
    let (mut low, mut high) = (1, upper);
    while high - low > 1 {
        let mid = (low + high) / 2;
        if below(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(if below(low) { low } else { high })
}

impl Default for PropTheoremCheck {
    fn default() -> Self {
        PropTheoremCheck {
            cases: CASES,
            relative_half_width: RELATIVE_HALF_WIDTH,
            min_draws: MIN_DRAWS,
            max_draws: MAX_DRAWS,
        }
    }
}

impl PropTheoremCheck {
    /// Replays one case: its geometry and its Monte Carlo judged at error rate `alpha`.
    pub fn replay(
        &self,
        case: &CaseId,
        alpha: f64,
        device: tch::Device,
    ) -> Result<(Geometry, crate::check::CheckResult)> {
        let g = draw_geometry(case);
        let stream = case.stream(streams::PROP_THEOREM);
        let mut progress = ProgressSink::from_env().start(format!("replay {}", case.encode()), 0);
        let r = self.monte_carlo().measure(
            &g.config,
            g.input_scale,
            (stream.at(1), stream.at(2)),
            alpha,
            device,
            &mut progress,
        )?;
        progress.finish("done");
        Ok((g, r))
    }

    fn monte_carlo(&self) -> TheoremCheck {
        TheoremCheck {
            relative_half_width: self.relative_half_width,
            min_draws: self.min_draws,
            max_draws: self.max_draws,
            ..TheoremCheck::default()
        }
    }
}

impl Check for PropTheoremCheck {
    const NAME: &'static str = "prop-theorem";
    const ABOUT: &'static str =
        "Property: Theorem 1's closed form on random rCNN geometries, and where the bound breaks";
    type Findings = super::PropertyFindings;

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::count("cases", self.cases, 1, 10_000)?;
        crate::limits::real(
            "relative_half_width",
            self.relative_half_width,
            0.0,
            1.0,
            true,
        )?;
        crate::limits::int("min_draws", self.min_draws, 2, 10_000_000)?;
        crate::limits::int("max_draws", self.max_draws, self.min_draws, 10_000_000)
    }

    /// One consistency verdict per case.
    fn verdicts(&self, _methods: usize) -> usize {
        self.cases
    }

    fn configurations(&self) -> Vec<(String, Self)> {
        vec![(format!("random-rcnn::cases={}", self.cases), self.clone())]
    }

    /// Theorem 1 is about GradCAM: its maps decide, whatever the methods given.
    fn fixed_method(&self) -> Option<&'static str> {
        Some("gradcam")
    }

    super::runner::property_runner_methods!();
}

impl Property for PropTheoremCheck {
    const PROPERTY: &'static str = "theorem";
    const STATEMENT: &'static str = "the Monte Carlo agrees with the generalised closed form \
                                     (each case at the run's per-verdict error)";

    fn fresh_cases(&self) -> usize {
        self.cases
    }

    fn test(
        &self,
        case: &CaseId,
        _methods: &[&dyn CamMethod],
        ctx: &CheckContext,
        progress: &mut Progress,
    ) -> Result<CaseRecord> {
        let g = draw_geometry(case);
        let stream = case.stream(streams::PROP_THEOREM);
        let r = self.monte_carlo().measure(
            &g.config,
            g.input_scale,
            (stream.at(1), stream.at(2)),
            ctx.alpha(),
            ctx.device,
            progress,
        )?;
        // A reading the Monte Carlo shows violated at this V: where does it start to break?
        // (By the closed form, which this case's Monte Carlo has just agreed with.)
        let mut boundaries = Vec::new();
        for (i, (name, value)) in bound_readings(&g.config).iter().enumerate() {
            let violated = value.is_some_and(|b| r.summary.ci_high < b);
            if let Some(from) = violated
                .then(|| boundary(&g.config, i, g.config.filters))
                .flatten()
            {
                boundaries.push(Boundary {
                    case: case.encode(),
                    geometry: g.describe(),
                    reading: name.to_string(),
                    from_filters: from,
                    violated_at: g.config.filters,
                });
            }
        }
        let findings = r.findings.get::<TheoremFindings>().ok_or_else(|| {
            crate::error::Error::input(
                "a theorem configuration came back without its findings",
                "prop-theorem",
                "report this as a bug in blindspot",
            )
        })?;
        let reading = Reading {
            ci_low: r.summary.ci_low,
            ci_high: r.summary.ci_high,
            closed_form: findings.closed_form,
            relative_half_width: findings.detail.relative_half_width,
        };
        Ok(CaseRecord {
            redrawn: 0,
            tested: Some(format!("V={} {}", g.config.filters, g.describe())),
            methods: vec![CaseVerdict {
                reading: Some(reading),
                ..CaseVerdict::new(r.verdict, r.summary.mean)
            }],
            boundaries,
        })
    }

    /// The theorem check's rule on the case's reading: fail iff the closed form lies outside
    /// the interval, else pass iff the precision reached meets `relative_half_width`.
    fn case_agrees(&self, case: &CaseVerdict) -> std::result::Result<(), String> {
        let Some(r) = case.reading else {
            return Err("the case records no interval and closed form".into());
        };
        let numbers = [case.value, r.ci_low, r.ci_high, r.closed_form, r.relative_half_width];
        let inside = r.ci_low <= case.value && case.value <= r.ci_high;
        if numbers.iter().any(|v| !v.is_finite()) || !inside {
            return Err(format!(
                "the mean {} and its interval [{}, {}] are not an estimate with its interval",
                case.value, r.ci_low, r.ci_high
            ));
        }
        let verdict = if r.closed_form < r.ci_low || r.closed_form > r.ci_high {
            Verdict::Fail
        } else if r.relative_half_width <= self.relative_half_width {
            Verdict::Pass
        } else {
            Verdict::Inconclusive
        };
        match case.verdict == verdict {
            true => Ok(()),
            false => Err(format!(
                "recorded {} but the closed form {} against [{}, {}] at a precision of {} gives \
                 {verdict}",
                case.verdict, r.closed_form, r.ci_low, r.ci_high, r.relative_half_width
            )),
        }
    }

    /// A geometry does not shrink: the counterexample is the case itself.
    fn shrink(
        &self,
        failures: &[(usize, &CaseId, &CaseRecord)],
        _methods: &[&dyn CamMethod],
        _ctx: &CheckContext,
    ) -> Result<Vec<Counterexample>> {
        Ok(failures
            .iter()
            .map(|&(_, case, record)| Counterexample {
                case: case.encode(),
                architecture: record.tested.clone().unwrap_or_default(),
                value: record.methods[0].value,
                shrink_steps: Vec::new(),
                original: case.encode(),
                replay: String::new(),
            })
            .collect())
    }
}
