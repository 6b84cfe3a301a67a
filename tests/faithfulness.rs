//! The faithfulness checks (ROAD, deletion): the imputation against pytorch-grad-cam's and a
//! literal solve, the combined score against pytorch-grad-cam's `ROADCombined`, the pixel ranks
//! against a literal sort, and the deletion check deciding each way with its control.
use crate::common::{ensure, ensure_close, fixture, load_npy, to_vec, TestResult};
use blindspot::cam::method_named;
use blindspot::check::faithfulness::{
    combined, probabilities, ranks, removal_masks, DeletionCheck, Fill, RoadCheck, FRACTIONS,
};
use blindspot::check::{Check, CheckContext, Subject, Verdict};
use blindspot::data::impute::{impute, impute_literal};
use blindspot::data::DataSpec;
use blindspot::model::init::Init;
use blindspot::seed::Stream;
use libtest_mimic::Trial;
use tch::{Device, Kind, Tensor};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "faithfulness::imputation_equals_pytorch_grad_cams",
            imputation_parity,
        ),
        Trial::test(
            "faithfulness::imputation_equals_a_literal_solve",
            imputation_literal,
        ),
        Trial::test(
            "faithfulness::road_score_equals_pytorch_grad_cams",
            road_score_parity,
        ),
        Trial::test("faithfulness::ranks_equal_a_literal_sort", ranks_literal),
        crate::common::slow(
            "faithfulness::deletion_says_pass_fail_and_inconclusive",
            deletion_three_ways,
        ),
        Trial::test(
            "faithfulness::parameters_are_refused_out_of_range",
            parameters_refused,
        ),
    ]
}

/// The thresholds (the combined score lies in [-0.5, 0.5]), ROAD's noise and deletion's fill
/// are refused out of range, with the parameter named; the defaults pass.
fn parameters_refused() -> TestResult {
    let road = RoadCheck::default();
    let deletion = DeletionCheck::default();
    let cases = [
        (
            RoadCheck {
                threshold: 0.6,
                ..road.clone()
            }
            .validate(),
            "threshold = 0.6",
        ),
        (
            RoadCheck {
                threshold: -0.1,
                ..road.clone()
            }
            .validate(),
            "threshold",
        ),
        (
            RoadCheck {
                noise: f64::NAN,
                ..road.clone()
            }
            .validate(),
            "noise",
        ),
        (
            RoadCheck {
                noise: -1.0,
                ..road.clone()
            }
            .validate(),
            "noise",
        ),
        (
            DeletionCheck {
                fill: f64::INFINITY,
                ..deletion.clone()
            }
            .validate(),
            "fill",
        ),
        (
            DeletionCheck {
                threshold: 1.0,
                ..deletion.clone()
            }
            .validate(),
            "threshold",
        ),
    ];
    for (i, (result, says)) in cases.into_iter().enumerate() {
        let message = result.err().unwrap_or_default();
        ensure(message.contains(says), || format!("case {i}: {message:?}"))?;
    }
    ensure(
        road.validate().is_ok() && deletion.validate().is_ok(),
        || "the defaults are refused".to_string(),
    )
}

/// The plain fixture model, its inputs and the fixture's tie-free random maps.
fn plain() -> Result<(Box<dyn blindspot::SplitModel>, Tensor, Tensor), blindspot::Error> {
    let path = fixture("plain/model.pt");
    let model = blindspot::open_model(
        path.to_str().unwrap_or(""),
        Device::Cpu,
        &Default::default(),
    )?;
    let x = load_npy(&fixture("plain/inputs.npy"));
    let maps = load_npy(&fixture("road/maps.npy"));
    Ok((model, x, maps))
}

/// MoRF at fraction 0.7 (pytorch-grad-cam's percentile 30) imputed with the noise off: the
/// same images as pytorch-grad-cam's NoisyLinearImputer (scipy's direct sparse solve).
fn imputation_parity() -> TestResult {
    let (_, x, maps) = plain()?;
    let (h, w) = (x.size()[2], x.size()[3]);
    let masks = removal_masks(&ranks(&maps, Stream::from_seed(0), 0), h, w);
    let at = FRACTIONS
        .iter()
        .position(|f| (f - 0.7).abs() < 1e-9)
        .ok_or("no 0.7")? as i64;
    let removed = masks.select(1, at);
    let got = impute(&x, &removed, None);
    ensure_close(
        "imputed",
        &got,
        &load_npy(&fixture("road/imputed-morf-30.npy")),
        1e-5,
    )
}

/// The batched conjugate gradients against Gauss-Seidel sweeps over each removed pixel's
/// equation, on a 3-channel 12 x 10 image with 70% of its pixels removed, and at the corner case
/// of one pixel kept.
fn imputation_literal() -> TestResult {
    let (c, h, w) = (3usize, 12usize, 10usize);
    let x = Tensor::randn(
        [1, c as i64, h as i64, w as i64],
        (Kind::Double, Device::Cpu),
    );
    let generator = Tensor::rand([1, h as i64, w as i64], (Kind::Double, Device::Cpu));
    for removed in [generator.lt(0.7), generator.ne_tensor(&generator.max())] {
        // Within what the iteration's stopping rule (a residual of 1e-7) allows.
        let got = impute(&x, &removed, None);
        let mask: Vec<bool> = to_vec(&removed).iter().map(|&v| v > 0.5).collect();
        let values = to_vec(&x);
        let mut want = Vec::new();
        for channel in values.chunks(h * w) {
            want.extend(impute_literal(channel, &mask, h, w));
        }
        let want = Tensor::from_slice(&want).view([1, c as i64, h as i64, w as i64]);
        ensure_close("imputed", &got, &want, 1e-6)?;
    }
    Ok(())
}

/// The combined score of each image's predicted class with the noise off: pytorch-grad-cam's
/// `ROADCombined` over percentiles 10..90 on the same maps.
fn road_score_parity() -> TestResult {
    let (model, x, maps) = plain()?;
    let targets = model.forward(&x)?.argmax(1, false);
    let seeds = (Stream::from_seed(0), Stream::from_seed(1));
    let p = probabilities(
        model.as_ref(),
        &x,
        &maps,
        &targets,
        Fill::Imputed(0.0),
        seeds,
        0,
        32,
    )?;
    let want = load_npy(&fixture("road/combined.npy"));
    ensure_close("combined", &combined(&p), &want, 1e-6)
}

/// Ranks against a literal sort: descending values, ties in the order of the seeded permutation
/// (a map with ties: values rounded to quarters).
fn ranks_literal() -> TestResult {
    use rand::seq::SliceRandom;
    let maps = Init::new(9, Device::Cpu).uniform(&[2, 6, 5], 2.0).round() / 4.0;
    let stream = Stream::from_seed(3);
    let got = to_vec(&ranks(&maps, stream, 5));
    let values = to_vec(&maps);
    for i in 0..2 {
        let mut order: Vec<usize> = (0..30).collect();
        order.shuffle(&mut stream.at(5 + i as u64).rng());
        let position: Vec<usize> = {
            let mut p = vec![0; 30];
            order
                .iter()
                .enumerate()
                .for_each(|(j, &pixel)| p[pixel] = j);
            p
        };
        let mut pixels: Vec<usize> = (0..30).collect();
        pixels.sort_by(|&a, &b| {
            values[i * 30 + b]
                .partial_cmp(&values[i * 30 + a])
                .expect("finite")
                .then(position[a].cmp(&position[b]))
        });
        for (rank, &pixel) in pixels.iter().enumerate() {
            ensure(got[i * 30 + pixel] == rank as f64, || {
                format!(
                    "image {i} pixel {pixel}: rank {} against {rank}",
                    got[i * 30 + pixel]
                )
            })?;
        }
    }
    Ok(())
}

/// Deletion decides each way on the trained stack model (128 images, one look, where the
/// symmetric random map fails, so the check separates): GradCAM's most relevant pixels matter
/// more than its least relevant (pass); the constant map removes random pixels either way
/// (fail); RandomCAM is sometimes right and sometimes not (inconclusive).
fn deletion_three_ways() -> TestResult {
    let data = DataSpec::Synthetic {
        synthetic: 128,
        seed: Some(0),
        size: 64,
    };
    let check = DeletionCheck {
        subject: Subject {
            looks: 1,
            ..Subject::new("builtin:stack-masked", data)
        },
        ..Default::default()
    };
    let named = |n: &str| method_named(n, &blindspot::Seeds::new(0));
    let methods: Vec<Box<dyn blindspot::CamMethod>> = vec![
        named("gradcam")?,
        Box::new(blindspot::cam::constant::ConstantMap),
        named("randomcam")?,
    ];
    let results = check
        .run(&methods, &CheckContext::new(Device::Cpu, 0))?
        .results;
    for (result, want) in results
        .iter()
        .zip([Verdict::Pass, Verdict::Fail, Verdict::Inconclusive])
    {
        ensure(result.verdict == want, || {
            format!(
                "{}: {} ({}), expected {want}",
                result.title, result.verdict, result.reason
            )
        })?;
    }
    Ok(())
}
