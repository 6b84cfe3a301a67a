//! Vision transformers: the built-in ViT's token grid and wall against literal loops and
//! perturbations, its certificate, the wall check's verdicts derived in docs/theory.md, HiResCAM
//! and AblationCAM on its tokens against slow literal implementations, walled transformers of
//! random shapes, and cascading randomization of every block without NaN.
use crate::common::{ensure, ensure_close, TestResult};
use blindspot::cam::{explain, method_named};
use blindspot::check::randomization::{layers_top_down, randomize, Distribution, Snapshot};
use blindspot::check::wall::{Resolution, WallCheck};
use blindspot::check::{Check, CheckContext, Subject, Verdict};
use blindspot::data::DataSpec;
use blindspot::model::init::Init;
use blindspot::model::vit::{Vit, VitConfig};
use blindspot::model::wall::{certify, CertifyOptions, RowRange};
use blindspot::SplitModel;
use libtest_mimic::Trial;
use rand::{RngExt, SeedableRng};
use tch::{Device, Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("transformers::vit_tokens_read_as_a_grid_literally", grid),
        Trial::test(
            "transformers::walled_vit_cannot_see_its_bottom_patches",
            walled_routing,
        ),
        Trial::test(
            "transformers::certify_proves_the_walled_vit_blind_rows",
            certificate,
        ),
        Trial::test(
            "transformers::hirescam_and_ablationcam_on_tokens_equal_literal_loops",
            literal_methods,
        ),
        crate::common::slow(
            "transformers::wall_verdicts_on_the_walled_vit_as_derived",
            wall_verdicts,
        ),
        crate::common::slow(
            "transformers::random_walled_transformers_hold_the_derivation",
            random_walls,
        ),
        crate::common::slow(
            "transformers::cascading_randomization_of_every_vit_block_stays_finite",
            cascading,
        ),
        Trial::test(
            "transformers::random_vit_shapes_encode_decode_and_shrink",
            shapes,
        ),
        Trial::test(
            "transformers::shapleycam_at_a_vit_norm1_equals_central_differences",
            shapley_norm1,
        ),
        crate::common::slow(
            "transformers::prop_vit_wall_holds_fails_shrinks_and_replays",
            prop_vit_wall,
        ),
    ]
}

fn committed(name: &str) -> Result<Box<dyn SplitModel>, blindspot::Error> {
    blindspot::open_model(name, Device::Cpu, &Default::default())
}

/// `to_grid` puts token r·columns + c of image n at grid cell (r, c), its D values as channels.
fn grid() -> TestResult {
    let model = committed("builtin:stack-vit-masked")?;
    let x = Init::new(2, Device::Cpu).normal(&[2, 3, 64, 64], 1.0);
    let tokens = model.features(&x)?;
    ensure(tokens.size() == [2, 64, 48], || {
        format!("tokens {:?}", tokens.size())
    })?;
    let g = model.to_grid(&tokens)?;
    ensure(g.size() == [2, 48, 8, 8], || format!("grid {:?}", g.size()))?;
    for n in 0..2 {
        for r in 0..8 {
            for c in 0..8 {
                let want = tokens.get(n).get(r * 8 + c);
                let got = g.get(n).select(1, r).select(1, c);
                ensure(got.equal(&want), || format!("cell ({r}, {c}) of image {n}"))?;
            }
        }
    }
    Ok(())
}

/// Any values in input rows 48..63 leave the walled ViT's logits bit-identical (trained and
/// freshly initialised weights); a change in row 47 changes them. The head's gradient at the
/// bottom tokens is exactly 0 and the tokens themselves are not.
fn walled_routing() -> TestResult {
    let fresh = Vit::new(VitConfig::stack(true), "fresh", 5, Device::Cpu);
    let trained = committed("builtin:stack-vit-masked")?;
    let mut init = Init::new(3, Device::Cpu);
    let x = init.normal(&[4, 3, 64, 64], 1.0);
    let noise = init.normal(&[4, 3, 64, 64], 10.0);
    let rows = Tensor::arange(64, (Kind::Int64, Device::Cpu)).view([1, 1, 64, 1]);
    let bottom = noise.where_self(&rows.ge(48), &x);
    let above = noise.where_self(&rows.eq(47), &x);
    for model in [&fresh as &dyn SplitModel, trained.as_ref()] {
        let logits = |x: &Tensor| tch::no_grad(|| model.forward(x));
        ensure(logits(&x)?.equal(&logits(&bottom)?), || {
            format!("{}: noise below row 48 changed the logits", model.name())
        })?;
        ensure(!logits(&x)?.equal(&logits(&above)?), || {
            format!("{}: row 47 does not reach the logits", model.name())
        })?;
        let z = model.features(&x)?.detach().set_requires_grad(true);
        let score = model.head(&z)?.sum(Kind::Float);
        let g = Tensor::run_backward(&[score], &[&z], false, false).remove(0);
        let behind = g.narrow(1, 48, 16).abs().max().double_value(&[]);
        let before = g.narrow(1, 0, 48).abs().max().double_value(&[]);
        let tokens = z.narrow(1, 48, 16).abs().max().double_value(&[]);
        ensure(behind == 0.0 && before > 0.0 && tokens > 0.0, || {
            format!("gradient behind {behind:e}, before {before:e}; tokens behind {tokens:e}")
        })?;
    }
    Ok(())
}

/// `certify` proves input rows 48..63 blind for the walled ViT and finds no blind pixel in the
/// unwalled one.
fn certificate() -> TestResult {
    let options = CertifyOptions::default();
    let walled = committed("builtin:stack-vit-masked")?;
    let cert = certify(walled.as_ref(), 3, 64, 64, &options)?;
    ensure(
        cert.rows
            == Some(RowRange {
                first: 48,
                last: 63,
            }),
        || format!("certified {}", cert.describe()),
    )?;
    let open = committed("builtin:stack-vit")?;
    let refused = certify(open.as_ref(), 3, 64, 64, &options)
        .err()
        .ok_or("the unwalled ViT was certified")?;
    ensure(refused.to_string().contains("no input pixel"), || {
        format!("the refusal: {refused}")
    })
}

/// HiResCAM's raw map Σ_d g·z per token, and AblationCAM's weights with channel d of every
/// token set to 0 or min(z) − 1e7 (pytorch-grad-cam's AblationLayerVit), one image, one token
/// and one channel at a time, against the pipeline's batched maps on the trained walled ViT.
fn literal_methods() -> TestResult {
    let model = committed("builtin:stack-vit-masked")?;
    let x = blindspot::data::synth::StackSynth::generate(&Default::default(), 2, 7, 0).normalized();
    let seeds = blindspot::Seeds::new(0);
    let hires = explain(
        method_named("hirescam", &seeds)?.as_ref(),
        model.as_ref(),
        &x,
        None,
    )?;
    let ablation = explain(
        method_named("ablationcam", &seeds)?.as_ref(),
        model.as_ref(),
        &x,
        None,
    )?;
    for n in 0..2 {
        let xi = x.narrow(0, n, 1);
        let z = model.features(&xi)?.detach();
        let target = hires.targets.int64_value(&[n]);
        let leaf = z.detach().set_requires_grad(true);
        let y = model.head(&leaf)?.get(0).get(target);
        let g = Tensor::run_backward(&[&y], &[&leaf], false, false).remove(0);
        let (t, d) = (z.size()[1], z.size()[2]);
        let mut hires_map = vec![0f64; t as usize];
        for (k, cell) in hires_map.iter_mut().enumerate() {
            for c in 0..d {
                let (gv, zv) = (
                    g.double_value(&[0, k as i64, c]),
                    z.double_value(&[0, k as i64, c]),
                );
                *cell += gv * zv;
            }
        }
        let want = Tensor::from_slice(&hires_map)
            .view([8, 8])
            .to_kind(Kind::Float);
        let scale = want.abs().max().double_value(&[]);
        ensure_close("HiResCAM", &hires.raw.get(n), &want, 1e-5 * scale)?;
        let y0 = y.double_value(&[]);
        let minimum = z.min().double_value(&[]);
        let value = if minimum == 0.0 { 0.0 } else { minimum - 1e7 };
        let mut map = Tensor::zeros([8, 8], (Kind::Double, Device::Cpu));
        let grid = model.to_grid(&z)?.get(0).to_kind(Kind::Double);
        for c in 0..d {
            let ablated = z.copy();
            let _ = ablated.narrow(2, c, 1).fill_(value);
            let yk = tch::no_grad(|| model.head(&ablated))?.double_value(&[0, target]);
            map += grid.get(c) * ((y0 - yk) / y0);
        }
        let scale = map.abs().max().double_value(&[]);
        ensure_close("AblationCAM", &ablation.raw.get(n), &map, 1e-4 * scale)?;
    }
    Ok(())
}

fn wall_check(synthetic: i64, resolution: Resolution) -> WallCheck {
    let data = DataSpec::Synthetic {
        synthetic,
        seed: Some(0),
        size: 64,
    };
    WallCheck {
        subject: Subject::new("builtin:stack-vit-masked", data),
        resolution,
        ..Default::default()
    }
}

/// docs/theory.md: on the token grid HiResCAM, GradCAMElementWise and LayerCAM are exactly 0
/// behind the wall and pass, GradCAM's channel-weighted map of tokens that exist behind it
/// fails, and so does the random map (128 images); on the upsampled map the element-wise
/// methods fail too, by the bilinear interpolation of token row 5 into input rows 48..51 alone,
/// which the test recomputes from their token-grid maps.
fn wall_verdicts() -> TestResult {
    let seeds = blindspot::Seeds::new(0);
    let names = [
        "gradcam",
        "hirescam",
        "gradcam-elementwise",
        "layercam",
        "randomcam",
    ];
    let methods: Vec<Box<dyn blindspot::CamMethod>> = names
        .iter()
        .map(|n| method_named(n, &seeds))
        .collect::<Result<_, _>>()?;
    let ctx = CheckContext::new(Device::Cpu, 0);
    let features = wall_check(128, Resolution::Features)
        .run(&methods, &ctx)?
        .results;
    let want = [
        Verdict::Fail,
        Verdict::Pass,
        Verdict::Pass,
        Verdict::Pass,
        Verdict::Fail,
    ];
    for (r, want) in features.iter().zip(want) {
        ensure(r.verdict == want, || {
            format!(
                "features: {} {} ({}), expected {want}",
                r.title, r.verdict, r.reason
            )
        })?;
    }
    ensure(features[1].summary.mean == 0.0, || {
        format!("HiResCAM's token-grid mu {}", features[1].summary.mean)
    })?;
    let input = wall_check(128, Resolution::Input)
        .run(&methods, &ctx)?
        .results;
    ensure(input[1].verdict == Verdict::Fail, || {
        format!("input: HiResCAM {}", input[1].verdict)
    })?;
    // The bleed: HiResCAM's token-grid maps, 0 on token rows 6..7, upsampled as the pipeline does.
    let model = committed("builtin:stack-vit-masked")?;
    let x = wall_check(128, Resolution::Input)
        .subject
        .images(model.as_ref(), &ctx)?;
    let e = explain(methods[1].as_ref(), model.as_ref(), &x, None)?;
    let tokens = e.feature_maps();
    let behind = tokens.narrow(1, 6, 2).abs().max().double_value(&[]);
    ensure(behind == 0.0, || format!("token rows 6..7 hold {behind:e}"))?;
    let up = blindspot::cam::pipeline::postprocess(&e.raw, e.reading, 64, 64);
    let norm = |t: &Tensor| {
        t.square()
            .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double)
    };
    let mu = (norm(&up.narrow(1, 48, 16)) / norm(&up))
        .sqrt()
        .mean(Kind::Double);
    let mu = mu.double_value(&[]);
    ensure((mu - input[1].summary.mean).abs() < 1e-9, || {
        format!(
            "mu of the upsampled maps {mu} vs the check's {}",
            input[1].summary.mean
        )
    })
}

/// Walled transformers of random shapes (patch side, token width, depth, heads, MLP width, wall
/// row), fresh weights: `certify` proves exactly the input rows from the wall row's patches
/// down, HiResCAM's token-grid map is exactly 0 on every token behind the wall, and GradCAM's is
/// not (its channel weights are means over every token). 10 seeded shapes; a failure names the
/// configuration that breaks it.
fn random_walls() -> TestResult {
    let mut rng = rand::rngs::StdRng::seed_from_u64(40);
    let seeds = blindspot::Seeds::new(0);
    let (hires, gradcam) = (
        method_named("hirescam", &seeds)?,
        method_named("gradcam", &seeds)?,
    );
    for case in 0..10 {
        let patch = [4, 8, 16][rng.random_range(0..3)];
        let side = 64 / patch;
        let heads = [1, 2, 4][rng.random_range(0..3)];
        let config = VitConfig {
            in_channels: 3,
            height: 64,
            width: 64,
            patch,
            dim: heads * rng.random_range(2..9),
            depth: rng.random_range(1..4),
            heads,
            mlp: rng.random_range(8..65),
            classes: 4,
            wall_from_row: Some(rng.random_range(1..side)),
        };
        let r = config.wall_from_row.unwrap_or_default();
        let model = Vit::new(config.clone(), "random", case, Device::Cpu);
        let cert = certify(&model, 3, 64, 64, &CertifyOptions::default())?;
        let rows = Some(RowRange {
            first: r * patch,
            last: 63,
        });
        ensure(cert.rows == rows, || {
            format!("{config:?}: certified {}", cert.describe())
        })?;
        let x = Init::new(case, Device::Cpu).normal(&[4, 3, 64, 64], 1.0);
        let behind = |m: &dyn blindspot::CamMethod| -> Result<f64, blindspot::Error> {
            let raw = explain(m, &model, &x, None)?.raw;
            Ok(raw.narrow(1, r, side - r).abs().max().double_value(&[]))
        };
        let (h, g) = (behind(hires.as_ref())?, behind(gradcam.as_ref())?);
        ensure(h == 0.0 && g > 0.0, || {
            format!("{config:?}: behind the wall HiResCAM {h:e}, GradCAM {g:e}")
        })?;
    }
    Ok(())
}

/// Every parameter group of the trained ViT (patch and position embeddings, each block's norms,
/// attention and MLP, the final norm, the pooling head, the classifier) randomized in turn from
/// the output side, by each rule: the logits and GradCAM's raw maps stay finite at every step,
/// and the model is restored afterwards.
fn cascading() -> TestResult {
    let model = committed("builtin:stack-vit-masked")?;
    let x = Init::new(4, Device::Cpu).normal(&[4, 3, 64, 64], 1.0);
    let before = tch::no_grad(|| model.forward(&x))?;
    let groups = layers_top_down(model.as_ref())?;
    ensure(groups.len() == 19, || format!("{} groups", groups.len()))?;
    let gradcam = method_named("gradcam", &blindspot::Seeds::new(0))?;
    let snapshot = Snapshot::take(&groups);
    for distribution in [
        Distribution::Gaussian,
        Distribution::DefaultInit,
        Distribution::Permutation,
    ] {
        for (k, group) in groups.iter().enumerate() {
            randomize(
                group,
                distribution,
                blindspot::Seeds::new(k as u64).stream("test"),
            );
            let logits = tch::no_grad(|| model.forward(&x))?;
            let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) == 1;
            ensure(finite(&logits), || {
                format!(
                    "{distribution:?}: logits after {} are not finite",
                    group.layer
                )
            })?;
            let raw = explain(gradcam.as_ref(), model.as_ref(), &x, None)?.raw;
            ensure(finite(&raw), || {
                format!(
                    "{distribution:?}: GradCAM after {} is not finite",
                    group.layer
                )
            })?;
        }
        snapshot.restore();
    }
    let after = tch::no_grad(|| model.forward(&x))?;
    ensure(after.equal(&before), || "the model was not restored".into())
}

/// A drawn shape encodes and decodes to itself, every shrink is valid and simpler, and malformed
/// shape strings are refused with a message.
fn shapes() -> TestResult {
    use blindspot::model::random_vit::RandomVit;
    for seed in 0..50 {
        let shape = RandomVit::draw(&mut rand::rngs::StdRng::seed_from_u64(seed));
        ensure(shape.valid(), || format!("{shape:?} is not valid"))?;
        let back = RandomVit::decode(&shape.encode())?;
        ensure(back == shape, || {
            format!("{} decoded to {back:?}", shape.encode())
        })?;
        for (step, s) in shape.shrinks() {
            let size = |v: &RandomVit| (v.depth * v.heads * v.head_width * v.mlp * v.side, v.patch);
            ensure(
                s.valid() && (size(&s).0 < size(&shape).0 || s.patch > shape.patch),
                || format!("`{step}` of {} gave {}", shape.encode(), s.encode()),
            )?;
        }
    }
    for bad in [
        "",
        "s64",
        "s64p8h2w4d2m32r9",
        "s64p7h2w4d2m32r5",
        "s64p8h2w4d2m32r5x",
    ] {
        ensure(RandomVit::decode(bad).is_err(), || {
            format!("`{bad}` was accepted")
        })?;
    }
    Ok(())
}

/// `prop-vit-wall` on 6 random walled transformers: HiResCAM and Saliency hold on every case,
/// GradCAM fails, its first failure shrinks to a local minimum that still fails, and the
/// counterexample's replay string reproduces its value to the bit.
fn prop_vit_wall() -> TestResult {
    use blindspot::check::property::vit_wall::{replay, PropVitWallCheck};
    use blindspot::check::property::{CaseId, PropertyFindings};
    use blindspot::model::random_vit::RandomVit;
    let check = PropVitWallCheck {
        cases: 6,
        max_shrink_steps: 16,
        regressions: None,
    };
    let seeds = blindspot::Seeds::new(0);
    let methods: Vec<Box<dyn blindspot::CamMethod>> = ["hirescam", "saliency", "gradcam"]
        .iter()
        .map(|n| method_named(n, &seeds))
        .collect::<Result<_, _>>()?;
    let results = check
        .run(&methods, &CheckContext::new(Device::Cpu, 0))?
        .results;
    let want = [Verdict::Pass, Verdict::Pass, Verdict::Fail];
    for (r, want) in results.iter().zip(want) {
        ensure(r.verdict == want, || {
            format!("{}: {} ({}), expected {want}", r.title, r.verdict, r.reason)
        })?;
    }
    let detail = &results[2]
        .findings
        .get::<PropertyFindings>()
        .ok_or("not a property result")?
        .detail;
    let c = detail.counterexample.as_ref().ok_or("no counterexample")?;
    let case = CaseId::parse(&c.case)?;
    let (leak, shape) = replay(&case, methods[2].as_ref(), Device::Cpu)?;
    ensure(
        shape == c.architecture && leak.tokens.to_bits() == c.value.to_bits(),
        || {
            format!(
                "replayed {shape} {:e}, the run {} {:e}",
                leak.tokens, c.architecture, c.value
            )
        },
    )?;
    for (step, candidate) in RandomVit::decode(&c.architecture)?.shrinks() {
        let probe = CaseId {
            arch: Some(candidate.encode()),
            ..case.clone()
        };
        let (leak, _) = replay(&probe, methods[2].as_ref(), Device::Cpu)?;
        ensure(!leak.fails(), || {
            format!(
                "`{step}` still fails ({:e}): not a local minimum",
                leak.tokens
            )
        })?;
    }
    Ok(())
}

/// ShapleyCAM on torchvision's ViT explained at its last block's norm1 (fixtures/vit-norm1, whose
/// head computes the attention by matrix products), where pytorch-grad-cam 1.5.7's own
/// ShapleyCAM fails on the reshaped shapes: w = mean over the grid of g − ½·Hv, with Hv the
/// derivative of the gradient along the LayerNorm's output z (the layer's second half, the
/// block input held), taken here by central differences in float64 arithmetic on float32
/// gradients, ε = 1e-3; the raw maps agree within 1e-3 of their largest magnitude.
fn shapley_norm1() -> TestResult {
    use crate::common::{fixture, load_npy};
    use blindspot::model::torchscript::TorchScriptModel;
    let model = TorchScriptModel::load(&fixture("vit-norm1/model.pt"), Device::Cpu)?;
    let x = load_npy(&fixture("vit-norm1/inputs.npy"));
    let method = method_named("shapleycam", &blindspot::Seeds::new(0))?;
    let e = explain(method.as_ref(), &model, &x, None)?;
    let layer = model.features(&x)?.detach();
    let width = layer.size()[2] / 2;
    let z_only = Tensor::cat(
        &[
            layer.narrow(2, 0, width).zeros_like(),
            layer.narrow(2, width, width),
        ],
        2,
    );
    let gradient_at = |t: f64| -> Result<Tensor, libtest_mimic::Failed> {
        let leaf = (&layer + &z_only * t).detach().set_requires_grad(true);
        let logits = model.head(&leaf)?;
        let score = logits
            .gather(1, &e.targets.unsqueeze(1), false)
            .sum(Kind::Float);
        Ok(Tensor::run_backward(&[score], &[&leaf], false, false).remove(0))
    };
    let eps = 1e-3;
    let hvp = (gradient_at(eps)?.to_kind(Kind::Double) - gradient_at(-eps)?.to_kind(Kind::Double))
        / (2.0 * eps);
    let g = gradient_at(0.0)?.to_kind(Kind::Double);
    let w = model
        .to_grid(&(g - hvp * 0.5))?
        .mean_dim([2i64, 3].as_slice(), false, Kind::Double);
    let a = model.to_grid(&layer)?.to_kind(Kind::Double);
    let want = (a * w.unsqueeze(2).unsqueeze(3)).sum_dim_intlist(1, false, Kind::Double);
    let scale = want.abs().max().double_value(&[]);
    ensure_close(
        "ShapleyCAM at norm1",
        &e.raw.to_kind(Kind::Double),
        &want,
        1e-3 * scale,
    )
}
