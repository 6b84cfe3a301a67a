//! `prop-positivity`: does Theorem 1's conclusion extend beyond the rCNN? On each random walled
//! architecture ([`crate::model::random`]) the weights are redrawn D times (Gaussian, fixed class
//! 0, one Gaussian input image); per draw the statistic is the mean of GC = ReLU(Σ_v α_v A_v)
//! over the masked cells of the feature map. The property holds on a case when the one-sided
//! lower Student-t bound of E\[GC\] (at the run's per-verdict error) is above 0, fails when every
//! draw gives exactly 0 (nothing to see behind the wall), and is undecided otherwise. The first
//! failing architecture is shrunk.
use super::runner::{CaseRecord, CaseVerdict, Property};
use super::{shrink, CaseId, Counterexample};
use crate::cam::{explain, gradcam::GradCam, CamMethod};
use crate::check::stats::{t_interval, Side};
use crate::check::{Check, CheckContext, Outcome, Verdict};
use crate::error::Result;
use crate::model::init::Init;
use crate::model::random::{RandomArch, RandomNet};
use crate::progress::Progress;
use crate::seed::streams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const CASES: usize = 50;
const DRAWS: usize = 128;
const TAU: f64 = 1.0;
/// Architectures drawn for one case before giving up on it.
const ATTEMPTS: u64 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct PropPositivityCheck {
    /// Random walled architectures to draw.
    #[arg(long, default_value_t = CASES)]
    pub cases: usize,
    /// Weight draws per architecture.
    #[arg(long, default_value_t = DRAWS)]
    pub draws: usize,
    /// Scale of the Gaussian weights: N(0, τ²/fan-in).
    #[arg(long, default_value_t = TAU)]
    pub tau: f64,
    /// A file of counterexamples: replayed first, and the new ones appended.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<PathBuf>,
}

/// The per-draw means of GC behind the wall of `arch` for `case`.
pub fn behind_the_wall(
    arch: &RandomArch,
    case: &CaseId,
    draws: usize,
    device: Device,
) -> Result<Vec<f64>> {
    let stream = case.stream(streams::PROP_POSITIVITY);
    let (c, h, w) = (arch.channels, arch.height, arch.width);
    let x = Init::new(stream.at(1002).seed(), device).normal(&[1, c, h, w], 1.0);
    let target = Tensor::zeros([1], (Kind::Int64, device));
    let masked = arch.mask(device).ones_like() - arch.mask(device);
    let cells = masked.sum(Kind::Double).double_value(&[]);
    (0..draws as u64)
        .map(|d| {
            let net = RandomNet::new(arch.clone(), stream.at(2000 + d), device)?;
            let e = explain(&GradCam, &net, &x, Some(&target))?;
            let gc = e.raw.relu().get(0) * &masked;
            Ok(gc.sum(Kind::Double).double_value(&[]) / cells)
        })
        .collect()
}

/// The case's architecture: its given one, or the first valid draw of its stream (and how many
/// draws were redrawn).
pub fn architecture(case: &CaseId, tau: f64) -> Result<(Option<RandomArch>, usize)> {
    if let Some(text) = &case.arch {
        return Ok((Some(RandomArch::decode(text)?), 0));
    }
    let stream = case.stream(streams::PROP_POSITIVITY);
    for attempt in 0..ATTEMPTS {
        let drawn = RandomArch::draw(&mut stream.at(attempt).rng(), tau);
        if let Some(arch) = drawn.filter(RandomArch::valid) {
            return Ok((Some(arch), attempt as usize));
        }
    }
    Ok((None, ATTEMPTS as usize))
}

/// What one case says: held (lower bound above 0), failed (every draw exactly 0) or undecided.
pub fn judge(values: &[f64], alpha: f64) -> (Verdict, f64) {
    let lower = t_interval(values, 1.0 - alpha, Side::Lower).ci_low;
    let verdict = if lower > 0.0 {
        Verdict::Pass
    } else if all_zero(values) {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    (verdict, lower)
}

/// Whether the case's property fails (every draw exactly 0): then the largest value seen (0).
fn all_zero(values: &[f64]) -> bool {
    values.iter().all(|&v| v == 0.0)
}

impl Default for PropPositivityCheck {
    fn default() -> Self {
        PropPositivityCheck {
            cases: CASES,
            draws: DRAWS,
            tau: TAU,
            regressions: None,
        }
    }
}

impl Check for PropPositivityCheck {
    const NAME: &'static str = "prop-positivity";
    const ABOUT: &'static str =
        "Property: E[GC] > 0 behind the wall of random walled networks (beyond Theorem 1)";
    type Findings = super::PropertyFindings;

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::count("cases", self.cases, 1, 10_000)?;
        crate::limits::count("draws", self.draws, 2, 100_000)?;
        crate::limits::real("tau", self.tau, 1e-3, 1e3, false)
    }

    /// One verdict per case.
    fn verdicts(&self, _methods: usize) -> usize {
        self.cases
    }

    fn configurations(&self) -> Vec<(String, Self)> {
        vec![(format!("random-walled::cases={}", self.cases), self.clone())]
    }

    super::runner::regressions_file_methods!();

    /// Theorem 1 is about GradCAM: its maps decide, whatever the methods given.
    fn fixed_method(&self) -> Option<&'static str> {
        Some("gradcam")
    }

    super::runner::property_runner_methods!();
}

impl Property for PropPositivityCheck {
    const PROPERTY: &'static str = "positivity";
    const STATEMENT: &'static str = "the lower bound of E[GC] behind the wall is above 0";

    fn fresh_cases(&self) -> usize {
        self.cases
    }

    fn regressions(&self) -> Option<&std::path::Path> {
        self.regressions.as_deref()
    }

    fn test(
        &self,
        case: &CaseId,
        _methods: &[&dyn CamMethod],
        ctx: &CheckContext,
        progress: &mut Progress,
    ) -> Result<CaseRecord> {
        progress.inc(1);
        let (arch, redrawn) = architecture(case, self.tau)?;
        let Some(arch) = arch else {
            return Ok(CaseRecord::untested(redrawn));
        };
        let values = behind_the_wall(&arch, case, self.draws, ctx.device)?;
        let (verdict, lower) = judge(&values, ctx.alpha());
        Ok(CaseRecord {
            redrawn,
            tested: Some(arch.encode()),
            methods: vec![CaseVerdict::new(verdict, lower)],
            boundaries: Vec::new(),
        })
    }

    /// Pass iff the lower bound is above 0; a failure (every draw exactly 0) has a bound of 0.
    fn case_agrees(&self, case: &CaseVerdict) -> std::result::Result<(), String> {
        let agrees = match case.verdict {
            Verdict::Pass => case.value > 0.0,
            Verdict::Fail => case.value == 0.0,
            Verdict::Inconclusive => case.value <= 0.0,
            Verdict::Error => false,
        };
        match agrees {
            true => Ok(()),
            false => Err(format!(
                "recorded {} with a lower bound of {}",
                case.verdict, case.value
            )),
        }
    }

    /// Shrinks the architecture while every draw stays exactly 0.
    fn shrink(
        &self,
        failures: &[(usize, &CaseId, &CaseRecord)],
        _methods: &[&dyn CamMethod],
        ctx: &CheckContext,
    ) -> Result<Vec<Counterexample>> {
        failures
            .iter()
            .map(|&(_, case, record)| {
                let arch = RandomArch::decode(record.tested.as_deref().unwrap_or_default())?;
                let fails = |candidate: &RandomArch| -> Result<Option<f64>> {
                    let values = behind_the_wall(candidate, case, self.draws, ctx.device)?;
                    Ok(all_zero(&values).then_some(0.0))
                };
                let (smallest, value, steps) = shrink(arch.clone(), 0.0, 64, fails)?;
                Ok(Counterexample::shrunk(
                    case,
                    arch.encode(),
                    smallest.encode(),
                    value,
                    steps,
                ))
            })
            .collect()
    }
}
