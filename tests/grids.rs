//! The grid checks (DiFull, DiPart, GridPG): the grid models route each cell to its own head,
//! the shares and the grids against literal loops, each check deciding each way with its
//! control, and every grid and faithfulness check on a TorchScript model.
use crate::common::{ensure, ensure_close, to_vec, TestResult};
use blindspot::cam::method_named;
use blindspot::check::faithfulness::{DeletionCheck, RoadCheck};
use blindspot::check::grid::{grids, shares, DiFullCheck, DiPartCheck, GridPgCheck};
use blindspot::check::{Check, CheckContext, CheckResult, Subject, Verdict};
use blindspot::data::DataSpec;
use blindspot::model::grid::{quadrants, stitch, Grid, Layout};
use blindspot::model::init::Init;
use blindspot::{CamContext, CamMethod, SplitModel};
use libtest_mimic::Trial;
use tch::{Device, Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("grids::models_route_each_cell_to_its_head", routing),
        Trial::test("grids::shares_and_grids_equal_literal_loops", literal),
        crate::common::slow(
            "grids::each_check_says_pass_fail_and_inconclusive",
            three_ways,
        ),
        Trial::test(
            "grids::too_few_classes_is_refused_with_a_message",
            too_few_refused,
        ),
        crate::common::needs_python(crate::common::slow(
            "grids::grid_and_faithfulness_checks_run_on_a_torchscript_model",
            torchscript,
        )),
    ]
}

fn subject(model: &str, synthetic: i64) -> Subject {
    let data = DataSpec::Synthetic {
        synthetic,
        seed: Some(0),
        size: 64,
    };
    Subject {
        looks: 1,
        batch_size: 64,
        ..Subject::new(model, data)
    }
}

/// DiFull: changing every pixel outside cell j leaves output j (its K logits) exactly as it was;
/// DiPart: changing the explained layer outside quadrant j does the same; GridPG's output is the
/// mean of DiPart's four heads; the quadrants are literal slices and `stitch` undoes them.
fn routing() -> TestResult {
    let model = blindspot::open_model("builtin:stack-masked", Device::Cpu, &Default::default())?;
    let x = Init::new(1, Device::Cpu).normal(&[2, 3, 128, 128], 1.0);
    let q = quadrants(&x);
    for j in 0..4i64 {
        let (row, column) = (j / 2, j % 2);
        let literal = x.narrow(2, 64 * row, 64).narrow(3, 64 * column, 64);
        ensure_close(
            "quadrant",
            &q.narrow(0, j, 1),
            &literal.narrow(0, 0, 1),
            0.0,
        )?;
    }
    ensure_close("stitch", &stitch(&q), &x, 0.0)?;
    let difull = Grid::new(model.as_ref(), Layout::DiFull);
    let dipart = Grid::new(model.as_ref(), Layout::DiPart);
    let gridpg = Grid::new(model.as_ref(), Layout::GridPg);
    let k = model.forward(&x.narrow(2, 0, 64).narrow(3, 0, 64))?.size()[1];
    let a = dipart.features(&x)?;
    let (h, w) = (a.size()[2] / 2, a.size()[3] / 2);
    for j in 0..4i64 {
        let (row, column) = (j / 2, j % 2);
        // Noise everywhere but cell j.
        let keep = |t: &Tensor, side_h: i64, side_w: i64| {
            let mask = t.zeros_like();
            let _ = mask
                .narrow(2, row * side_h, side_h)
                .narrow(3, column * side_w, side_w)
                .fill_(1.0);
            mask
        };
        let inside = keep(&x, 64, 64);
        let other = &x * &inside
            + Init::new(2 + j as u64, Device::Cpu).normal(&x.size(), 3.0) * (1.0 - &inside);
        let out = |m: &dyn SplitModel, t: &Tensor| -> blindspot::Result<Tensor> {
            Ok(m.forward(t)?.narrow(1, j * k, k))
        };
        ensure_close(
            "DiFull head",
            &out(&difull, &other)?,
            &out(&difull, &x)?,
            0.0,
        )?;
        let inside = keep(&a, h, w);
        let changed = &a * &inside + (1.0 - &inside) * 5.0;
        let head =
            |t: &Tensor| -> blindspot::Result<Tensor> { Ok(dipart.head(t)?.narrow(1, j * k, k)) };
        ensure_close("DiPart head", &head(&changed)?, &head(&a)?, 0.0)?;
    }
    let mean = dipart
        .head(&a)?
        .view([2, 4, k])
        .mean_dim(1, false, Kind::Float);
    ensure_close("GridPG head", &gridpg.head(&a)?, &mean, 1e-6)
}

/// `shares` against a loop over the pixels of random maps (one all zero), and `grids` against
/// the grids the rule gives by hand.
fn literal() -> TestResult {
    let maps = Init::new(6, Device::Cpu).uniform(&[8, 6, 4], 1.0).abs();
    let _ = maps.get(5).fill_(0.0);
    let (got, undefined) = shares(&maps);
    let got = to_vec(&got);
    let values = to_vec(&maps);
    for m in 0..8usize {
        let cell = m % 4;
        let (mut inside, mut total) = (0.0, 0.0);
        for y in 0..6 {
            for x in 0..4 {
                let v = values[m * 24 + y * 4 + x];
                total += v;
                if (y / 3) * 2 + x / 2 == cell {
                    inside += v;
                }
            }
        }
        let want = if total == 0.0 { 0.0 } else { inside / total };
        ensure((got[m] - want).abs() <= 1e-12, || {
            format!("map {m}: share {} against {want}", got[m])
        })?;
    }
    ensure(undefined == 1, || {
        format!("{undefined} all-zero maps, not 1")
    })?;
    // Classes 0 0 1 2 3 1 4 5 2 3 0: the first grid takes 0, 1, 2, 3 (images 0, 2, 3, 4); the
    // second the first four distinct of what is left, 0 1 4 5 (images 1, 5, 6, 7); then 2 3 0
    // cannot make a third.
    let made = grids(&[0, 0, 1, 2, 3, 1, 4, 5, 2, 3, 0]);
    ensure(made == vec![[0, 2, 3, 4], [1, 5, 6, 7]], || {
        format!("{made:?}")
    })
}

/// Data whose images the model puts in fewer than four classes (4 images) make no grid: one
/// message names the check, the data and the fix; DiFull's threshold is refused out of range.
fn too_few_refused() -> TestResult {
    let check = DiFullCheck {
        subject: subject("builtin:stack-masked", 4),
        ..Default::default()
    };
    let names = ["gradcam"];
    let methods: Vec<Box<dyn CamMethod>> = names
        .iter()
        .map(|n| method_named(n, &blindspot::Seeds::new(0)).expect("a method"))
        .collect();
    let message = verdicts(&check, methods)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure(
        message.contains("at least 2 grids") && message.contains("give more images"),
        || message.clone(),
    )?;
    let bad = DiFullCheck {
        threshold: 1.5,
        ..Default::default()
    };
    let refused = bad.validate().err().unwrap_or_default();
    ensure(refused.contains("threshold = 1.5"), || refused.clone())
}

/// A method that is HiResCAM on even grids and a constant (all-zero after min-max: share 0) on
/// odd ones: its grids disagree completely, so no check can decide it on 7 grids.
struct Alternating;

impl CamMethod for Alternating {
    fn name(&self) -> &str {
        "alternating"
    }
    fn title(&self) -> &str {
        "Alternating"
    }
    fn summary(&self) -> &str {
        "HiResCAM on even grids, a constant on odd ones (test)"
    }
    fn raw_map(&self, ctx: &CamContext) -> blindspot::Result<Tensor> {
        let hires =
            (ctx.grads()? * ctx.activations).sum_dim_intlist([1].as_slice(), false, Kind::Float);
        let n = hires.size()[0];
        let grid = Tensor::arange(n, (Kind::Int64, hires.device())).divide_scalar_mode(4, "floor");
        let even = grid.remainder(2).eq(0).view([n, 1, 1]);
        Ok(hires.where_self(&even, &hires.ones_like()))
    }
}

fn verdicts(
    check: &impl Check,
    methods: Vec<Box<dyn CamMethod>>,
) -> Result<Vec<CheckResult>, blindspot::Error> {
    Ok(check
        .run(&methods, &CheckContext::new(Device::Cpu, 0))?
        .results)
}

/// On the trained stack model, 32 images (7 grids; the random map fails each time, so the
/// checks separate): DiFull passes HiResCAM (nothing outside the cell) and fails GradCAM
/// (channel weights averaged over the four cells); DiPart passes HiResCAM and fails RandomCAM;
/// GridPG passes HiResCAM and fails RandomCAM; the alternating method is inconclusive in all.
fn three_ways() -> TestResult {
    let named = |n: &str| method_named(n, &blindspot::Seeds::new(0)).expect("a method");
    let s = subject("builtin:stack-masked", 32);
    let want = [Verdict::Pass, Verdict::Fail, Verdict::Inconclusive];
    let cases: Vec<(&str, Vec<CheckResult>)> = vec![
        (
            "difull",
            verdicts(
                &DiFullCheck {
                    subject: s.clone(),
                    ..Default::default()
                },
                vec![named("hirescam"), named("gradcam"), Box::new(Alternating)],
            )?,
        ),
        (
            "dipart",
            verdicts(
                &DiPartCheck { subject: s.clone() },
                vec![named("hirescam"), named("randomcam"), Box::new(Alternating)],
            )?,
        ),
        (
            "gridpg",
            verdicts(
                &GridPgCheck { subject: s.clone() },
                vec![named("hirescam"), named("randomcam"), Box::new(Alternating)],
            )?,
        ),
    ];
    for (check, results) in cases {
        for (r, want) in results.iter().zip(want) {
            ensure(r.verdict == want, || {
                format!(
                    "{check} {}: {} ({}), expected {want}",
                    r.title, r.verdict, r.reason
                )
            })?;
        }
    }
    Ok(())
}

/// The stack model exported to TorchScript (python/export_builtin.py) runs every grid and
/// faithfulness check with its control and decides: HiResCAM passes DiFull and DiPart and GradCAM
/// fails DiFull as on the built-in model; ROAD and deletion pass GradCAM on 64 images.
fn torchscript() -> TestResult {
    let dir = crate::common::scratch_root().join("grid-torchscript");
    std::fs::create_dir_all(&dir)?;
    let model = blindspot::open_model("builtin:stack-masked", Device::Cpu, &Default::default())?;
    let file = dir.join("stack-masked.pt");
    let example = Init::new(3, Device::Cpu).normal(&[2, 3, 64, 64], 1.0);
    blindspot::model::export::save_split(model.as_ref(), &example, &file)?;
    let spec = file.display().to_string();
    let named = |n: &str| method_named(n, &blindspot::Seeds::new(0)).expect("a method");
    let s = subject(&spec, 32);
    let difull = verdicts(
        &DiFullCheck {
            subject: s.clone(),
            ..Default::default()
        },
        vec![named("hirescam"), named("gradcam")],
    )?;
    let dipart = verdicts(&DiPartCheck { subject: s.clone() }, vec![named("hirescam")])?;
    let gridpg = verdicts(&GridPgCheck { subject: s.clone() }, vec![named("hirescam")])?;
    let road = verdicts(
        &RoadCheck {
            subject: subject(&spec, 64),
            ..Default::default()
        },
        vec![named("gradcam")],
    )?;
    let deletion = verdicts(
        &DeletionCheck {
            subject: subject(&spec, 128),
            ..Default::default()
        },
        vec![named("gradcam")],
    )?;
    let mut seen = Vec::new();
    for (check, results, want) in [
        ("difull", &difull, vec![Verdict::Pass, Verdict::Fail]),
        ("dipart", &dipart, vec![Verdict::Pass]),
        ("gridpg", &gridpg, vec![Verdict::Pass]),
        ("road", &road, vec![Verdict::Pass]),
        ("deletion", &deletion, vec![Verdict::Pass]),
    ] {
        for (r, want) in results.iter().zip(want) {
            seen.push(format!(
                "{check} {} {} {:.3}",
                r.title, r.verdict, r.summary.mean
            ));
            ensure(
                r.controls.iter().all(|c| c.verdict == Verdict::Fail),
                || format!("{check}: a control did not fail: {:?}", r.controls),
            )?;
            ensure(r.verdict == want, || {
                format!(
                    "{check} {}: {} ({}), expected {want}",
                    r.title, r.verdict, r.reason
                )
            })?;
        }
    }
    eprintln!("on TorchScript: {}", seen.join("; "));
    Ok(())
}
