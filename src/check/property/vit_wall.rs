//! `prop-vit-wall`: on random walled vision transformers ([`crate::model::random_vit`]: image
//! and patch side, heads, head width, depth, MLP width and wall row drawn per case; fresh
//! weights), does a method put exactly nothing behind the wall? The region is the wall's
//! certified region (gradient support, then noise replacement: the token rows from the wall row
//! down, whose patches do not overlap the others). The property holds on a case iff µ ≤ 1e-6 on
//! every image (2 Gaussian-noise images, 2 STACK-SYNTH images resized to the network's input) on
//! the token grid — a transformer's token border is its wall's border, so the bilinear
//! upsampling of every map carries the last visible token row across it (docs/theory.md); µ at
//! the input is recorded beside it. The first failure per method is shrunk.
//!
//! The verdicts are exact (no sampling error), so they take no share of the run's family-wise
//! error.
use super::runner::{CaseRecord, CaseVerdict, Property};
use super::wall::TOLERANCE;
use super::{shrink, CaseId, Counterexample, PropertyFindings};
use crate::cam::{explain, CamMethod};
use crate::check::wall::leakage;
use crate::check::{Check, CheckContext, Outcome, Verdict};
use crate::error::Result;
use crate::model::random_vit::RandomVit;
use crate::model::vit::Vit;
use crate::model::wall::{certify, CertifyOptions};
use crate::progress::Progress;
use crate::seed::streams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const CASES: usize = 50;
const SHRINK_STEPS: usize = 32;
/// Candidates a shrink may evaluate in all.
const SHRINK_EVALUATIONS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct PropVitWallCheck {
    /// Random walled transformers to draw.
    #[arg(long, default_value_t = CASES)]
    pub cases: usize,
    /// Most simplifications a shrink may take.
    #[arg(long, default_value_t = SHRINK_STEPS)]
    pub max_shrink_steps: usize,
    /// A file of counterexamples: replayed first, and the new ones appended.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<PathBuf>,
}

impl Default for PropVitWallCheck {
    fn default() -> Self {
        PropVitWallCheck {
            cases: CASES,
            max_shrink_steps: SHRINK_STEPS,
            regressions: None,
        }
    }
}

/// One drawn case: the network, its certified region and its images.
pub struct Instance {
    pub net: Vit,
    pub shape: RandomVit,
    /// The certified blind input pixels, [S, S] of 0/1.
    region: Tensor,
    pub images: Tensor,
}

/// What a method does on one instance: the largest µ over the images, on the token grid and
/// at the input.
#[derive(Debug, Clone, Copy)]
pub struct Leak {
    pub tokens: f64,
    pub input: f64,
}

impl Leak {
    pub fn fails(&self) -> bool {
        self.tokens > TOLERANCE
    }
}

/// The case's images: N(0, 1) noise and STACK-SYNTH images resized to the input, half each.
fn images(shape: &RandomVit, case: &CaseId, device: Device) -> Tensor {
    let stream = case.stream(streams::PROP_VIT_WALL);
    super::wall::case_images(stream, (3, shape.side, shape.side), device)
}

/// Builds the instance of `shape` for `case` (weights from its stream); an error if the wall
/// does not certify, which would break the construction the property rests on.
pub fn instance_of(shape: &RandomVit, case: &CaseId, device: Device) -> Result<Instance> {
    let stream = case.stream(streams::PROP_VIT_WALL);
    let label = format!("random walled ViT {} ({})", shape.encode(), case.encode());
    let net = Vit::new(shape.config(), &label, stream.at(1000).seed(), device);
    let options = CertifyOptions {
        seed: stream.at(1001).seed(),
        ..CertifyOptions::default()
    };
    let cert = certify(&net, 3, shape.side, shape.side, &options)?;
    Ok(Instance {
        images: images(shape, case, device),
        net,
        shape: shape.clone(),
        region: cert.mask().to_kind(Kind::Float).to_device(device),
    })
}

/// The case's shape: the one its replay string names, else its draw.
pub fn shape_of(case: &CaseId) -> Result<RandomVit> {
    match &case.arch {
        Some(text) => RandomVit::decode(text),
        None => Ok(RandomVit::draw(
            &mut case.stream(streams::PROP_VIT_WALL).rng(),
        )),
    }
}

/// µ of `method` on `instance`: the largest over its images, on the token rows behind the wall
/// (at the input for a map computed there: it has no token grid) and on the certified input
/// region (all-zero maps leak nothing).
pub fn leak(method: &dyn CamMethod, instance: &Instance) -> Result<Leak> {
    let e = explain(method, &instance.net, &instance.images, None)?;
    let worst = |values: Vec<Option<f64>>| values.into_iter().flatten().fold(0.0, f64::max);
    let input = worst(leakage(&e.maps, &instance.region));
    let rows = instance.shape.side / instance.shape.patch;
    let tokens = match e.raw.size()[1..] == [rows, rows] {
        true => {
            let behind = Tensor::arange(rows, (Kind::Int64, e.raw.device()))
                .ge(instance.shape.wall_row)
                .to_kind(Kind::Float)
                .view([rows, 1])
                .expand([rows, rows], false);
            worst(leakage(&e.feature_maps(), &behind))
        }
        false => input,
    };
    Ok(Leak { tokens, input })
}

impl Check for PropVitWallCheck {
    const NAME: &'static str = "prop-vit-wall";
    const ABOUT: &'static str = "Property: no mass behind the wall on the token grid of random \
                                 walled vision transformers (shrunk counterexamples)";
    type Findings = PropertyFindings;

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::count("cases", self.cases, 1, 100_000)?;
        crate::limits::count("max_shrink_steps", self.max_shrink_steps, 0, 1000)
    }

    /// Exact verdicts: no share of the family-wise error.
    fn verdicts(&self, _methods: usize) -> usize {
        0
    }

    fn configurations(&self) -> Vec<(String, Self)> {
        vec![(format!("random-walled-vit::cases={}", self.cases), self.clone())]
    }

    super::runner::regressions_file_methods!();

    super::runner::property_runner_methods!();
}

impl Property for PropVitWallCheck {
    const PROPERTY: &'static str = "vit-wall";
    const STATEMENT: &'static str =
        "µ on the token rows behind the certified wall is <= 1e-6 on every image";

    fn fresh_cases(&self) -> usize {
        self.cases
    }

    fn regressions(&self) -> Option<&std::path::Path> {
        self.regressions.as_deref()
    }

    fn test(
        &self,
        case: &CaseId,
        methods: &[&dyn CamMethod],
        ctx: &CheckContext,
        progress: &mut Progress,
    ) -> Result<CaseRecord> {
        let instance = instance_of(&shape_of(case)?, case, ctx.device)?;
        progress.inc(1);
        let verdicts = methods
            .iter()
            .map(|method| {
                let leak = leak(*method, &instance)?;
                let verdict = match leak.fails() {
                    true => Verdict::Fail,
                    false => Verdict::Pass,
                };
                Ok(CaseVerdict::new(verdict, leak.tokens))
            })
            .collect::<Result<_>>()?;
        Ok(CaseRecord {
            redrawn: 0,
            tested: Some(instance.shape.encode()),
            methods: verdicts,
            boundaries: Vec::new(),
        })
    }

    /// Fail iff µ on the token grid exceeds the tolerance.
    fn case_agrees(&self, case: &CaseVerdict) -> std::result::Result<(), String> {
        if !(case.value >= 0.0 && case.value.is_finite()) {
            return Err(format!("µ = {} is not a share", case.value));
        }
        let verdict = match case.value > TOLERANCE {
            true => Verdict::Fail,
            false => Verdict::Pass,
        };
        match case.verdict == verdict {
            true => Ok(()),
            false => Err(format!(
                "recorded {} but µ = {} against the tolerance {TOLERANCE} gives {verdict}",
                case.verdict, case.value
            )),
        }
    }

    /// Shrinks each method's first failure to a smallest shape that still fails.
    fn shrink(
        &self,
        failures: &[(usize, &CaseId, &CaseRecord)],
        methods: &[&dyn CamMethod],
        ctx: &CheckContext,
    ) -> Result<Vec<Counterexample>> {
        failures
            .iter()
            .map(|&(method, case, record)| {
                let shape = RandomVit::decode(record.tested.as_deref().unwrap_or_default())?;
                let value = record.methods[method].value;
                let mut budget = SHRINK_EVALUATIONS;
                let fails = |candidate: &RandomVit| -> Result<Option<f64>> {
                    if budget == 0 {
                        return Ok(None);
                    }
                    budget -= 1;
                    let leak = leak(methods[method], &instance_of(candidate, case, ctx.device)?)?;
                    Ok(leak.fails().then_some(leak.tokens))
                };
                let (smallest, value, steps) =
                    shrink(shape.clone(), value, self.max_shrink_steps, fails)?;
                Ok(Counterexample::shrunk(
                    case,
                    shape.encode(),
                    smallest.encode(),
                    value,
                    steps,
                ))
            })
            .collect()
    }
}

/// Replays one case for one method: its leak and its shape.
pub fn replay(case: &CaseId, method: &dyn CamMethod, device: Device) -> Result<(Leak, String)> {
    let instance = instance_of(&shape_of(case)?, case, device)?;
    Ok((leak(method, &instance)?, instance.shape.encode()))
}
