//! `prop-wall`: on random walled networks ([`crate::model::random`]), does a method put exactly
//! nothing behind the wall? The region is the wall's certified shadow: the input pixels certified
//! blind with the wall (gradient support, then noise replacement) that the features do see
//! without it — pixels no feature reads at all (skipped by a stride) are no wall's doing and are
//! left out. The property holds on a case iff µ ≤ 1e-6 on every image (2 Gaussian-noise images
//! and 2 STACK-SYNTH images resized to the network's input). A failure whose map is clean at
//! feature resolution (no mass on the masked cells before upsampling) is counted as an
//! upsampling failure: the bilinear resize spreads live cells across the wall's edge, the method
//! itself did not look there. The first failure per method is shrunk.
//!
//! The verdicts are exact (no sampling error), so they take no share of the run's family-wise
//! error.
use super::runner::{CaseRecord, CaseVerdict, Property};
use super::{shrink, CaseId, Counterexample, PropertyFindings};
use crate::cam::{explain, CamMethod};
use crate::check::wall::leakage;
use crate::check::{Check, CheckContext, Outcome, Verdict};
use crate::data::synth::{StackSynth, SynthConfig};
use crate::error::Result;
use crate::model::init::Init;
use crate::model::random::{RandomArch, RandomNet};
use crate::model::wall::{certify, CertifyOptions};
use crate::model::SplitModel;
use crate::progress::Progress;
use crate::seed::{streams, Stream};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// µ above this counts as mass behind the wall (float32 rounding of an exact 0 stays below).
pub const TOLERANCE: f64 = 1e-6;
const CASES: usize = 200;
const TAU: f64 = 1.0;
const SHRINK_STEPS: usize = 64;
/// Architectures drawn for one case before giving up on it (no blind pixel to test).
const ATTEMPTS: u64 = 20;
/// Images per case.
const IMAGES: i64 = 4;
/// Candidates a shrink may evaluate in all.
const SHRINK_EVALUATIONS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct PropWallCheck {
    /// Random walled networks to draw.
    #[arg(long, default_value_t = CASES)]
    pub cases: usize,
    /// Scale of the Gaussian weights: N(0, τ²/fan-in).
    #[arg(long, default_value_t = TAU)]
    pub tau: f64,
    /// Most simplifications a shrink may take.
    #[arg(long, default_value_t = SHRINK_STEPS)]
    pub max_shrink_steps: usize,
    /// A file of counterexamples: replayed first, and the new ones appended.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressions: Option<PathBuf>,
}

impl Default for PropWallCheck {
    fn default() -> Self {
        PropWallCheck {
            cases: CASES,
            tau: TAU,
            max_shrink_steps: SHRINK_STEPS,
            regressions: None,
        }
    }
}

/// One drawn case: the network, its wall's certified shadow and its images.
pub struct Instance {
    pub net: RandomNet,
    /// The wall's shadow: input pixels blind with the wall and seen without it, [H, W] of 0/1.
    region: Tensor,
    pub images: Tensor,
}

/// What a method does on one instance: the largest µ over the images, at input and at feature
/// resolution.
#[derive(Debug, Clone, Copy)]
pub struct Leak {
    pub input: f64,
    pub feature: f64,
}

impl Leak {
    pub fn fails(&self) -> bool {
        self.input > TOLERANCE
    }
}

/// The case's images: N(0, 1) noise and STACK-SYNTH images resized to the input, half each.
fn images(arch: &RandomArch, case: &CaseId, device: Device) -> Tensor {
    let stream = case.stream(streams::PROP_WALL);
    case_images(stream, (arch.channels, arch.height, arch.width), device)
}

/// A walled-network property case's images from its `stream` (sub-streams 1002 and 1003):
/// N(0, 1) noise and STACK-SYNTH images resized to c×h×w (grey, or their first c channels),
/// half each ([`IMAGES`] in all).
pub(super) fn case_images(stream: Stream, (c, h, w): (i64, i64, i64), device: Device) -> Tensor {
    let noise = Init::new(stream.at(1002).seed(), device).normal(&[IMAGES / 2, c, h, w], 1.0);
    let stack = StackSynth::generate(
        &SynthConfig::default(),
        IMAGES / 2,
        stream.at(1003).seed(),
        0,
    );
    let stack = stack
        .normalized()
        .to_device(device)
        .upsample_bilinear2d([h, w], false, None, None);
    let stack = match c {
        1 => stack.mean_dim(1, true, Kind::Float),
        _ => stack.narrow(1, 0, c),
    };
    Tensor::cat(&[noise, stack], 0)
}

/// The network without its wall: the head reads every feature cell. Its blind pixels are the
/// ones no feature sees at all (skipped by strides, outside every receptive field): no wall hides
/// them, so they are not part of the wall's shadow.
struct Unwalled<'a>(&'a RandomNet);

impl SplitModel for Unwalled<'_> {
    fn name(&self) -> String {
        format!("{} without its wall", self.0.name())
    }
    fn device(&self) -> Device {
        self.0.device()
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.0.features(x)
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        Ok(a.flatten(1, -1).sum_dim_intlist(1, true, Kind::Float))
    }
}

/// Builds the instance of `arch` for `case`; None when the wall's shadow is empty. The shadow is
/// what the wall hides: the pixels certified blind with the wall that the features do see
/// without it.
pub fn instance_of(arch: &RandomArch, case: &CaseId, device: Device) -> Result<Option<Instance>> {
    let stream = case.stream(streams::PROP_WALL);
    let net = RandomNet::new(arch.clone(), stream.at(1000), device)?;
    let options = CertifyOptions {
        seed: stream.at(1001).seed(),
        ..CertifyOptions::default()
    };
    let (c, h, w) = (arch.channels, arch.height, arch.width);
    let Ok(cert) = certify(&net, c, h, w, &options) else {
        return Ok(None);
    };
    let blind = cert.mask();
    let shadow = match certify(&Unwalled(&net), c, h, w, &options) {
        Ok(unseen) => blind.logical_and(&unseen.mask().logical_not()),
        Err(_) => blind,
    };
    if shadow.sum(Kind::Int64).int64_value(&[]) == 0 {
        return Ok(None);
    }
    Ok(Some(Instance {
        images: images(arch, case, device),
        net,
        region: shadow.to_kind(Kind::Float).to_device(device),
    }))
}

/// The case's instance: its given architecture, or the first of its draws whose wall certifies
/// a blind region. Also returns how many draws were redrawn.
pub fn draw_instance(case: &CaseId, tau: f64, device: Device) -> Result<(Option<Instance>, usize)> {
    if let Some(text) = &case.arch {
        let arch = RandomArch::decode(text)?;
        return Ok((instance_of(&arch, case, device)?, 0));
    }
    let stream = case.stream(streams::PROP_WALL);
    for attempt in 0..ATTEMPTS {
        let Some(arch) = RandomArch::draw(&mut stream.at(attempt).rng(), tau) else {
            continue;
        };
        if !arch.valid() {
            continue;
        }
        if let Some(instance) = instance_of(&arch, case, device)? {
            return Ok((Some(instance), attempt as usize));
        }
    }
    Ok((None, ATTEMPTS as usize))
}

/// µ of `method` on `instance`: the largest over its images, at input resolution on the
/// certified region and at feature resolution on the masked cells (all-zero maps leak nothing).
pub fn leak(method: &dyn CamMethod, instance: &Instance) -> Result<Leak> {
    let e = explain(method, &instance.net, &instance.images, None)?;
    let worst = |values: Vec<Option<f64>>| values.into_iter().flatten().fold(0.0, f64::max);
    let input = worst(leakage(&e.maps, &instance.region));
    let open = instance.net.arch.mask(e.raw.device());
    // A map computed at input resolution (the Sobel map) has no feature level: it is its input.
    let feature = match e.raw.size()[1..] == open.size()[..] {
        true => worst(leakage(&e.feature_maps(), &(open.ones_like() - &open))),
        false => input,
    };
    Ok(Leak { input, feature })
}

/// Instances by architecture, shared by the shrinks of every method of a case (certification
/// is the costly part of building one).
type Instances = std::collections::HashMap<String, Option<Instance>>;

impl PropWallCheck {
    fn counterexample(
        &self,
        method: &dyn CamMethod,
        (case, arch, value): (CaseId, RandomArch, f64),
        cache: &mut Instances,
        device: Device,
    ) -> Result<Counterexample> {
        let mut budget = SHRINK_EVALUATIONS;
        let fails = |candidate: &RandomArch| -> Result<Option<f64>> {
            if budget == 0 {
                return Ok(None);
            }
            budget -= 1;
            let key = candidate.encode();
            if !cache.contains_key(&key) {
                cache.insert(key.clone(), instance_of(candidate, &case, device)?);
            }
            let Some(instance) = &cache[&key] else {
                return Ok(None);
            };
            let leak = leak(method, instance)?;
            Ok(leak.fails().then_some(leak.input))
        };
        let (smallest, value, steps) = shrink(arch.clone(), value, self.max_shrink_steps, fails)?;
        Ok(Counterexample::shrunk(
            &case,
            arch.encode(),
            smallest.encode(),
            value,
            steps,
        ))
    }
}

impl Check for PropWallCheck {
    const NAME: &'static str = "prop-wall";
    const ABOUT: &'static str =
        "Property: no mass behind the wall on random walled networks (shrunk counterexamples)";
    type Findings = PropertyFindings;

    fn validate(&self) -> std::result::Result<(), String> {
        crate::limits::count("cases", self.cases, 1, 100_000)?;
        crate::limits::real("tau", self.tau, 1e-3, 1e3, false)?;
        crate::limits::count("max_shrink_steps", self.max_shrink_steps, 0, 1000)
    }

    /// Exact verdicts: no share of the family-wise error.
    fn verdicts(&self, _methods: usize) -> usize {
        0
    }

    fn configurations(&self) -> Vec<(String, Self)> {
        vec![(format!("random-walled::cases={}", self.cases), self.clone())]
    }

    super::runner::regressions_file_methods!();

    super::runner::property_runner_methods!();
}

impl Property for PropWallCheck {
    const PROPERTY: &'static str = "wall";
    const STATEMENT: &'static str =
        "µ behind the wall's certified shadow is <= 1e-6 on every image";
    const COUNTS_UPSAMPLING: bool = true;

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
        let (instance, redrawn) = draw_instance(case, self.tau, ctx.device)?;
        progress.inc(1);
        let Some(instance) = instance else {
            return Ok(CaseRecord::untested(redrawn));
        };
        let verdicts = methods
            .iter()
            .map(|method| {
                let leak = leak(*method, &instance)?;
                let verdict = match leak.fails() {
                    true => Verdict::Fail,
                    false => Verdict::Pass,
                };
                Ok(CaseVerdict {
                    upsampling: leak.fails() && leak.feature <= TOLERANCE,
                    ..CaseVerdict::new(verdict, leak.input)
                })
            })
            .collect::<Result<_>>()?;
        Ok(CaseRecord {
            redrawn,
            tested: Some(instance.net.arch.encode()),
            methods: verdicts,
            boundaries: Vec::new(),
        })
    }

    /// Fail iff µ at the input exceeds the tolerance; an upsampling failure is a failure.
    fn case_agrees(&self, case: &CaseVerdict) -> std::result::Result<(), String> {
        let verdict = match case.value > TOLERANCE {
            true => Verdict::Fail,
            false => Verdict::Pass,
        };
        if !(case.value >= 0.0 && case.value.is_finite()) {
            return Err(format!("µ = {} is not a share", case.value));
        }
        if case.verdict != verdict || (case.upsampling && verdict != Verdict::Fail) {
            return Err(format!(
                "recorded {} but µ = {} against the tolerance {TOLERANCE} gives {verdict}",
                case.verdict, case.value
            ));
        }
        Ok(())
    }

    /// Shrinks each failure; the instances built on the way are shared by the methods' shrinks.
    fn shrink(
        &self,
        failures: &[(usize, &CaseId, &CaseRecord)],
        methods: &[&dyn CamMethod],
        ctx: &CheckContext,
    ) -> Result<Vec<Counterexample>> {
        let mut cache = Instances::new();
        failures
            .iter()
            .map(|&(method, case, record)| {
                let arch = RandomArch::decode(record.tested.as_deref().unwrap_or_default())?;
                let value = record.methods[method].value;
                let first = (case.clone(), arch, value);
                self.counterexample(methods[method], first, &mut cache, ctx.device)
            })
            .collect()
    }
}


/// Replays one case for one method: (leak at input, leak at feature resolution, architecture).
pub fn replay(
    case: &CaseId,
    method: &dyn CamMethod,
    tau: f64,
    device: Device,
) -> Result<(Leak, String)> {
    let (instance, _) = draw_instance(case, tau, device)?;
    let instance = instance.ok_or_else(|| {
        crate::error::Error::input(
            "this case's wall hides no input pixel: nothing to test",
            case.encode(),
            "replay a string printed as a counterexample",
        )
    })?;
    Ok((leak(method, &instance)?, instance.net.arch.encode()))
}
