//! Slow, literal references (zennit style): every method written straight from its formula, per
//! image and per channel, with plain loops over f64 values, and the gradients taken one image at
//! a time. The fast batched implementation must match on random inputs and random weights.
// The references index their loops as the formulas do (i, j over rows and columns), on purpose.
#![allow(clippy::needless_range_loop)]
use crate::common::{ensure, ensure_close, fixture, to_vec, TestResult};
use blindspot::cam::{
    explain, explain_all, explain_batched, method_named, opticam::OptiCam, CamMethod,
};
use blindspot::model::init::Init;
use blindspot::model::rcnn::{Rcnn, RcnnConfig, RcnnDraws};
use blindspot::model::torchscript::TorchScriptModel;
use blindspot::model::vgg::{Vgg, VggConfig};
use blindspot::seed::{streams, Seeds, Stream};
use blindspot::SplitModel;
use libtest_mimic::Trial;
use tch::{Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

/// A feature map as nested vectors: [V][h][w].
type Maps = Vec<Vec<Vec<f64>>>;

fn maps_of(t: &Tensor) -> Maps {
    let (v, h, w) = t.size3().expect("[V, h, w]");
    let flat = to_vec(t);
    (0..v as usize)
        .map(|k| {
            (0..h as usize)
                .map(|i| {
                    (0..w as usize)
                        .map(|j| flat[(k * h as usize + i) * w as usize + j])
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn grid(h: usize, w: usize) -> Vec<Vec<f64>> {
    vec![vec![0.0; w]; h]
}

/// The small masked rCNN of the references: 3 input channels, 12 filters of 3×3, 16×22 input.
fn small_rcnn() -> RcnnConfig {
    RcnnConfig {
        in_channels: 3,
        filters: 12,
        kernel: 3,
        height: 16,
        width: 22,
        classes: 4,
        tau: 1.0,
        masked: true,
        wall_rows: None,
    }
}

/// The models the references run on: random weights, random inputs.
fn subjects() -> Vec<(&'static str, Box<dyn Fn() -> (Box<dyn SplitModel>, Tensor)>)> {
    vec![
        (
            "rcnn",
            Box::new(|| {
                let config = small_rcnn();
                let x = Init::new(7, Device::Cpu).normal(&[3, 3, 16, 22], 1.0);
                (
                    Box::new(Rcnn::new(config, 11, Device::Cpu)) as Box<dyn SplitModel>,
                    x,
                )
            }),
        ),
        (
            "resnet",
            Box::new(|| {
                let model = TorchScriptModel::load(&fixture("resnet/model.pt"), Device::Cpu)
                    .expect("fixture loads");
                let x = Init::new(8, Device::Cpu).normal(&[3, 3, 37, 29], 1.0);
                (Box::new(model) as Box<dyn SplitModel>, x)
            }),
        ),
    ]
}

pub fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    for (subject, _) in subjects() {
        for method in crate::common::all_methods() {
            trials.push(Trial::test(
                format!("reference::{subject}::{method}"),
                move || {
                    let (_, build) = subjects()
                        .into_iter()
                        .find(|(s, _)| *s == subject)
                        .expect("subject");
                    let (model, x) = build();
                    compare(&method, model.as_ref(), &x)
                },
            ));
        }
    }
    for method in blindspot::builtin_methods(&Seeds::new(0)) {
        if method.has_channel_maps() {
            let name = method.name().to_string();
            trials.push(Trial::test(
                format!("reference::rcnn::{name}-eigen-smooth"),
                move || eigen_smooth_reference(&name),
            ));
        }
    }
    let single: [(&str, fn() -> TestResult); 17] = [
        (
            "reference::shapleycam::hessian_vector_product_is_the_finite_difference",
            shapley_hvp,
        ),
        (
            "reference::guided::steps_without_the_guided_rule_are_the_input_gradient",
            steps_are_the_model,
        ),
        (
            "reference::fullgrad::small_vgg_with_batchnorm",
            fullgrad_small_vgg,
        ),
        (
            "reference::kpca::largest_eigenvalue_not_largest_magnitude",
            kpca_known_spectra,
        ),
        (
            "reference::integrated_gradients::gauss_legendre_is_exact_to_degree_2s_minus_1",
            gauss_legendre_exact,
        ),
        (
            "reference::memo::head_only_draw_replays_features_exactly",
            memo_replays_exactly,
        ),
        (
            "reference::pipeline::finiteness_is_exact_when_a_sum_overflows",
            finiteness_exact,
        ),
        (
            "reference::torchscript::channels_last_features_within_1e-5",
            channels_last_within_tolerance,
        ),
        ("reference::opticam::float64_small_vgg", opticam_float64),
        (
            "reference::pipeline::shared_forward_is_each_method_alone",
            shared_forward,
        ),
        ("reference::eigencam::sign_convention", sign_convention),
        (
            "reference::eigencam::small_vgg_subspace_iteration",
            eigen_small_vgg,
        ),
        (
            "reference::eigencam::hard_spectra_fall_back_to_eigh",
            eigen_hard_spectra,
        ),
        (
            "reference::scorecam::out_of_memory_halves_the_chunk",
            scorecam_out_of_memory,
        ),
        (
            "reference::rcnn_dead_channels::scorecam",
            scorecam_dead_channels,
        ),
        (
            "reference::rcnn_draws::parallel_sampling_is_the_serial_stream",
            rcnn_draws_parallel_sampling,
        ),
        (
            "reference::rcnn_draws::matches_separate_models",
            rcnn_draws_match_separate_models,
        ),
    ];
    for (name, test) in single {
        trials.push(Trial::test(name, test));
    }
    trials
}

/// Per-image activations, gradient of that image's own target logit, logits.
struct PerImage {
    a: Maps,
    g: Maps,
    a_tensor: Tensor,
    target: i64,
    score: f64,
}

fn per_image(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Vec<PerImage> {
    (0..x.size()[0])
        .map(|n| {
            let xi = x.narrow(0, n, 1);
            let a = model.features(&xi).unwrap().detach();
            let leaf = a.detach().set_requires_grad(true);
            let target = targets.int64_value(&[n]);
            let logit = model.head(&leaf).unwrap().get(0).get(target);
            let g = Tensor::run_backward(&[&logit], &[&leaf], false, false).remove(0);
            PerImage {
                a: maps_of(&a.get(0)),
                g: maps_of(&g.get(0)),
                a_tensor: a,
                target,
                score: logit.double_value(&[]),
            }
        })
        .collect()
}

fn weighted(weights: &[f64], a: &Maps) -> Vec<Vec<f64>> {
    let (h, w) = (a[0].len(), a[0][0].len());
    let mut cam = grid(h, w);
    for (k, wk) in weights.iter().enumerate() {
        for i in 0..h {
            for j in 0..w {
                cam[i][j] += wk * a[k][i][j];
            }
        }
    }
    cam
}

fn elementwise(a: &Maps, g: &Maps, f: impl Fn(f64, f64) -> f64) -> Vec<Vec<f64>> {
    let (h, w) = (a[0].len(), a[0][0].len());
    let mut cam = grid(h, w);
    for k in 0..a.len() {
        for i in 0..h {
            for j in 0..w {
                cam[i][j] += f(g[k][i][j], a[k][i][j]);
            }
        }
    }
    cam
}

fn channel_sum(m: &[Vec<f64>]) -> f64 {
    m.iter().flatten().sum()
}

/// Bilinear sampling position of output index `o` for `n_in` → `n_out`.
fn source(o: usize, n_in: usize, n_out: usize, align_corners: bool) -> (usize, usize, f64) {
    let s = if align_corners {
        if n_out > 1 {
            o as f64 * (n_in as f64 - 1.0) / (n_out as f64 - 1.0)
        } else {
            0.0
        }
    } else {
        ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0)
    };
    let i0 = (s.floor() as usize).min(n_in - 1);
    let i1 = (i0 + 1).min(n_in - 1);
    (i0, i1, s - i0 as f64)
}

fn bilinear(m: &[Vec<f64>], h_out: usize, w_out: usize, align_corners: bool) -> Vec<Vec<f64>> {
    let (h, w) = (m.len(), m[0].len());
    let mut out = grid(h_out, w_out);
    for (y, row) in out.iter_mut().enumerate() {
        let (y0, y1, ly) = source(y, h, h_out, align_corners);
        for (x, v) in row.iter_mut().enumerate() {
            let (x0, x1, lx) = source(x, w, w_out, align_corners);
            *v = (1.0 - ly) * ((1.0 - lx) * m[y0][x0] + lx * m[y0][x1])
                + ly * ((1.0 - lx) * m[y1][x0] + lx * m[y1][x1]);
        }
    }
    out
}

fn min_max(m: &[Vec<f64>], eps: f64) -> Vec<Vec<f64>> {
    let lo = m.iter().flatten().cloned().fold(f64::INFINITY, f64::min);
    let shifted: Vec<Vec<f64>> = m
        .iter()
        .map(|r| r.iter().map(|v| v - lo).collect())
        .collect();
    let hi = shifted
        .iter()
        .flatten()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    shifted
        .iter()
        .map(|r| r.iter().map(|v| v / (hi + eps)).collect())
        .collect()
}

fn relu(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    m.iter()
        .map(|r| r.iter().map(|v| v.max(0.0)).collect())
        .collect()
}

/// pytorch-grad-cam's post-processing, literally; a signed input-level map (`magnitude`) is read
/// by its absolute value first.
fn post(raw: &[Vec<f64>], magnitude: bool, h: usize, w: usize) -> Vec<Vec<f64>> {
    let read: Vec<Vec<f64>> = match magnitude {
        true => raw
            .iter()
            .map(|r| r.iter().map(|v| v.abs()).collect())
            .collect(),
        false => relu(raw),
    };
    let scaled = min_max(&read, 1e-7);
    let resized = if scaled.len() == h && scaled[0].len() == w {
        scaled
    } else {
        bilinear(&scaled, h, w, false)
    };
    min_max(&relu(&resized), 1e-7)
}

fn to_tensor(maps: &[Vec<Vec<f64>>]) -> Tensor {
    let (n, h, w) = (
        maps.len() as i64,
        maps[0].len() as i64,
        maps[0][0].len() as i64,
    );
    let flat: Vec<f64> = maps.iter().flatten().flatten().cloned().collect();
    Tensor::from_slice(&flat)
        .view([n, h, w])
        .to_kind(Kind::Float)
}

/// First right singular vector of a centred (hw × V) matrix by power iteration on MᵀM, with
/// blindspot's sign (Σ v ≥ 0); returns the projection M v reshaped to h × w.
fn principal_projection(m: &Maps) -> Vec<Vec<f64>> {
    let (v, h, w) = (m.len(), m[0].len(), m[0][0].len());
    let mut rows: Vec<Vec<f64>> = (0..h * w)
        .map(|p| (0..v).map(|k| m[k][p / w][p % w]).collect())
        .collect();
    for k in 0..v {
        let mean = rows.iter().map(|r| r[k]).sum::<f64>() / (h * w) as f64;
        rows.iter_mut().for_each(|r| r[k] -= mean);
    }
    let mut gram = vec![vec![0.0; v]; v];
    for r in &rows {
        for a in 0..v {
            for b in 0..v {
                gram[a][b] += r[a] * r[b];
            }
        }
    }
    let mut vec1 = vec![1.0; v];
    for _ in 0..5000 {
        let next: Vec<f64> = (0..v)
            .map(|a| (0..v).map(|b| gram[a][b] * vec1[b]).sum())
            .collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        vec1 = next.iter().map(|x| x / norm).collect();
    }
    if vec1.iter().sum::<f64>() < 0.0 {
        vec1.iter_mut().for_each(|x| *x = -*x);
    }
    (0..h)
        .map(|i| {
            (0..w)
                .map(|j| (0..v).map(|k| rows[i * w + j][k] * vec1[k]).sum())
                .collect()
        })
        .collect()
}

/// All eigenpairs of a symmetric matrix by the cyclic Jacobi method (rotations until every
/// off-diagonal entry is below 1e-15 of the matrix's norm): eigenvalues and the eigenvectors as
/// columns, unsorted.
fn jacobi_eigen(matrix: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = matrix.len();
    let mut a = matrix.to_vec();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let norm = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    for _ in 0..100 {
        let off = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k][p], v[k][q]);
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

/// KPCA-CAM's projection, literally: the centred pixels' sigmoid kernel tanh(⟨r_p, r_q⟩/V + 1),
/// centred twice, its eigenvector of the largest eigenvalue λ by Jacobi rotations, signed as
/// scikit-learn signs it (its largest-magnitude entry positive), times √max(λ, 0).
fn kernel_principal_projection(m: &Maps) -> Vec<Vec<f64>> {
    let (v, h, w) = (m.len(), m[0].len(), m[0][0].len());
    let n = h * w;
    let mut rows: Vec<Vec<f64>> = (0..n)
        .map(|p| (0..v).map(|k| m[k][p / w][p % w]).collect())
        .collect();
    for k in 0..v {
        let mean = rows.iter().map(|r| r[k]).sum::<f64>() / n as f64;
        rows.iter_mut().for_each(|r| r[k] -= mean);
    }
    let kernel: Vec<Vec<f64>> = (0..n)
        .map(|p| {
            (0..n)
                .map(|q| {
                    let dot: f64 = (0..v).map(|k| rows[p][k] * rows[q][k]).sum();
                    (dot / v as f64 + 1.0).tanh()
                })
                .collect()
        })
        .collect();
    let row_mean: Vec<f64> = kernel
        .iter()
        .map(|r| r.iter().sum::<f64>() / n as f64)
        .collect();
    let all_mean = row_mean.iter().sum::<f64>() / n as f64;
    let centred: Vec<Vec<f64>> = (0..n)
        .map(|p| {
            (0..n)
                .map(|q| kernel[p][q] - row_mean[p] - row_mean[q] + all_mean)
                .collect()
        })
        .collect();
    let (values, vectors) = jacobi_eigen(&centred);
    let top = (0..n)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .expect("a pixel");
    let u: Vec<f64> = (0..n).map(|p| vectors[p][top]).collect();
    let largest = (0..n).fold(
        0,
        |best, p| if u[p].abs() > u[best].abs() { p } else { best },
    );
    let scale = u[largest].signum() * values[top].max(0.0).sqrt();
    (0..h)
        .map(|i| (0..w).map(|j| u[i * w + j] * scale).collect())
        .collect()
}

/// One step of a split model's computation.
fn apply(step: &blindspot::model::Step, h: &Tensor) -> Tensor {
    match step.function() {
        Some(f) => f(h),
        None => h.relu(),
    }
}

/// FullGrad of image `n`, literally: ψ(|x_c · ∂y/∂x_c|) per input channel, then for every layer
/// with biases one backward from the target logit to that layer's output alone, and ψ(|b_c ·
/// g_c|) per bias and channel (ψ: min–max with 1e-7, bilinear resize to the input), all summed.
fn literal_fullgrad(model: &dyn SplitModel, x: &Tensor, n: i64, target: i64) -> Vec<Vec<f64>> {
    let steps = model
        .steps()
        .expect("FullGrad's subjects expose their steps");
    let all: Vec<&blindspot::model::Step> = steps.features.iter().chain(&steps.head).collect();
    let xi = x.narrow(0, n, 1);
    let pixels = maps_of(&xi.get(0));
    let (height, width) = (pixels[0].len(), pixels[0][0].len());
    let mut total = grid(height, width);
    let mut add = |m: &[Vec<f64>]| {
        let scaled = bilinear(&min_max(m, 1e-7), height, width, false);
        for i in 0..height {
            for j in 0..width {
                total[i][j] += scaled[i][j];
            }
        }
    };
    let g = input_grad(model, &xi, target);
    for k in 0..pixels.len() {
        let term: Vec<Vec<f64>> = (0..height)
            .map(|i| {
                (0..width)
                    .map(|j| (pixels[k][i][j] * g[k][i][j]).abs())
                    .collect()
            })
            .collect();
        add(&term);
    }
    for (l, step) in all.iter().enumerate() {
        let blindspot::model::Step::Biased(_, biases) = step else {
            continue;
        };
        let mut h = xi.shallow_clone();
        for s in &all[..=l] {
            h = apply(s, &h);
        }
        let leaf = h.detach().set_requires_grad(true);
        let mut rest = leaf.shallow_clone();
        for s in &all[l + 1..] {
            rest = apply(s, &rest);
        }
        let logit = rest.get(0).get(target);
        let g = maps_of(&Tensor::run_backward(&[&logit], &[&leaf], false, false)[0].get(0));
        for bias in biases {
            let b = to_vec(bias);
            for (k, gk) in g.iter().enumerate() {
                let term: Vec<Vec<f64>> = gk
                    .iter()
                    .map(|row| row.iter().map(|gij| (b[k] * gij).abs()).collect())
                    .collect();
                add(&term);
            }
        }
    }
    total
}

/// Target-class score of the model on one image.
fn score_of(model: &dyn SplitModel, x: &Tensor, target: i64) -> f64 {
    tch::no_grad(|| model.forward(x).unwrap().get(0).double_value(&[target]))
}

/// The literal raw map of `method` for image `n`.
fn literal_raw(
    method: &str,
    model: &dyn SplitModel,
    x: &Tensor,
    n: i64,
    p: &PerImage,
    random_weights: &[f64],
) -> Vec<Vec<f64>> {
    let (a, g) = (&p.a, &p.g);
    let (v, h, w) = (a.len(), a[0].len(), a[0][0].len());
    let hw = (h * w) as f64;
    match method {
        "gradcam" => weighted(
            &g.iter().map(|gk| channel_sum(gk) / hw).collect::<Vec<_>>(),
            a,
        ),
        "hirescam" => elementwise(a, g, |g, a| g * a),
        "gradcam-elementwise" => elementwise(a, g, |g, a| (g * a).max(0.0)),
        "layercam" => elementwise(a, g, |g, a| g.max(0.0) * a),
        "gradcam++" => {
            let weights: Vec<f64> = (0..v)
                .map(|k| {
                    let s = channel_sum(&a[k]);
                    let mut wk = 0.0;
                    for i in 0..h {
                        for j in 0..w {
                            let gij = g[k][i][j];
                            let alpha = if gij != 0.0 {
                                gij * gij / (2.0 * gij * gij + s * gij.powi(3) + 1e-6)
                            } else {
                                0.0
                            };
                            wk += alpha * gij.max(0.0);
                        }
                    }
                    wk
                })
                .collect();
            weighted(&weights, a)
        }
        "xgradcam" => {
            let weights: Vec<f64> = (0..v)
                .map(|k| {
                    let s = channel_sum(&a[k]);
                    (0..h)
                        .flat_map(|i| (0..w).map(move |j| (i, j)))
                        .map(|(i, j)| g[k][i][j] * a[k][i][j] / (s + 1e-7))
                        .sum()
                })
                .collect();
            weighted(&weights, a)
        }
        "scorecam" => {
            let (height, width) = (x.size()[2] as usize, x.size()[3] as usize);
            let xi = x.narrow(0, n, 1);
            let scores: Vec<f64> = (0..v)
                .map(|k| {
                    let up = bilinear(&a[k], height, width, true);
                    let lo = up.iter().flatten().cloned().fold(f64::INFINITY, f64::min);
                    let hi = up
                        .iter()
                        .flatten()
                        .cloned()
                        .fold(f64::NEG_INFINITY, f64::max);
                    let mask: Vec<f64> = up
                        .iter()
                        .flatten()
                        .map(|u| (u - lo) / (hi - lo + 1e-8))
                        .collect();
                    let mask = Tensor::from_slice(&mask)
                        .view([1, 1, height as i64, width as i64])
                        .to_kind(Kind::Float);
                    score_of(model, &(&xi * mask), p.target)
                })
                .collect();
            let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = scores.iter().map(|s| (s - top).exp()).sum();
            weighted(
                &scores
                    .iter()
                    .map(|s| (s - top).exp() / z)
                    .collect::<Vec<_>>(),
                a,
            )
        }
        "ablationcam" => {
            let minimum = a
                .iter()
                .flatten()
                .flatten()
                .cloned()
                .fold(f64::INFINITY, f64::min);
            let value = if minimum == 0.0 { 0.0 } else { minimum - 1e7 };
            let weights: Vec<f64> = (0..v as i64)
                .map(|k| {
                    let ablated = p.a_tensor.copy();
                    let _ = ablated.get(0).get(k).fill_(value);
                    let yk = tch::no_grad(|| {
                        model
                            .head(&ablated)
                            .unwrap()
                            .get(0)
                            .double_value(&[p.target])
                    });
                    (p.score - yk) / p.score
                })
                .collect();
            weighted(&weights, a)
        }
        "eigencam" => principal_projection(a),
        "shapleycam" => {
            // Hv by central differences of the image's own gradient along A: g at A(1 ± ε).
            let eps = 1e-3;
            let gradient_at = |scale: f64| {
                let leaf = (&p.a_tensor * scale).detach().set_requires_grad(true);
                let logit = model.head(&leaf).unwrap().get(0).get(p.target);
                maps_of(&Tensor::run_backward(&[&logit], &[&leaf], false, false)[0].get(0))
            };
            let (up, down) = (gradient_at(1.0 + eps), gradient_at(1.0 - eps));
            let weights: Vec<f64> = (0..v)
                .map(|k| {
                    let mut sum = 0.0;
                    for i in 0..h {
                        for j in 0..w {
                            let hv = (up[k][i][j] - down[k][i][j]) / (2.0 * eps);
                            sum += g[k][i][j] - 0.5 * hv;
                        }
                    }
                    sum / hw
                })
                .collect();
            weighted(&weights, a)
        }
        "finercam" => {
            // The three classes whose logits are closest to the target's, p = softmax(y),
            // s = Σ_j p_j (y_c − y_j) / (Σ_j p_j + 1e-9); GradCAM of s, one image at a time.
            let leaf = p.a_tensor.detach().set_requires_grad(true);
            let logits = model.head(&leaf).unwrap().get(0);
            let values = to_vec(&logits);
            let yc = values[p.target as usize];
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&i, &j| (values[i] - yc).abs().total_cmp(&(values[j] - yc).abs()));
            let compared: Vec<i64> = order[1..values.len().min(4)]
                .iter()
                .map(|&j| j as i64)
                .collect();
            let probabilities = logits.softmax(0, Kind::Float);
            let (mut numerator, mut denominator) =
                (logits.get(p.target) * 0.0, logits.get(0) * 0.0);
            for &j in &compared {
                let pj = probabilities.get(j);
                numerator += &pj * (logits.get(p.target) - logits.get(j));
                denominator += pj;
            }
            let score = numerator / (denominator + 1e-9);
            let g = maps_of(&Tensor::run_backward(&[&score], &[&leaf], false, false)[0].get(0));
            weighted(
                &g.iter().map(|gk| channel_sum(gk) / hw).collect::<Vec<_>>(),
                a,
            )
        }
        "fem" => {
            // th_k = mean + 2 · population std of channel k; w_k = share of positions above.
            let weights: Vec<f64> = a
                .iter()
                .map(|ak| {
                    let values: Vec<f64> = ak.iter().flatten().cloned().collect();
                    let count = values.len() as f64;
                    let mean = values.iter().sum::<f64>() / count;
                    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / count;
                    let th = mean + 2.0 * var.sqrt();
                    values.iter().filter(|&&x| x > th).count() as f64 / count
                })
                .collect();
            weighted(&weights, a)
        }
        "eigengradcam" => {
            let ga: Maps = (0..v)
                .map(|k| {
                    (0..h)
                        .map(|i| (0..w).map(|j| g[k][i][j] * a[k][i][j]).collect())
                        .collect()
                })
                .collect();
            principal_projection(&ga)
        }
        "segeigencam" => {
            // |g| ⊙ A's projection, negated when |min| > |max| (Eq. 13 of the paper).
            let ga: Maps = (0..v)
                .map(|k| {
                    (0..h)
                        .map(|i| (0..w).map(|j| g[k][i][j].abs() * a[k][i][j]).collect())
                        .collect()
                })
                .collect();
            let p = principal_projection(&ga);
            let values = p.iter().flatten();
            let lo = values.clone().cloned().fold(f64::INFINITY, f64::min);
            let hi = values.cloned().fold(f64::NEG_INFINITY, f64::max);
            match lo.abs() > hi.abs() {
                true => p.iter().map(|r| r.iter().map(|x| -x).collect()).collect(),
                false => p,
            }
        }
        "randomcam" => weighted(&random_weights[n as usize * v..(n as usize + 1) * v], a),
        "sobel" => literal_sobel(&x.get(n)),
        "opticam" => literal_opticam(model, &x.narrow(0, n, 1), p),
        "saliency" | "input-x-gradient" | "integrated-gradients" | "smoothgrad" | "occlusion" => {
            literal_attribution(method, model, x, n, p.target)
        }
        "guided-backprop" | "guided-gradcam" => literal_guided(method, model, x, n, p),
        "fullgrad" => literal_fullgrad(model, x, n, p.target),
        "kpca-cam" => kernel_principal_projection(a),
        other => panic!(
            "the built-in method {other} has no literal reference: every method of \
             blindspot::builtin_methods needs its slow formula in literal_raw"
        ),
    }
}

/// The S-point Gauss–Legendre rule integrates every polynomial of degree up to 2S − 1 exactly:
/// Σ_k u_k t_k^d = ∫_{−1}^{1} t^d dt = 2/(d + 1) for even d, 0 for odd d (the closed form); the
/// two-point rule is ±1/√3 with weights 1; nodes ascending in (−1, 1), weights positive.
fn gauss_legendre_exact() -> TestResult {
    use blindspot::cam::attribution::integrated_gradients::gauss_legendre;
    let two = gauss_legendre(2);
    let third = 1.0 / 3f64.sqrt();
    ensure(
        (two[0].0 + third).abs() < 1e-15
            && (two[1].0 - third).abs() < 1e-15
            && (two[0].1 - 1.0).abs() < 1e-15
            && (two[1].1 - 1.0).abs() < 1e-15,
        || format!("the two-point rule is {two:?}"),
    )?;
    for s in [1usize, 2, 3, 7, 20, 50, 64] {
        let rule = gauss_legendre(s);
        ensure(rule.len() == s, || {
            format!("{s} points asked, {} given", rule.len())
        })?;
        ensure(
            rule.windows(2).all(|p| p[0].0 < p[1].0)
                && rule.iter().all(|&(t, u)| t.abs() < 1.0 && u > 0.0),
            || format!("the {s}-point rule is not ascending inside (-1, 1) with positive weights"),
        )?;
        for degree in 0..2 * s as i32 {
            let sum: f64 = rule.iter().map(|&(t, u)| u * t.powi(degree)).sum();
            let exact = if degree % 2 == 0 {
                2.0 / (degree as f64 + 1.0)
            } else {
                0.0
            };
            ensure((sum - exact).abs() < 1e-13, || {
                format!("{s} points, degree {degree}: {sum} against {exact}")
            })?;
        }
    }
    Ok(())
}

/// A model's steps compose to the model: with each ReLU's own derivative in place of the guided
/// rule, the gradient through the steps is autograd's input gradient of `forward` (within 1e-5
/// of its largest value; the same maps in a different graph), for every kind of model that has
/// steps — the small VGG plain, walled, shifted and remembered, the rCNN, and random property
/// networks (leaky ReLU, GELU, average pooling, BatchNorm-style scales inside the maps).
fn steps_are_the_model() -> TestResult {
    use blindspot::cam::attribution::{gradients, guided::step_gradients};
    use blindspot::model::{memo::FeatureMemo, random::RandomArch, random::RandomNet};
    use blindspot::model::{shift::Shifted, wall::Walled};
    let vgg = Vgg::new(VggConfig::small(5, None), "small-vgg", 3, Device::Cpu);
    let inner = Box::new(Vgg::new(VggConfig::small(5, None), "w", 4, Device::Cpu));
    let walled = Walled::new(inner, blindspot::model::wall::RowRange::parse("5..7")?);
    let shifted = Shifted::new(&vgg, 0.7);
    let memo = FeatureMemo::new(&vgg, 1 << 30);
    let rcnn = Rcnn::new(small_rcnn(), 11, Device::Cpu);
    let mut models: Vec<(String, Box<dyn SplitModel + '_>)> = vec![
        (
            "vgg".into(),
            Box::new(Vgg::new(VggConfig::small(5, None), "v", 3, Device::Cpu)),
        ),
        ("walled".into(), Box::new(walled)),
        ("shifted".into(), Box::new(shifted)),
        ("memo".into(), Box::new(memo)),
        ("rcnn".into(), Box::new(rcnn)),
    ];
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let mut drawn = 0;
    while drawn < 6 {
        let Some(arch) = RandomArch::draw(&mut rng, 1.0) else {
            continue;
        };
        let net = RandomNet::new(arch.clone(), Stream::from_seed(drawn), Device::Cpu)?;
        models.push((arch.encode(), Box::new(net)));
        drawn += 1;
    }
    for (name, model) in &models {
        let (c, (h, w)) = (
            model.input_channels().unwrap_or(3),
            model.input_size().unwrap_or((64, 64)),
        );
        let x = Init::new(9, Device::Cpu).normal(&[3, c, h, w], 1.0);
        let k = tch::no_grad(|| model.forward(&x))?.size()[1];
        let targets = Tensor::from_slice(&[0i64, 1 % k, 2 % k]);
        biases_are_the_layers(name, model.as_ref(), &x)?;
        let through = step_gradients(model.as_ref(), &x, &targets, false)?;
        let autograd = gradients(model.as_ref(), &x, &targets)?;
        let scale = autograd.abs().max().double_value(&[]).max(1e-12);
        ensure_close(
            &format!("{name}: steps vs autograd"),
            &through,
            &autograd,
            1e-5 * scale,
        )?;
    }
    Ok(())
}

/// Every [`blindspot::model::Step::Biased`] step's biases add up to what the layer adds to a
/// zero input (its output at 0: a convolution of zeros is its bias, a BatchNorm adds β − μ·s),
/// so FullGrad reads the layer's own biases.
fn biases_are_the_layers(name: &str, model: &dyn SplitModel, x: &Tensor) -> TestResult {
    let steps = model.steps().ok_or("the subject exposes its steps")?;
    let mut h = x.shallow_clone();
    for step in steps.features.iter().chain(&steps.head) {
        if let blindspot::model::Step::Biased(f, biases) = step {
            let at_zero = f(&h.zeros_like());
            let sum = biases
                .iter()
                .fold(Tensor::zeros_like(&biases[0]), |acc, b| acc + b);
            let want = sum.view([1, -1, 1, 1]).expand_as(&at_zero);
            ensure_close(
                &format!("{name}: biases vs the layer at 0"),
                &at_zero,
                &want,
                1e-6,
            )?;
        }
        h = apply(step, &h);
    }
    Ok(())
}

/// `NAME-eigen-smooth` on the masked rCNN, per image: its channel maps add up to NAME's literal
/// raw map, and its raw map is the literal power-iteration projection of those channel maps
/// (sign fixed by Σ v ≥ 0 in both), within 1e-4 of the largest magnitude.
fn eigen_smooth_reference(name: &str) -> TestResult {
    let model = Rcnn::new(small_rcnn(), 11, Device::Cpu);
    let x = Init::new(7, Device::Cpu).normal(&[3, 3, 16, 22], 1.0);
    let k = tch::no_grad(|| model.forward(&x))?.size()[1];
    let targets = Tensor::from_slice(&[1i64, 2 % k, 0]);
    let base = method_named(name, &Seeds::new(0))?;
    let smooth = method_named(&format!("{name}-eigen-smooth"), &Seeds::new(0))?;
    ensure(smooth.sign_ambiguous(), || {
        "eigen_smooth is sign-ambiguous".into()
    })?;
    let forward = crate::common::Forward::of(&model, &x, &targets)?;
    let ctx = forward.context(&model, &x, &targets);
    let maps = base.channel_maps(&ctx)?.ok_or("no channel maps")?;
    let raw = smooth.raw_map(&ctx)?;
    let seed = Seeds::new(0).stream(streams::RANDOMCAM).seed();
    let v = forward.activations.size()[1];
    let random_weights = to_vec(&Init::new(seed, Device::Cpu).uniform(&[x.size()[0], v], 1.0));
    for (n, p) in per_image(&model, &x, &targets).iter().enumerate() {
        let n64 = n as i64;
        let literal = literal_raw(name, &model, &x, n64, p, &random_weights);
        let summed = maps
            .get(n64)
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        let want = to_tensor(&[literal]).squeeze_dim(0);
        let scale = want.abs().max().double_value(&[]).max(1e-12);
        ensure_close(
            &format!("{name} image {n}: Σ channel maps"),
            &summed,
            &want,
            1e-4 * scale,
        )?;
        let projection = to_tensor(&[principal_projection(&maps_of(&maps.get(n64)))]);
        let scale = projection.abs().max().double_value(&[]).max(1e-12);
        ensure_close(
            &format!("{name} image {n}: eigen_smooth projection"),
            &raw.get(n64),
            &projection.squeeze_dim(0),
            1e-4 * scale,
        )?;
    }
    Ok(())
}

/// FullGrad, fast against literal, on the guided fixture's small VGG (random weights and
/// BatchNorm statistics: every block's convolution and BatchNorm biases count).
fn fullgrad_small_vgg() -> TestResult {
    let mut model = Vgg::for_loading(VggConfig::small(6, None), "guided-fixture", Device::Cpu);
    model.load(&fixture("guided/weights.safetensors"))?;
    let x = crate::common::load_npy(&fixture("guided/inputs.npy")).narrow(0, 0, 2);
    compare("fullgrad", &model, &x)
}

/// KPCA-CAM's eigensolver on symmetric matrices of known spectrum, QΛQᵀ (Q orthogonal from a
/// QR of a seeded Gaussian matrix), of order 300 (above the `eigh` cut-off, so Lanczos runs):
/// the largest eigenvalue when the smallest is larger in magnitude, when the top eigenvalue is
/// repeated (any unit vector of its eigenspace is right), and on an all-zero matrix.
fn kpca_known_spectra() -> TestResult {
    use blindspot::cam::kpcacam::{centred_kernel, lanczos, top_algebraic_eigenpairs};
    let k = 300i64;
    let gaussian = Init::new(17, Device::Cpu)
        .normal(&[k, k], 1.0)
        .to_kind(Kind::Double);
    let q = Tensor::linalg_qr(&gaussian, "reduced").0;
    let spaced = Tensor::linspace(-5.0, 1.0, k, (Kind::Double, Device::Cpu));
    let repeated = spaced.copy();
    let _ = repeated.narrow(0, k - 2, 2).fill_(1.0);
    let spectra = [
        ("spaced", spaced),
        ("repeated top", repeated),
        ("zero", Tensor::zeros([k], (Kind::Double, Device::Cpu))),
    ];
    let matrices = Tensor::stack(
        &spectra
            .iter()
            .map(|(_, l)| q.matmul(&l.diag(0)).matmul(&q.tr()))
            .collect::<Vec<_>>(),
        0,
    );
    let (values, vectors) = top_algebraic_eigenpairs(&matrices);
    // Lanczos's convergence test hands the evenly spaced spectrum (gap 0.02 of its width) to
    // `eigh` and accepts the others; on the resnet fixture's real kernels (285 pixels, the
    // parity test's) it accepts every image.
    let (_, _, accepted) = lanczos(&matrices);
    ensure(
        to_vec(&accepted.to_kind(Kind::Double)) == [0.0, 1.0, 1.0],
        || format!("Lanczos accepted {accepted:?}"),
    )?;
    let a = crate::common::load_npy(&fixture("resnet/activations.npy"));
    let (_, _, accepted) = lanczos(&centred_kernel(&a));
    ensure(bool::try_from(accepted.all())?, || {
        format!("Lanczos on the resnet fixture's kernels: accepted {accepted:?}")
    })?;
    for (i, (name, spectrum)) in spectra.iter().enumerate() {
        let a = matrices.get(i as i64);
        let (lambda, v) = (values.double_value(&[i as i64]), vectors.get(i as i64));
        let want = spectrum.max().double_value(&[]);
        ensure((lambda - want).abs() <= 1e-9, || {
            format!("{name}: largest eigenvalue {lambda}, want {want}")
        })?;
        let residual = (a.mv(&v) - &v * lambda).norm().double_value(&[]);
        ensure(residual <= 1e-6, || {
            format!("{name}: ‖Av − λv‖ = {residual:e}")
        })?;
        if *name != "zero" {
            let norm = v.norm().double_value(&[]);
            ensure((norm - 1.0).abs() <= 1e-9, || {
                format!("{name}: ‖v‖ = {norm}")
            })?;
        }
    }
    Ok(())
}

/// ShapleyCAM's second-order term on a head that is not piecewise linear (tanh between two
/// dense layers, in float64): its Hessian-vector product (∂²y_c/∂A²) A is the central difference
/// of the gradient along A, (g(A + εA) − g(A − εA)) / 2ε, within 1e-6 of its largest value, and
/// not zero (on every built-in model's piecewise-linear head it is 0, and ShapleyCAM is GradCAM).
fn shapley_hvp() -> TestResult {
    use blindspot::cam::shapleycam::ShapleyCam;
    struct Smooth(Tensor, Tensor);
    impl SplitModel for Smooth {
        fn name(&self) -> String {
            "smooth head".into()
        }
        fn device(&self) -> Device {
            Device::Cpu
        }
        fn features(&self, x: &Tensor) -> blindspot::error::Result<Tensor> {
            Ok(x.shallow_clone())
        }
        fn head(&self, a: &Tensor) -> blindspot::error::Result<Tensor> {
            Ok(a.flatten(1, -1)
                .matmul(&self.0.tr())
                .tanh()
                .matmul(&self.1.tr()))
        }
    }
    let mut init = Init::new(21, Device::Cpu);
    let model = Smooth(
        init.normal(&[12, 4 * 5 * 6], 0.3).to_kind(Kind::Double),
        init.normal(&[3, 12], 1.0).to_kind(Kind::Double),
    );
    let a = init.normal(&[2, 4, 5, 6], 1.0).to_kind(Kind::Double);
    let targets = Tensor::from_slice(&[2i64, 0]);
    let logits = model.head(&a)?;
    let ctx = blindspot::CamContext {
        model: &model,
        input: &a,
        layer: &a,
        activations: &a,
        gradients: None,
        logits: &logits,
        targets: &targets,
    };
    let (_, hvp) = ShapleyCam::gradient_and_hvp(&ctx)?;
    let eps = 1e-5;
    let gradient_at = |scale: f64| -> Result<Tensor, libtest_mimic::Failed> {
        let leaf = (&a * scale).detach().set_requires_grad(true);
        let score = blindspot::cam::target_scores(&model.head(&leaf)?, &targets).sum(Kind::Double);
        Ok(blindspot::model::gradient(&score, &leaf)?)
    };
    let difference = (gradient_at(1.0 + eps)? - gradient_at(1.0 - eps)?) / (2.0 * eps);
    let scale = difference.abs().max().double_value(&[]);
    ensure(scale > 1e-3, || {
        format!("the Hessian term is {scale}: the test shows nothing")
    })?;
    ensure_close(
        "Hv vs the central difference",
        &hvp,
        &difference,
        1e-6 * scale,
    )
}

/// ∂y_target/∂x of one image `xi` [1, C, H, W], as [C][H][W].
fn input_grad(model: &dyn SplitModel, xi: &Tensor, target: i64) -> Maps {
    let leaf = xi.detach().set_requires_grad(true);
    let logit = model.forward(&leaf).unwrap().get(0).get(target);
    maps_of(
        &Tensor::run_backward(&[&logit], &[&leaf], false, false)
            .remove(0)
            .get(0),
    )
}

/// The input-level methods' raw maps for image `n`, one gradient (or score) of one image at a
/// time, summed in f64: captum's formulas with blindspot's default parameters.
fn literal_attribution(
    method: &str,
    model: &dyn SplitModel,
    x: &Tensor,
    n: i64,
    target: i64,
) -> Vec<Vec<f64>> {
    use blindspot::cam::attribution::{
        integrated_gradients::{gauss_legendre, IntegratedGradients},
        occlusion::Occlusion,
        smoothgrad::SmoothGrad,
    };
    let xi = x.narrow(0, n, 1);
    let pixels = maps_of(&xi.get(0));
    let (c, h, w) = (pixels.len(), pixels[0].len(), pixels[0][0].len());
    let map = |f: &dyn Fn(usize, usize, usize) -> f64| -> Vec<Vec<f64>> {
        (0..h)
            .map(|i| (0..w).map(|j| (0..c).map(|k| f(k, i, j)).sum()).collect())
            .collect()
    };
    match method {
        "saliency" => {
            let g = input_grad(model, &xi, target);
            map(&|k, i, j| g[k][i][j].abs())
        }
        "input-x-gradient" => {
            let g = input_grad(model, &xi, target);
            map(&|k, i, j| g[k][i][j] * pixels[k][i][j])
        }
        "integrated-gradients" => {
            let ig = IntegratedGradients::default();
            let b = ig.baseline;
            let mut total = vec![grid(h, w); c];
            for (t, u) in gauss_legendre(ig.steps) {
                let alpha = 0.5 * (1.0 + t);
                let g = input_grad(model, &((&xi - b) * alpha + b), target);
                for k in 0..c {
                    for i in 0..h {
                        for j in 0..w {
                            total[k][i][j] += 0.5 * u * g[k][i][j];
                        }
                    }
                }
            }
            map(&|k, i, j| (pixels[k][i][j] - b) * total[k][i][j])
        }
        "smoothgrad" => {
            let seed = Seeds::new(0).stream(streams::SMOOTHGRAD).seed();
            let method = SmoothGrad::new(seed);
            let s = method.samples as i64;
            let noise = method.noise_for(x);
            let mut total = vec![grid(h, w); c];
            for copy in 0..s {
                let noisy = &xi + noise.narrow(0, n * s + copy, 1);
                let g = input_grad(model, &noisy, target);
                for k in 0..c {
                    for i in 0..h {
                        for j in 0..w {
                            total[k][i][j] += g[k][i][j].abs() / s as f64;
                        }
                    }
                }
            }
            map(&|k, i, j| total[k][i][j])
        }
        "occlusion" => {
            let o = Occlusion::default();
            let (size, stride) = (o.window as usize, o.stride as usize);
            let original = score_of(model, &xi, target);
            let (mut total, mut count) = (grid(h, w), grid(h, w));
            for top in (0..=h.saturating_sub(size)).step_by(stride) {
                for left in (0..=w.saturating_sub(size)).step_by(stride) {
                    let occluded = xi.copy();
                    let _ = occluded
                        .narrow(2, top as i64, size as i64)
                        .narrow(3, left as i64, size as i64)
                        .fill_(o.baseline);
                    let drop = original - score_of(model, &occluded, target);
                    for i in top..top + size {
                        for j in left..left + size {
                            total[i][j] += drop;
                            count[i][j] += 1.0;
                        }
                    }
                }
            }
            map(&|_, i, j| match count[i][j] {
                0.0 => 0.0,
                covered => total[i][j] / covered,
            })
        }
        other => panic!("{other} is not an input-level method"),
    }
}

/// Guided backpropagation through the rCNN (valid k×k convolution, ReLU, 2×2 max-pool, dense),
/// by hand: the target's dense row, routed to each window's first maximum (libtorch's choice on
/// ties), through the ReLU by the guided rule max(g, 0)·1[A > 0], back through the convolution
/// tap by tap; Guided GradCAM multiplies it by GradCAM's map of the same image, resized by
/// nearest neighbour (source index ⌊i·h/H⌋).
fn literal_guided(
    method: &str,
    model: &dyn SplitModel,
    x: &Tensor,
    n: i64,
    p: &PerImage,
) -> Vec<Vec<f64>> {
    let (arch, state) = model
        .architecture()
        .expect("the reference's guided subject is built in");
    assert_eq!(
        arch["kind"], "rcnn",
        "the guided literal reference is the rCNN's"
    );
    let weight = |name: &str| {
        state
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .expect("rCNN weights")
    };
    let (conv, dense) = (weight("conv.weight"), weight("dense.weight"));
    let (v, c, k, _) = conv.size4().unwrap();
    let (v, c, k) = (v as usize, c as usize, k as usize);
    let conv = to_vec(&conv);
    let dense = to_vec(&dense.get(p.target));
    let a = &p.a;
    let (h, w) = (a[0].len(), a[0][0].len());
    let (ph, pw) = (h / 2, w / 2);
    let mut g = vec![grid(h, w); v];
    for f in 0..v {
        for i in 0..ph {
            for j in 0..pw {
                let mut best = (2 * i, 2 * j);
                for di in 0..2 {
                    for dj in 0..2 {
                        if a[f][2 * i + di][2 * j + dj] > a[f][best.0][best.1] {
                            best = (2 * i + di, 2 * j + dj);
                        }
                    }
                }
                g[f][best.0][best.1] += dense[(f * ph + i) * pw + j];
            }
        }
    }
    for f in 0..v {
        for i in 0..h {
            for j in 0..w {
                g[f][i][j] = if a[f][i][j] > 0.0 {
                    g[f][i][j].max(0.0)
                } else {
                    0.0
                };
            }
        }
    }
    let pixels = maps_of(&x.get(n));
    let (height, width) = (pixels[0].len(), pixels[0][0].len());
    let mut gx = vec![grid(height, width); c];
    for f in 0..v {
        for ch in 0..c {
            for di in 0..k {
                for dj in 0..k {
                    let tap = conv[((f * c + ch) * k + di) * k + dj];
                    for i in 0..h {
                        for j in 0..w {
                            gx[ch][i + di][j + dj] += tap * g[f][i][j];
                        }
                    }
                }
            }
        }
    }
    let cam = match method {
        "guided-gradcam" => {
            let weights: Vec<f64> =
                p.g.iter()
                    .map(|gk| channel_sum(gk) / (h * w) as f64)
                    .collect();
            let cam = relu(&weighted(&weights, a));
            (0..height)
                .map(|i| {
                    (0..width)
                        .map(|j| cam[i * h / height][j * w / width])
                        .collect()
                })
                .collect()
        }
        _ => vec![vec![1.0; width]; height],
    };
    (0..height)
        .map(|i| {
            (0..width)
                .map(|j| (0..c).map(|ch| gx[ch][i][j] * cam[i][j]).sum())
                .collect()
        })
        .collect()
}

fn literal_sobel(image: &Tensor) -> Vec<Vec<f64>> {
    let (c, h, w) = image.size3().unwrap();
    let px = maps_of(image);
    let gray: Vec<Vec<f64>> = (0..h as usize)
        .map(|i| {
            (0..w as usize)
                .map(|j| {
                    if c == 3 {
                        0.299 * px[0][i][j] + 0.587 * px[1][i][j] + 0.114 * px[2][i][j]
                    } else {
                        (0..c as usize).map(|k| px[k][i][j]).sum::<f64>() / c as f64
                    }
                })
                .collect()
        })
        .collect();
    let reflect = |i: i64, n: i64| -> usize {
        (if i < 0 {
            -i
        } else if i >= n {
            2 * n - 2 - i
        } else {
            i
        }) as usize
    };
    (0..h)
        .map(|i| {
            (0..w)
                .map(|j| {
                    let at = |di: i64, dj: i64| gray[reflect(i + di, h)][reflect(j + dj, w)];
                    let gx = at(-1, 1) - at(-1, -1) + 2.0 * (at(0, 1) - at(0, -1)) + at(1, 1)
                        - at(1, -1);
                    let gy = at(1, -1) - at(-1, -1) + 2.0 * (at(1, 0) - at(-1, 0)) + at(1, 1)
                        - at(-1, 1);
                    0.5 * gx.abs() + 0.5 * gy.abs()
                })
                .collect()
        })
        .collect()
}

/// Opti-CAM for one image: softmax weights, Ŝ, loss, gradient by autograd on this image alone,
/// Adam by hand per channel, the early-stopping rule; in float64 through the model's float64
/// copy where it has one, as the implementation computes.
fn literal_opticam(model: &dyn SplitModel, xi: &Tensor, p: &PerImage) -> Vec<Vec<f64>> {
    let defaults = OptiCam::default();
    let double = model.to_double().unwrap();
    let (model, kind, xi, score, a) = match &double {
        Some(m) => {
            let xi = xi.to_kind(Kind::Double);
            let a = m.features(&xi).unwrap();
            let score = m.head(&a).unwrap().get(0).double_value(&[p.target]);
            (m.as_ref(), Kind::Double, xi, score, maps_of(&a.get(0)))
        }
        None => (model, Kind::Float, xi.shallow_clone(), p.score, p.a.clone()),
    };
    let (v, h, w) = (a.len(), a[0].len(), a[0][0].len());
    let (height, width) = (xi.size()[2] as usize, xi.size()[3] as usize);
    let relu_a: Maps = a.iter().map(|m| relu(m)).collect();
    let softmax = |u: &[f64]| -> Vec<f64> {
        let top = u.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = u.iter().map(|x| (x - top).exp()).sum();
        u.iter().map(|x| (x - top).exp() / z).collect()
    };
    let relu_tensor = Tensor::from_slice(
        &relu_a
            .iter()
            .flatten()
            .flatten()
            .cloned()
            .collect::<Vec<f64>>(),
    )
    .view([1, v as i64, h as i64, w as i64])
    .to_kind(kind);
    let (mut u, mut m, mut s) = (vec![0.5; v], vec![0.0; v], vec![0.0; v]);
    let mut last: Option<f64> = None;
    let every = (defaults.iterations / 10).max(1);
    for step in 1..=defaults.iterations {
        let leaf = Tensor::from_slice(&u)
            .to_kind(kind)
            .view([1, v as i64])
            .set_requires_grad(true);
        // Ŝ = min-max(upsample(Σ_k softmax(u)_k ReLU(A_k))), written out with tensor ops on
        // this image.
        let alpha = leaf.softmax(-1, kind).view([1, v as i64, 1, 1]);
        let sal = (&relu_tensor * alpha)
            .sum_dim_intlist(1, true, kind)
            .upsample_bilinear2d([height as i64, width as i64], false, None, None);
        let sal = (&sal - sal.min()) / (sal.max() - sal.min() + 1e-7);
        let y = model.forward(&(&xi * sal)).unwrap().get(0).get(p.target);
        let loss = score - &y;
        let grad = to_vec(&Tensor::run_backward(&[&loss], &[&leaf], false, false).remove(0));
        let loss = loss.double_value(&[]);
        if step % every == 0 {
            if let Some(previous) = last {
                if loss > previous {
                    break;
                }
            }
            last = Some(loss);
        }
        for k in 0..v {
            m[k] = 0.9 * m[k] + 0.1 * grad[k];
            s[k] = 0.999 * s[k] + 0.001 * grad[k] * grad[k];
            let m_hat = m[k] / (1.0 - 0.9f64.powi(step as i32));
            let s_hat = s[k] / (1.0 - 0.999f64.powi(step as i32));
            u[k] -= defaults.learning_rate * m_hat / (s_hat.sqrt() + 1e-8);
        }
    }
    weighted(&softmax(&u), &relu_a)
}

/// Opti-CAM on a model with a float64 copy (a random small VGG): the batched optimisation in
/// float64 against the literal one, image by image, also in float64.
fn opticam_float64() -> TestResult {
    let model = Vgg::new(VggConfig::small(5, None), "small-vgg", 3, Device::Cpu);
    ensure(model.to_double()?.is_some(), || {
        "the VGG has no float64 copy".into()
    })?;
    let x = Init::new(9, Device::Cpu).normal(&[3, 3, 64, 64], 1.0);
    compare("opticam", &model, &x)
}

fn compare(method_name: &str, model: &dyn SplitModel, x: &Tensor) -> TestResult {
    let method: Box<dyn CamMethod> = method_named(method_name, &blindspot::Seeds::new(0))?;
    if method.requires_steps() && model.steps().is_none() {
        // A TorchScript model's layers are inside its graph: one message, no map.
        let refused = match explain(method.as_ref(), model, x, None) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let wanted = match method_name {
            "fullgrad" => "needs the model's layers and their biases",
            _ => "needs the model's ReLUs",
        };
        return ensure(refused.contains(wanted), || {
            format!("{method_name} on a model without steps: `{refused}`")
        });
    }
    let k = tch::no_grad(|| model.forward(x))?.size()[1];
    let targets = Tensor::from_slice(
        &(0..x.size()[0])
            .map(|i| (i * 5 + 1) % k)
            .collect::<Vec<i64>>(),
    );
    let fast = explain(method.as_ref(), model, x, Some(&targets))?;
    let v = fast.raw.size();
    let channels = model.features(&x.narrow(0, 0, 1))?.size()[1];
    let seed = Seeds::new(0).stream(streams::RANDOMCAM).seed();
    let random_weights =
        to_vec(&Init::new(seed, Device::Cpu).uniform(&[x.size()[0], channels], 1.0));
    let images = per_image(model, x, &targets);
    let (height, width) = (x.size()[2] as usize, x.size()[3] as usize);
    let literal: Vec<Vec<Vec<f64>>> = images
        .iter()
        .enumerate()
        .map(|(n, p)| {
            post(
                &literal_raw(method_name, model, x, n as i64, p, &random_weights),
                method.reading() == blindspot::cam::Reading::Magnitude,
                height,
                width,
            )
        })
        .collect();
    ensure(v[0] == x.size()[0], || "one raw map per image".into())?;
    ensure_close(
        &format!("{method_name}: fast vs literal"),
        &fast.maps,
        &to_tensor(&literal),
        TOLERANCE,
    )
}

/// The Monte Carlo's batched model (one grouped conv as a patch matmul, pooling only the live rows)
/// against the same draws as separate plain models (libtorch conv2d, full max-pool, full dense
/// matrices): same logits, same GradCAM and HiResCAM maps, and the same gradient ∂y_c/∂A element
/// by element, including the max-pool's routing on the ties that ReLU zeros create.
/// The Monte Carlo's weights are sampled in parallel over draws; each draw must still be exactly
/// what its own sub-stream gives one value after another: the conv filters, then the live dense
/// weights.
fn rcnn_draws_parallel_sampling() -> TestResult {
    let config = RcnnConfig {
        filters: 24,
        classes: 3,
        ..RcnnConfig::default()
    };
    let (stream, first, count) = (Stream::from_seed(8), 5, 7);
    let draws = RcnnDraws::new(config.clone(), count, stream, first, Device::Cpu);
    let (conv, dense) = draws.weights();
    let (v, c, k) = (config.filters, config.in_channels, config.kernel);
    let live = dense.size()[2] / v;
    for d in 0..count {
        let mut init = Init::new(stream.at(first + d as u64).seed(), Device::Cpu);
        let want_conv = init.normal(&[v, c * k * k], config.tau);
        let want_dense = init.normal(&[config.classes, v * live], config.tau);
        ensure(
            conv.get(d).equal(&want_conv) && dense.get(d).equal(&want_dense),
            || format!("draw {d} differs from its sub-stream's serial values"),
        )?;
    }
    Ok(())
}

fn rcnn_draws_match_separate_models() -> TestResult {
    let config = RcnnConfig {
        in_channels: 1,
        filters: 24,
        kernel: 2,
        height: 29,
        width: 29,
        classes: 3,
        tau: 1.0,
        masked: true,
        wall_rows: None,
    };
    let draws = RcnnDraws::new(config, 4, Stream::from_seed(21), 0, Device::Cpu);
    let x = Init::new(5, Device::Cpu).normal(&[4, 1, 29, 29], 1.0);
    let targets = Tensor::from_slice(&[0i64, 1, 2, 0]);
    let separate = draws.unbatched();
    for method in ["gradcam", "hirescam"] {
        let m = method_named(method, &blindspot::Seeds::new(0))?;
        let batched = explain(m.as_ref(), &draws, &x, Some(&targets))?;
        for (d, model) in separate.iter().enumerate() {
            let d = d as i64;
            let one = explain(
                m.as_ref(),
                model,
                &x.narrow(0, d, 1),
                Some(&targets.narrow(0, d, 1)),
            )?;
            // Sums of hundreds of terms in a different order: compare relative to the scale.
            let tol = |t: &Tensor| 1e-5 * t.abs().max().double_value(&[]).max(1.0);
            ensure_close(
                &format!("{method}: logits of draw {d}"),
                &batched.logits.narrow(0, d, 1),
                &one.logits,
                tol(&one.logits),
            )?;
            ensure_close(
                &format!("{method}: raw map of draw {d}"),
                &batched.raw.narrow(0, d, 1),
                &one.raw,
                tol(&one.raw),
            )?;
        }
    }
    let gradient =
        |model: &dyn SplitModel, x: &Tensor, t: &Tensor| -> blindspot::error::Result<Tensor> {
            let leaf = model.features(x)?.detach().set_requires_grad(true);
            let score = model
                .head(&leaf)?
                .gather(1, &t.unsqueeze(1), false)
                .sum(Kind::Float);
            Ok(Tensor::run_backward(&[score], &[&leaf], false, false).remove(0))
        };
    let g = gradient(&draws, &x, &targets)?;
    let zero_ties = tch::no_grad(|| draws.features(&x))?
        .eq(0.0)
        .sum(Kind::Int64)
        .int64_value(&[]);
    ensure(zero_ties > 0, || {
        "expected ReLU zeros (max-pool ties)".into()
    })?;
    for (d, model) in separate.iter().enumerate() {
        let d = d as i64;
        let one = gradient(model, &x.narrow(0, d, 1), &targets.narrow(0, d, 1))?;
        ensure(
            g.narrow(0, d, 1)
                .ne_tensor(&one)
                .sum(Kind::Int64)
                .int64_value(&[])
                == 0,
            || format!("gradient of draw {d} differs"),
        )?;
    }
    Ok(())
}

/// ScoreCAM scores the zero image once for every all-zero channel instead of running the model
/// on each of them: on a model where a third of the channels are dead, the result must still be
/// the literal loop's, which runs the model on every masked input.
/// A model that runs out of "device memory" above `limit` images per call, as a GPU would: with
/// an error (TorchScript models) or a panic (tch's built-in operations).
struct Cramped {
    inner: Rcnn,
    limit: i64,
    panics: bool,
    refusals: std::sync::atomic::AtomicUsize,
}

impl SplitModel for Cramped {
    fn name(&self) -> String {
        "cramped".into()
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn features(&self, x: &Tensor) -> blindspot::error::Result<Tensor> {
        if x.size()[0] > self.limit {
            self.refusals
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let message = "CUDA out of memory. Tried to allocate 2.00 GiB".to_string();
            if self.panics {
                // A panic as tch's operations raise it, without the panic hook's printout.
                std::panic::resume_unwind(Box::new(message));
            }
            return Err(blindspot::error::Error::Torch {
                context: "a test".into(),
                message,
            });
        }
        self.inner.features(x)
    }
    fn head(&self, a: &Tensor) -> blindspot::error::Result<Tensor> {
        self.inner.head(a)
    }
}

/// ScoreCAM sizes its chunks from the device's free memory, an estimate: a chunk that runs out
/// of memory (an error or a panic) is halved and tried again, and the maps are those of a chunk
/// size that fits. Other failures are not retried.
fn scorecam_out_of_memory() -> TestResult {
    use blindspot::cam::scorecam::ScoreCam;
    let x = Init::new(9, Device::Cpu).normal(&[2, 3, 16, 22], 1.0);
    let targets = Tensor::from_slice(&[1i64, 2]);
    let model = Rcnn::new(small_rcnn(), 13, Device::Cpu);
    let fits = ScoreCam {
        batch_size: Some(4),
    };
    let want = explain(&fits, &model, &x, Some(&targets))?;
    for panics in [false, true] {
        let cramped = Cramped {
            inner: Rcnn::new(small_rcnn(), 13, Device::Cpu),
            limit: 5,
            panics,
            refusals: Default::default(),
        };
        let eager = ScoreCam {
            batch_size: Some(16),
        };
        let got = explain(&eager, &cramped, &x, Some(&targets))?;
        let refusals = cramped.refusals.load(std::sync::atomic::Ordering::SeqCst);
        // 16 and 8 masked inputs are refused once each; 4 fit from then on.
        ensure(refusals == 2, || {
            format!("panics = {panics}: {refusals} refused chunks, expected 2")
        })?;
        ensure_close(
            &format!("panics = {panics}: raw maps after halving"),
            &got.raw,
            &want.raw,
            1e-5 * want.raw.abs().max().double_value(&[]).max(1.0),
        )?;
    }
    let broken = Cramped {
        inner: Rcnn::new(small_rcnn(), 13, Device::Cpu),
        limit: 0,
        panics: false,
        refusals: Default::default(),
    };
    ensure(
        explain(
            &ScoreCam {
                batch_size: Some(1),
            },
            &broken,
            &x,
            None,
        )
        .is_err(),
        || "a chunk of one that runs out of memory must fail, not loop".into(),
    )?;
    ensure(
        ScoreCam::default().chunk_size(Device::Cpu, 224, 224) == 64,
        || "the CPU chunk is the measured 64".into(),
    )
}

fn scorecam_dead_channels() -> TestResult {
    let config = small_rcnn();
    let model = Rcnn::new(config, 13, Device::Cpu);
    let _ = model.conv.narrow(0, 0, 4).zero_();
    let x = Init::new(9, Device::Cpu).normal(&[3, 3, 16, 22], 1.0);
    let a = model.features(&x)?;
    let dead = a
        .flatten(2, -1)
        .ne(0.0)
        .any_dim(2, false)
        .logical_not()
        .sum(Kind::Int64)
        .int64_value(&[]);
    ensure((12..36).contains(&dead), || {
        format!("expected dead and live channels, found {dead} dead of 36")
    })?;
    compare("scorecam", &model, &x)?;
    // The final maps do not depend on a dead channel's score (it only scales the softmax), the raw
    // map does: compare it before any normalisation.
    let targets = Tensor::from_slice(&[1i64, 2, 3]);
    let fast = explain(
        method_named("scorecam", &blindspot::Seeds::new(0))?.as_ref(),
        &model,
        &x,
        Some(&targets),
    )?;
    let literal: Vec<Vec<Vec<f64>>> = per_image(&model, &x, &targets)
        .iter()
        .enumerate()
        .map(|(n, p)| literal_raw("scorecam", &model, &x, n as i64, p, &[]))
        .collect();
    ensure_close(
        "scorecam raw map with dead channels",
        &fast.raw,
        &to_tensor(&literal),
        TOLERANCE,
    )
}

/// EigenCAM's documented sign: the first right singular vector has a non-negative sum, so the
/// map correlates non-negatively with the centred channel-sum map.
fn sign_convention() -> TestResult {
    let a = Init::new(3, Device::Cpu).normal(&[4, 6, 5, 7], 1.0).relu();
    let proj = blindspot::cam::eigencam::first_component_projection(&a);
    let sum = a.sum_dim_intlist(1, false, Kind::Float);
    let centred = &sum - sum.mean_dim([1, 2].as_slice(), true, Kind::Float);
    for i in 0..4 {
        let dot = (proj.get(i) * centred.get(i))
            .sum(Kind::Double)
            .double_value(&[]);
        ensure(dot >= 0.0, || {
            format!("image {i}: projection . centred channel sum = {dot}")
        })?;
    }
    Ok(())
}

/// The Gram matrices of `maps` [N, V, h, w] after centring, in double precision: [N, V, V].
fn centred_gram(maps: &Tensor) -> Tensor {
    let (n, v, h, w) = maps.size4().expect("[N, V, h, w]");
    let m = maps.reshape([n, v, h * w]).to_kind(Kind::Double);
    let m = &m - m.mean_dim(2, true, Kind::Double);
    m.matmul(&m.transpose(1, 2))
}

/// EigenCAM and EigenGradCAM on the small VGG (V = 64 channels of 8 × 8, so the Gram matrices
/// are 64 × 64 and the subspace iteration runs): the fast projection matches the literal power
/// iteration, and the convergence test accepted every image, so the iteration itself (not the
/// `eigh` fallback) produced them.
fn eigen_small_vgg() -> TestResult {
    use blindspot::cam::eigencam::{first_component_projection, subspace_iteration};
    let model = blindspot::open_model("builtin:small-vgg", Device::Cpu, &Default::default())?;
    let x = Init::new(7, Device::Cpu).normal(&[4, 3, 64, 64], 1.0);
    let a = tch::no_grad(|| model.features(&x))?;
    let leaf = a.detach().set_requires_grad(true);
    let logits = model.head(&leaf)?;
    let score = logits
        .gather(1, &logits.argmax(1, true), false)
        .sum(Kind::Float);
    let g = Tensor::run_backward(&[score], &[&leaf], false, false).remove(0);
    for (label, maps) in [
        ("activations", a.shallow_clone()),
        ("gradient x activation", g * &a),
    ] {
        let (_, accepted) = subspace_iteration(&centred_gram(&maps));
        let rejected = 4 - accepted.sum(Kind::Int64).int64_value(&[]);
        ensure(rejected == 0, || {
            format!("{label}: the convergence test rejected {rejected} of 4 images")
        })?;
        let fast = first_component_projection(&maps);
        for i in 0..4 {
            let literal = principal_projection(&maps_of(&maps.get(i)));
            let want = Tensor::from_slice(&literal.concat())
                .view([8, 8])
                .to_kind(Kind::Float);
            let scale = want.abs().max().double_value(&[]).max(1e-12);
            ensure_close(
                &format!("{label}, image {i} (relative to {scale:.3e})"),
                &(fast.get(i) / scale),
                &(want / scale),
                TOLERANCE,
            )?;
        }
    }
    Ok(())
}

/// Spectra the iteration cannot settle are recognised and decomposed with `eigh`: a repeated top
/// eigenvalue and a flat spectrum are rejected; a well-separated one is accepted, including an
/// eigenvector that is one coordinate axis (orthogonal to nothing in the start block).
fn eigen_hard_spectra() -> TestResult {
    use blindspot::cam::eigencam::{subspace_iteration, top_eigenvectors};
    let k = 40;
    let basis = Tensor::linalg_qr(
        &Init::new(11, Device::Cpu)
            .normal(&[k, k], 1.0)
            .to_kind(Kind::Double),
        "reduced",
    )
    .0;
    let spectrum = |top: &[f64], rest: f64| {
        let mut values = top.to_vec();
        values.resize(k as usize, rest);
        Tensor::from_slice(&values)
    };
    let with = |values: &Tensor| basis.matmul(&values.diag(0)).matmul(&basis.tr());
    let mut axis = vec![0.1; k as usize];
    axis[k as usize - 1] = 1.0;
    let cases = [
        (
            "repeated top eigenvalue",
            with(&spectrum(&[1.0, 1.0], 0.1)),
            false,
        ),
        ("flat spectrum", with(&spectrum(&[1.0], 0.999)), false),
        ("separated", with(&spectrum(&[1.0, 0.9, 0.8], 0.3)), true),
        ("axis", Tensor::from_slice(&axis).diag(0), true),
    ];
    let grams = Tensor::stack(
        &cases
            .iter()
            .map(|c| c.1.shallow_clone())
            .collect::<Vec<_>>(),
        0,
    );
    let (_, accepted) = subspace_iteration(&grams);
    let top = top_eigenvectors(&grams);
    let (values, vectors) = grams.linalg_eigh("L");
    for (i, (label, _, expect)) in cases.iter().enumerate() {
        let got = accepted.int64_value(&[i as i64]) == 1;
        ensure(got == *expect, || {
            format!("{label}: accepted = {got}, expected {expect}")
        })?;
        let i = i as i64;
        let (l1, l2) = (
            values.double_value(&[i, k - 1]),
            values.double_value(&[i, k - 2]),
        );
        if l1 - l2 > 1e-6 {
            // A simple top eigenvalue: the vector is unique up to sign.
            let cosine = top
                .get(i)
                .dot(&vectors.get(i).select(1, k - 1))
                .double_value(&[]);
            ensure((cosine.abs() - 1.0).abs() < 1e-12, || {
                format!("{label}: |cos| to eigh's top eigenvector = {cosine}")
            })?;
        } else {
            // A repeated one: the result must lie in the top eigenspace with norm 1.
            let v = top.get(i);
            let residual = (grams.get(i).mv(&v) - &v * l1).norm().double_value(&[]);
            let norm = v.norm().double_value(&[]);
            ensure(residual < 1e-12 && (norm - 1.0).abs() < 1e-12, || {
                format!("{label}: ‖Gv − λv‖ = {residual:e}, ‖v‖ = {norm}")
            })?;
        }
    }
    Ok(())
}

/// Every built-in method explained together ([`explain_all`]: one forward and one backward per
/// batch, shared) gives bit for bit what each gives alone ([`explain_batched`]), in batches that
/// split the images unevenly (3 + 3 + 1) and with a method that writes into its inputs in
/// place between the others and after them.
fn shared_forward() -> TestResult {
    let model = Vgg::new(VggConfig::small(5, None), "small-vgg", 3, Device::Cpu);
    let x = Init::new(11, Device::Cpu).normal(&[7, 3, 64, 64], 1.0);
    let seeds = blindspot::Seeds::new(0);
    let mut methods: Vec<Box<dyn CamMethod>> = blindspot::cam::builtin_methods(&seeds)
        .into_iter()
        .filter(|m| m.name() != "opticam") // seconds; its batching is the trial above
        .collect();
    methods.insert(2, Box::new(Vandal));
    methods.push(Box::new(Vandal)); // and last, where it reads the batch's own tensors
    let refs: Vec<&dyn CamMethod> = methods.iter().map(|m| m.as_ref()).collect();
    let together = explain_all(&refs, &model, &x, None, 3)?;
    for (method, shared) in refs.iter().zip(&together) {
        let alone = explain_batched(*method, &model, &x, None, 3)?;
        let same = |a: &Tensor, b: &Tensor| a.equal(b);
        ensure(
            same(&shared.raw, &alone.raw)
                && same(&shared.maps, &alone.maps)
                && same(&shared.targets, &alone.targets)
                && same(&shared.logits, &alone.logits),
            || {
                format!(
                    "{}: shared forward differs from the method alone",
                    method.name()
                )
            },
        )?;
    }
    Ok(())
}

/// Remembered features ([`FeatureMemo`]): after only the head's layers are replaced, the
/// trained model's `features` calls are answered from memory, and every method's explanation is
/// bitwise the one computed without the memo — ScoreCAM's masked inputs included, with methods
/// that scribble on their activations between the calls, and Opti-CAM's optimisation (whose
/// inputs need gradients) computed. A replay with other images, and a step that changes the
/// features, compute instead.
fn memo_replays_exactly() -> TestResult {
    use blindspot::model::memo::FeatureMemo;
    let model = Vgg::new(VggConfig::small(5, None), "small-vgg", 3, Device::Cpu);
    let x = Init::new(11, Device::Cpu).normal(&[7, 3, 64, 64], 1.0);
    let seeds = blindspot::Seeds::new(0);
    let mut methods: Vec<Box<dyn CamMethod>> = blindspot::cam::builtin_methods(&seeds)
        .into_iter()
        // Integrated Gradients and SmoothGrad differentiate with respect to the input, as
        // Opti-CAM does (kept, at 3 iterations): every such call is computed, never replayed.
        // Occlusion's occluded forwards are replayed as ScoreCAM's masked chunks are (kept);
        // its 225 windows tripled the test's time.
        .filter(|m| {
            !["opticam", "integrated-gradients", "smoothgrad", "occlusion"].contains(&m.name())
        })
        .collect();
    methods.insert(2, Box::new(Vandal));
    methods.push(Box::new(OptiCam {
        iterations: 3,
        learning_rate: 0.1,
    }));
    methods.push(Box::new(Vandal));
    let refs: Vec<&dyn CamMethod> = methods.iter().map(|m| m.as_ref()).collect();
    let memo = FeatureMemo::new(&model, 1 << 32);
    memo.record();
    let trained = explain_all(&refs, &memo, &x, None, 3)?;
    let compare = |with: &[blindspot::cam::Explanation], x: &Tensor, what: &str| -> TestResult {
        let without = explain_all(&refs, &model, x, None, 3)?;
        for ((method, a), b) in refs.iter().zip(with).zip(&without) {
            ensure(
                a.raw.equal(&b.raw)
                    && a.maps.equal(&b.maps)
                    && a.targets.equal(&b.targets)
                    && a.logits.equal(&b.logits),
                || format!("{what}: {} differs with the memo", method.name()),
            )?;
        }
        Ok(())
    };
    compare(&trained, &x, "recording")?;
    let groups = model.parameter_groups()?;
    let (head, features) = (&groups[groups.len() - 1], &groups[0]);
    ensure(head.head_only && !features.head_only, || {
        "the classifier is head-only, the first convolution is not".to_string()
    })?;
    let replace = |group: &blindspot::model::ParameterGroup, seed: u64| {
        let mut init = Init::new(seed, Device::Cpu);
        tch::no_grad(|| {
            for (_, t) in &group.parameters {
                t.shallow_clone().copy_(&init.normal(&t.size(), 0.1));
            }
        });
    };
    replace(head, 1);
    memo.follow(&[head]);
    let replayed = explain_all(&refs, &memo, &x, None, 3)?;
    compare(&replayed, &x, "head replaced")?;
    let (hits, misses) = memo.hits_and_misses();
    // Three batches' forwards and ScoreCAM's zero image and masked chunks, every one answered.
    ensure(hits > 6 && misses == 0, || {
        format!("{hits} calls answered from memory and {misses} computed")
    })?;
    let other = Init::new(12, Device::Cpu).normal(&[7, 3, 64, 64], 1.0);
    memo.replay();
    let computed = explain_all(&refs, &memo, &other, None, 3)?;
    compare(&computed, &other, "other images")?;
    ensure(memo.hits_and_misses().1 > 0, || {
        "other images were answered from memory".to_string()
    })?;
    replace(features, 2);
    memo.follow(&[head, features]);
    let changed = explain_all(&refs, &memo, &x, None, 3)?;
    compare(&changed, &x, "features replaced")
}

/// A method that scribbles over every input it is given, then returns GradCAM's map of what it
/// read first.
struct Vandal;

impl CamMethod for Vandal {
    fn name(&self) -> &str {
        "vandal"
    }
    fn title(&self) -> &str {
        "Vandal"
    }
    fn summary(&self) -> &str {
        "writes into its inputs"
    }
    fn raw_map(&self, ctx: &blindspot::cam::CamContext) -> blindspot::Result<Tensor> {
        let raw = blindspot::cam::gradcam::GradCam.raw_map(ctx)?;
        for t in [ctx.input, ctx.activations, ctx.logits, ctx.grads()?] {
            let _ = t.shallow_clone().fill_(f64::NAN);
        }
        let _ = ctx.targets.shallow_clone().fill_(0);
        Ok(raw)
    }
}

/// A TorchScript model's features run on channels-last images (faster convolutions): every
/// built-in method's maps on both fixture models (a plain CNN with BatchNorm, a ResNet with
/// skips) stay within 1e-5 of the maps with contiguous images, and the activations within
/// 1e-5 relative to their largest value (measured: at most 1.4e-6). Not Opti-CAM: its 50
/// Adam steps in float32 (a TorchScript model has no float64 copy) amplify any change of
/// rounding (docs/precision.md): its maps moved 1.4e-5 on the plain model and 2.7e-2 on the
/// ResNet.
fn channels_last_within_tolerance() -> TestResult {
    let seeds = blindspot::Seeds::new(0);
    for name in ["plain", "resnet"] {
        let model = TorchScriptModel::load(&fixture(&format!("{name}/model.pt")), Device::Cpu)?;
        let x = crate::common::load_npy(&fixture(&format!("{name}/inputs.npy")));
        let mut maps = Vec::new();
        let mut activations = Vec::new();
        for on in [true, false] {
            model.set_channels_last(on);
            activations.push(tch::no_grad(|| model.features(&x))?);
            // Guided backpropagation and FullGrad need a model's layers one by one, which a
            // TorchScript file keeps in its graph: refused there (reference::resnet::guided-*).
            let methods = blindspot::cam::builtin_methods(&seeds);
            let refs: Vec<&dyn CamMethod> = methods
                .iter()
                .map(|m| m.as_ref())
                .filter(|m| !m.requires_steps())
                .collect();
            maps.push(explain_all(&refs, &model, &x, None, 8)?);
        }
        let scale = activations[1].abs().max().double_value(&[]).max(1e-12);
        let moved = (&activations[0] - &activations[1])
            .abs()
            .max()
            .double_value(&[])
            / scale;
        ensure(moved <= 1e-5, || {
            format!("{name}: activations moved {moved:e}")
        })?;
        let names = blindspot::cam::builtin_methods(&seeds);
        for ((a, b), method) in maps[0].iter().zip(&maps[1]).zip(&names) {
            let moved = (&a.maps - &b.maps).abs().max().double_value(&[]);
            ensure(moved <= 1e-5 || method.name() == "opticam", || {
                format!(
                    "{name}: {} maps moved {moved:e} with channels-last",
                    method.name()
                )
            })?;
        }
    }
    Ok(())
}

/// The pipeline's finiteness test sums first: images of finite values whose float32 sum
/// overflows (3e38 each) are still accepted, and one NaN or infinity among them, wherever it
/// is, still refused, naming its image.
fn finiteness_exact() -> TestResult {
    use blindspot::cam::pipeline::validate_input;
    let model = Vgg::new(VggConfig::small(5, None), "small-vgg", 3, Device::Cpu);
    let huge = Tensor::full([3, 3, 64, 64], 3e38, (Kind::Float, Device::Cpu));
    ensure(
        huge.sum(Kind::Float).double_value(&[]).is_infinite(),
        || "the sum should overflow".into(),
    )?;
    validate_input(&huge, &model, "test")?;
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let x = huge.copy();
        let _ = x.get(2).get(1).get(5).get(7).fill_(bad);
        let refused = validate_input(&x, &model, "test").map_err(|e| e.to_string());
        ensure(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("first in image 2")),
            || format!("{bad} accepted or misplaced: {refused:?}"),
        )?;
    }
    Ok(())
}
