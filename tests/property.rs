//! Property-based verification: a planted leaky method is caught and shrunk to one conv block, a
//! planted non-leaky method holds on every case, replays are bit-exact, the regressions file
//! round-trips, and the generalised closed form of Theorem 1 agrees with a literal, loop-by-loop
//! Monte Carlo at three geometries (independent of blindspot's tensor code).
use crate::common::{ensure, TestResult};
use blindspot::cam::{CamContext, CamMethod};
use blindspot::check::property::positivity::{behind_the_wall, PropPositivityCheck};
use blindspot::check::property::theorem::boundary;
use blindspot::check::property::wall::{replay, PropWallCheck, TOLERANCE};
use blindspot::check::property::{CaseId, PropertyDetail, PropertyFindings, Regressions};
use blindspot::check::theorem::{bound_readings, closed_form};
use blindspot::check::{Check, CheckContext, CheckResult, Verdict};
use blindspot::error::Result;
use blindspot::harness::SanityHarness;
use blindspot::model::random::RandomArch;
use blindspot::model::rcnn::RcnnConfig;
use libtest_mimic::Trial;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

/// Planted leaky method: the activation energy Σ_v A_v², blind to the head, so it lights up
/// whatever the features see, walled or not.
pub struct ActivationEnergy;

impl CamMethod for ActivationEnergy {
    fn name(&self) -> &str {
        "energy"
    }
    fn title(&self) -> &str {
        "ActivationEnergy"
    }
    fn summary(&self) -> &str {
        "planted leak: Σ_v A_v²"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(ctx
            .activations
            .square()
            .sum_dim_intlist(1, false, Kind::Float))
    }
}

/// Planted non-leaky method: |∂y_c/∂x · x| summed over channels, at input resolution. A pixel
/// behind a certified wall has no path to any logit, so its input gradient is exactly 0.
pub struct GradientTimesInput;

impl CamMethod for GradientTimesInput {
    fn name(&self) -> &str {
        "gradxinput"
    }
    fn title(&self) -> &str {
        "Gradient×Input"
    }
    fn summary(&self) -> &str {
        "planted non-leak: |∂y/∂x · x| at input resolution"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let x = ctx.input.detach().set_requires_grad(true);
        let logits = ctx.model.head(&ctx.model.features(&x)?)?;
        let score = logits
            .gather(1, &ctx.targets.unsqueeze(1), false)
            .sum(Kind::Float);
        let grad = Tensor::run_backward(&[score], &[&x], false, false).remove(0);
        Ok((grad * x.detach())
            .sum_dim_intlist(1, false, Kind::Float)
            .abs())
    }
}

fn detail(r: &CheckResult) -> std::result::Result<&PropertyDetail, String> {
    match r.findings.get::<PropertyFindings>() {
        Some(p) => Ok(&p.detail),
        None => Err(format!("{}: not a property result", r.check)),
    }
}

fn run_wall(check: &PropWallCheck, method: Box<dyn CamMethod>) -> Result<CheckResult> {
    let ctx = CheckContext::new(Device::Cpu, 3);
    Ok(check.run(&[method], &ctx)?.results.remove(0))
}

fn wall(cases: usize) -> PropWallCheck {
    PropWallCheck {
        cases,
        tau: 1.0,
        max_shrink_steps: 64,
        regressions: None,
    }
}

/// The leak is found on the first case, shrunk to one block, the minimum is local (no one-step
/// simplification still leaks), and its replay string reproduces the value bit for bit.
fn planted_leak_is_shrunk() -> TestResult {
    let r = run_wall(&wall(4), Box::new(ActivationEnergy))?;
    let d = detail(&r)?;
    ensure(r.verdict == Verdict::Fail && d.failed >= 1, || {
        format!("{}: {}", r.verdict, r.reason)
    })?;
    let c = d.counterexample.as_ref().ok_or("no counterexample")?;
    let smallest = RandomArch::decode(&c.architecture)?;
    let original = RandomArch::decode(CaseId::parse(&c.original)?.arch.as_deref().unwrap())?;
    ensure(smallest.blocks.len() == 1, || {
        format!(
            "shrunk to {} blocks: {}",
            smallest.blocks.len(),
            c.architecture
        )
    })?;
    ensure(
        !c.shrink_steps.is_empty() || original.blocks.len() == 1,
        || "no shrink step taken from a larger network".into(),
    )?;
    ensure(c.value > TOLERANCE, || format!("value {}", c.value))?;
    // A method of the test's own code: the replay is the harness call, not a command line.
    let command = format!("replay: SanityHarness::new(..).replay(\"{}\")", c.case);
    ensure(r.reason.contains(&command), || {
        format!("reason: {}", r.reason)
    })?;
    let case = CaseId::parse(&c.case)?;
    for (step, candidate) in smallest.shrinks() {
        let probe = CaseId {
            arch: Some(candidate.encode()),
            ..case.clone()
        };
        if let Ok((leak, _)) = replay(&probe, &ActivationEnergy, 1.0, Device::Cpu) {
            ensure(!leak.fails(), || {
                format!(
                    "`{step}` still leaks ({:.3e}): not a local minimum",
                    leak.input
                )
            })?;
        }
    }
    let (leak, arch) = replay(&case, &ActivationEnergy, 1.0, Device::Cpu)?;
    ensure(arch == c.architecture, || format!("replayed {arch}"))?;
    ensure(leak.input.to_bits() == c.value.to_bits(), || {
        format!("replay gave {:e}, the run {:e}", leak.input, c.value)
    })
}

/// Gradient×Input holds on every case (its maps are exactly 0 on certified blind pixels).
fn planted_non_leak_holds() -> TestResult {
    let r = run_wall(&wall(12), Box::new(GradientTimesInput))?;
    let d = detail(&r)?;
    ensure(
        r.verdict == Verdict::Pass && d.held == d.cases && d.cases >= 10,
        || format!("{}: {}", r.verdict, r.reason),
    )?;
    ensure(d.counterexample.is_none(), || "a counterexample".into())
}

/// A case replays from (seed, case) alone and from its encoded architecture, to the same bits,
/// every time; replay strings round-trip.
fn replay_is_deterministic() -> TestResult {
    let case = CaseId::parse("prop:wall:seed=3:case=1")?;
    ensure(case.encode() == "prop:wall:seed=3:case=1", || case.encode())?;
    let method = blindspot::cam::gradcam::GradCam;
    let (first, arch) = replay(&case, &method, 1.0, Device::Cpu)?;
    let (second, again) = replay(&case, &method, 1.0, Device::Cpu)?;
    let pinned = CaseId {
        arch: Some(arch.clone()),
        ..case.clone()
    };
    ensure(CaseId::parse(&pinned.encode())? == pinned, || {
        pinned.encode()
    })?;
    let (third, _) = replay(&pinned, &method, 1.0, Device::Cpu)?;
    ensure(arch == again, || format!("{arch} then {again}"))?;
    for (label, l) in [("again", second), ("pinned", third)] {
        ensure(
            l.input.to_bits() == first.input.to_bits()
                && l.feature.to_bits() == first.feature.to_bits(),
            || format!("{label}: {l:?} vs {first:?}"),
        )?;
    }
    ensure(
        CaseId::parse("prop:wall:seed=x:case=1").is_err()
            && CaseId::parse("wall:seed=1:case=1").is_err(),
        || "malformed replay strings accepted".into(),
    )
}

/// The regressions file: written once per counterexample, comments and other properties
/// ignored, and replayed first by the next run (whose first failure is then that case).
fn regressions_round_trip() -> TestResult {
    let dir = crate::common::scratch_root().join(format!("regressions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("property.regressions");
    let _ = std::fs::remove_file(&path);
    let file = Regressions::at(&path);
    ensure(file.load("wall")?.is_empty(), || {
        "a missing file is not empty".into()
    })?;
    let mut check = wall(1);
    check.regressions = Some(path.clone());
    let first = run_wall(&check, Box::new(ActivationEnergy))?;
    let c = detail(&first)?
        .counterexample
        .clone()
        .ok_or("no counterexample")?;
    let other = CaseId::parse("prop:positivity:seed=1:case=2")?;
    file.add(&other)?;
    file.add(&CaseId::parse(&c.case)?)?;
    let text = std::fs::read_to_string(&path)?;
    ensure(
        text.starts_with('#') && text.matches(c.case.as_str()).count() == 1,
        || format!("file:\n{text}"),
    )?;
    ensure(file.load("wall")? == vec![CaseId::parse(&c.case)?], || {
        format!("loaded {:?}", file.load("wall"))
    })?;
    ensure(file.load("positivity")? == vec![other], || {
        "positivity".into()
    })?;
    check.cases = 1;
    let second = run_wall(&check, Box::new(ActivationEnergy))?;
    let d = detail(&second)?;
    let again = d
        .counterexample
        .as_ref()
        .ok_or("no counterexample the second time")?;
    ensure(d.regressions_replayed == 1 && d.cases == 2, || {
        format!("replayed {}, cases {}", d.regressions_replayed, d.cases)
    })?;
    ensure(
        again.original == c.case && again.value.to_bits() == c.value.to_bits(),
        || {
            format!(
                "first failure {} ({}), recorded {}",
                again.original, again.value, c.case
            )
        },
    )?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// κ = E[GC_ij]/‖m_ij‖ by a literal Monte Carlo: every weight drawn from `rand_distr`, the conv,
/// ReLU, 2×2 max-pool, masked dense layer and GradCAM written as loops. α_v is the mean of
/// ∂y/∂B_v, which max-pool routes to one element per pooled window: (1/hw) Σ_{live p,q} U_vpq.
fn literal_kappa(config: &RcnnConfig, draws: usize, seed: u64) -> (f64, f64) {
    let (c, k, v) = (config.in_channels, config.kernel, config.filters);
    let (hh, ww) = (config.height, config.width);
    let (h, w) = config.map_size();
    let (hp, wp) = config.pooled_size();
    let dead = config.dead_pooled_rows();
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Normal::new(0.0, 1.0).unwrap();
    let weight = Normal::new(0.0, config.tau).unwrap();
    let x: Vec<f64> = (0..c * hh * ww).map(|_| unit.sample(&mut rng)).collect();
    let px = |ch: i64, i: i64, j: i64| x[(ch * hh * ww + i * ww + j) as usize];
    let patch_norm = |i: i64, j: i64| {
        let mut s = 0.0;
        for ch in 0..c {
            for a in 0..k {
                for b in 0..k {
                    s += px(ch, i + a, j + b).powi(2);
                }
            }
        }
        s.sqrt()
    };
    // Behind the wall: every B row at or below the first dead pooled row's first B row.
    let rows = 2 * dead.start..h;
    let mut values = Vec::with_capacity(draws);
    for _ in 0..draws {
        let conv: Vec<f64> = (0..v * c * k * k)
            .map(|_| weight.sample(&mut rng))
            .collect();
        let mut alpha = vec![0.0; v as usize];
        for (f, a) in alpha.iter_mut().enumerate() {
            for p in 0..hp {
                for _q in 0..wp {
                    let u = weight.sample(&mut rng);
                    if !dead.contains(&p) {
                        *a += u;
                    }
                }
            }
            *a /= (h * w) as f64;
            let _ = f;
        }
        let mut total = 0.0;
        for i in rows.clone() {
            for j in 0..w {
                let mut s = 0.0;
                for f in 0..v {
                    let mut z = 0.0;
                    for ch in 0..c {
                        for a in 0..k {
                            for b in 0..k {
                                let wt = conv[(((f * c + ch) * k + a) * k + b) as usize];
                                z += wt * px(ch, i + a, j + b);
                            }
                        }
                    }
                    s += alpha[f as usize] * z.max(0.0);
                }
                total += s.max(0.0) / patch_norm(i, j);
            }
        }
        values.push(total / ((rows.end - rows.start) * w) as f64);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Three geometries that differ in every ingredient of the closed form: kernel, input size (odd
/// and even maps, one channel and two), V, τ and the wall's height.
fn closed_form_matches_literal() -> TestResult {
    let geometries = [
        (1, 1, 9, 12, 8, 0.7, Some(1)),
        (2, 3, 14, 11, 24, 1.5, Some(2)),
        (1, 5, 17, 16, 64, 1.0, None),
    ];
    for (i, &(channels, kernel, height, width, filters, tau, wall_rows)) in
        geometries.iter().enumerate()
    {
        let config = RcnnConfig {
            in_channels: channels,
            filters,
            kernel,
            height,
            width,
            classes: 1,
            tau,
            masked: true,
            wall_rows,
        };
        let (estimate, se) = literal_kappa(&config, 4000, 17 + i as u64);
        let exact = closed_form(&config);
        let z = (estimate - exact) / se;
        // Three geometries; |z| < 4 leaves a false-alarm rate of about 2e-4 for the trial.
        ensure(z.abs() < 4.0, || {
            format!("{config:?}: literal {estimate:.5} ± {se:.5}, closed form {exact:.5}, z {z:.2}")
        })?;
        // And the literal Monte Carlo has the power to reject a closed form 15% off.
        let wrong = (estimate - 1.15 * exact) / se;
        ensure(wrong.abs() > 4.0, || {
            format!("{config:?}: a 15% error gives only z = {wrong:.2} (se {se:.5})")
        })?;
    }
    Ok(())
}

/// The bisection's boundary is where the closed form crosses the reading: below it from V on,
/// above it at V − 1. At the paper's geometry (29×29, k = 2, τ = 1, 7 of 14 pooled rows walled)
/// the linear reading first exceeds the exact expectation at V = 902 (the same formulas evaluated
/// in plain Python floats: κ = 0.106904 against a reading of 0.107051).
fn boundary_is_the_crossing() -> TestResult {
    let config = RcnnConfig {
        classes: 1,
        ..RcnnConfig::default()
    };
    let from = boundary(&config, 0, 8192).ok_or("the linear reading never fails")?;
    let at = |v: i64| {
        let c = RcnnConfig {
            filters: v,
            ..config.clone()
        };
        (closed_form(&c), bound_readings(&c)[0].1.unwrap())
    };
    let ((below, bound), (above, bound_before)) = (at(from), at(from - 1));
    ensure(
        below < bound && above >= bound_before && from == 902,
        || format!("boundary {from}: {below} vs {bound}, at V-1 {above} vs {bound_before}"),
    )?;
    ensure(boundary(&config, 0, from - 1).is_none(), || {
        "a boundary below the crossing".into()
    })
}

/// Positivity says all three: held on small random networks (E[GC] > 0 behind the wall, the
/// theorem's conclusion beyond the rCNN), failed on a wall over the zero padding (one 1×1 conv
/// padded by 1, no bias, no BatchNorm: the walled border row is exactly 0 for every draw), and
/// undecided with two draws a case.
fn positivity_three_ways() -> TestResult {
    let run = |cases, draws, regressions| -> std::result::Result<CheckResult, String> {
        let check = PropPositivityCheck {
            cases,
            draws,
            tau: 1.0,
            regressions,
        };
        let ctx = CheckContext::new(Device::Cpu, 5);
        let mut results = check.run(&[], &ctx).map_err(|e| e.to_string())?.results;
        Ok(results.remove(0))
    };
    let held = run(4, 64, None)?;
    let d = detail(&held)?;
    ensure(d.held >= 3 && d.cases == 4, || {
        format!("positivity: {}", held.reason)
    })?;

    let padded = "1x8x8/2k1s1p1nr/gap/top1/10/1";
    let arch = RandomArch::decode(padded)?;
    let case = CaseId::parse(&format!("prop:positivity:seed=5:case=0:arch={padded}"))?;
    let zeros = behind_the_wall(&arch, &case, 8, Device::Cpu)?;
    ensure(zeros.iter().all(|&v| v == 0.0), || {
        format!("padding row: {zeros:?}")
    })?;
    let dir = crate::common::scratch_root().join(format!("positivity-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("regressions");
    Regressions::at(&path).add(&case)?;
    let failed = run(1, 16, Some(path))?;
    std::fs::remove_dir_all(&dir)?;
    let d = detail(&failed)?;
    let c = d.counterexample.as_ref().ok_or("no counterexample")?;
    ensure(
        failed.verdict == Verdict::Fail && d.regressions_replayed == 1,
        || format!("{}: {}", failed.verdict, failed.reason),
    )?;
    ensure(c.value == 0.0 && c.original == case.encode(), || {
        format!("{c:?}")
    })?;

    let undecided = run(3, 2, None)?;
    let d = detail(&undecided)?;
    ensure(d.inconclusive >= 1 && d.failed == 0, || {
        format!("two draws: {}", undecided.reason)
    })
}

/// `SanityHarness::property` adds one trial per property: failing for the leak, passing for the
/// non-leak.
fn harness_trials() -> TestResult {
    let leaky = SanityHarness::new(ActivationEnergy)
        .device(Device::Cpu)
        .property("wall", 2);
    let names: Vec<String> = leaky
        .trials()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    ensure(
        names.len() == 1 && names[0].contains("::prop-wall::"),
        || format!("trials {names:?}"),
    )?;
    let leaky = leaky.outcomes();
    let clean = SanityHarness::new(GradientTimesInput)
        .device(Device::Cpu)
        .property("wall", 4)
        .outcomes();
    ensure(leaky.len() == 1 && leaky[0].result.is_err(), || {
        format!("the leak passed the gate: {leaky:?}")
    })?;
    ensure(clean.len() == 1 && clean[0].result.is_ok(), || {
        format!("the non-leak failed the gate: {clean:?}")
    })
}

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "property::planted_leak_is_caught_and_shrunk",
            planted_leak_is_shrunk,
        ),
        Trial::test(
            "property::planted_non_leak_holds_everywhere",
            planted_non_leak_holds,
        ),
        Trial::test("property::replay_is_deterministic", replay_is_deterministic),
        Trial::test("property::regressions_round_trip", regressions_round_trip),
        Trial::test(
            "property::closed_form_matches_literal_monte_carlo",
            closed_form_matches_literal,
        ),
        Trial::test(
            "property::boundary_is_the_crossing",
            boundary_is_the_crossing,
        ),
        Trial::test("property::positivity_three_ways", positivity_three_ways),
        Trial::test("property::harness_adds_property_trials", harness_trials),
    ]
}
