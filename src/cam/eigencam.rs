//! EigenCAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
//! IJCNN 2020) and EigenGradCAM (pytorch-grad-cam's gradient-weighted variant).
//!
//! M = the map reshaped to (hw × V) with NaN → 0 and every column centred; M = UΣVᵀ;
//! cam = M v₁ (projection on the first right singular vector: the top eigenvector of the smaller
//! Gram matrix, by subspace iteration with a convergence test and `eigh` where the test fails, see
//! [`first_component_projection`] and [`top_eigenvectors`]). EigenCAM uses M = A
//! (class-agnostic); EigenGradCAM uses M = g ⊙ A.
//!
//! Sign convention: an SVD's sign is arbitrary (pytorch-grad-cam keeps whatever LAPACK returns),
//! so both methods declare themselves sign-ambiguous and every check judges both signs
//! (`Negated`), keeping the worse verdict.
//! blindspot flips v₁ so that Σ_k v₁(k) ≥ 0, which is the same as asking the projection to
//! correlate non-negatively with the centred channel-sum map (since M·1 · Mv₁ = σ₁² Σ_k v₁(k)).
//! Deterministic, and on ReLU features it points the map at where the activations are.
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

/// First-principal-component projection of each image's [V, h, w] map, with blindspot's sign.
///
/// Not through a batched SVD: the first right singular vector v₁ of the centred M (hw × V) is the
/// top eigenvector of the V × V Gram matrix MᵀM, and when hw < V it is Mᵀu₁/‖Mᵀu₁‖ for the top
/// eigenvector u₁ of the hw × hw matrix MMᵀ. Whichever is smaller is formed (one batched matmul,
/// in double precision because a Gram matrix squares the condition number) and its top
/// eigenvector found by [`top_eigenvectors`]. The literal reference (`reference::*::eigencam`:
/// power iteration on MᵀM in plain f64 loops) and the pytorch-grad-cam fixtures (NumPy's SVD)
/// check it.
pub fn first_component_projection(maps: &Tensor) -> Tensor {
    let (n, v, h, w) = maps.size4().expect("maps are [N, V, h, w]");
    let m = centred(maps);
    let md = m.to_kind(Kind::Double);
    let v1 = if v <= h * w {
        top_eigenvectors(&md.transpose(1, 2).matmul(&md))
    } else {
        let u1 = top_eigenvectors(&md.matmul(&md.transpose(1, 2)));
        let v1 = md.transpose(1, 2).matmul(&u1.unsqueeze(-1)).squeeze_dim(-1);
        let norm = v1.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-300);
        v1 / norm
    };
    let v1 = v1.to_kind(Kind::Float);
    let sign = v1.sum_dim_intlist(-1, true, Kind::Float).sign();
    let sign = sign.where_self(&sign.ne(0.0), &sign.ones_like());
    let v1 = v1 * sign;
    m.matmul(&v1.unsqueeze(-1)).squeeze_dim(-1).view([n, h, w])
}

/// M: each image's [V, h, w] maps as hw × V rows (NaN as 0), centred over the pixels (float32).
pub(crate) fn centred(maps: &Tensor) -> Tensor {
    let (n, v, h, w) = maps.size4().expect("maps are [N, V, h, w]");
    let m = maps
        .nan_to_num(0.0, None::<f64>, None::<f64>)
        .reshape([n, v, h * w])
        .transpose(1, 2);
    &m - m.mean_dim(1, true, Kind::Float)
}

/// Refuses maps whose centring overflows float32 (finite activations near 1e38, whose sum over
/// the pixels is not): the Gram matrix would be NaN and the eigensolver would fail inside
/// libtorch. `what` names the maps in the message.
pub(crate) fn ensure_projectable(maps: &Tensor, what: &str) -> Result<()> {
    if bool::try_from(centred(maps).isfinite().all()).unwrap_or(false) {
        return Ok(());
    }
    let largest = maps.abs().max().to_kind(Kind::Double).double_value(&[]);
    Err(crate::error::Error::input(
        format!(
            "{what} are too large for float32 arithmetic: their mean over the pixels overflows \
             (largest magnitude {largest:e}), so the principal component is undefined"
        ),
        "the explained layer",
        "scale the inputs to the range the model was trained on",
    ))
}

/// Columns of the block that [`subspace_iteration`] iterates.
const BLOCK: i64 = 8;
/// Squarings of the (trace-normalised) Gram matrix: the block iterates with G^(2^SQUARINGS).
const SQUARINGS: usize = 3;
/// Block iterations with that power before the convergence test.
const ITERATIONS: usize = 3;
/// The largest accepted bound on sin ∠(v, u₁) (the Davis–Kahan residual bound, below).
const SINE_TOLERANCE: f64 = 1e-7;

/// The top eigenvector of each symmetric positive semi-definite matrix of a batch [n, k, k]
/// (double precision), as [n, k]; its sign is left to the caller. [`subspace_iteration`] where it
/// provably converged, `eigh` for the rest.
///
/// Why not `eigh` alone: LAPACK's symmetric eigensolver on a batch of small matrices is one
/// library call per matrix and computes all k eigenpairs; on the small VGG (32 Gram matrices of
/// 64 × 64) it took longer than the network's forward pass.
pub fn top_eigenvectors(gram: &Tensor) -> Tensor {
    let (_, k, _) = gram.size3().expect("Gram matrices are [n, k, k]");
    if k <= 2 * BLOCK {
        return eigh_top(gram).1;
    }
    let (v, accepted) = subspace_iteration(gram);
    let rejected = accepted.logical_not().nonzero().squeeze_dim(-1);
    if rejected.size()[0] == 0 {
        return v;
    }
    v.index_copy(0, &rejected, &eigh_top(&gram.index_select(0, &rejected)).1)
}

/// Block subspace iteration for the top eigenvector of each matrix of a batch [n, k, k] of
/// symmetric positive semi-definite matrices (k > [`BLOCK`]): the vectors [n, k], and per matrix
/// whether the convergence test accepted its vector (bool \[n\]).
///
/// Power iteration converges at the rate λ₂/λ₁, which is up to 0.99 on real activations. A block
/// of [`BLOCK`] columns converges at λ₉/λ₁ instead (at most 0.075 on the small VGG's activations,
/// 0.33 on its gradient × activation maps), and iterating with P = G^8 (three squarings, each
/// normalised by the trace so nothing overflows) raises that rate to the 8th power per step:
/// [`ITERATIONS`] steps of Q ← qr(P Q) from a deterministic start (the all-ones vector, natural
/// for ReLU features, and fixed cosine patterns), then Rayleigh–Ritz with G itself: the top
/// eigenpair (θ₁, y) of QᵀGQ gives v = Qy.
///
/// Convergence test, per matrix: the residual r = ‖Gv − θ₁v‖ bounds the angle to the true top
/// eigenvector by sin ∠ ≤ r / δ, δ the distance from θ₁ to the rest of the spectrum (Davis–Kahan),
/// estimated by the Ritz gap θ₁ − θ₂; accepted when that bound is at most [`SINE_TOLERANCE`]. A
/// nearly repeated top eigenvalue or a slowly converging spectrum fails the test. An all-zero
/// matrix passes (r = 0) and its vector does not matter: M v = 0 for every v.
pub fn subspace_iteration(gram: &Tensor) -> (Tensor, Tensor) {
    let (_, k, _) = gram.size3().expect("Gram matrices are [n, k, k]");
    assert!(k > BLOCK, "subspace iteration needs more than {BLOCK} rows");
    let mut power = gram.shallow_clone();
    for _ in 0..SQUARINGS {
        let trace = power
            .diagonal(0, 1, 2)
            .sum_dim_intlist(-1, true, Kind::Double);
        let normalised = power / trace.clamp_min(f64::MIN_POSITIVE).unsqueeze(-1);
        power = normalised.matmul(&normalised);
    }
    let mut q = start_block(k).to_device(gram.device());
    for _ in 0..ITERATIONS {
        q = Tensor::linalg_qr(&power.matmul(&q), "reduced").0;
    }
    let (theta, y) = q.transpose(1, 2).matmul(gram).matmul(&q).linalg_eigh("L");
    let v = q
        .matmul(&y.select(2, BLOCK - 1).unsqueeze(-1))
        .squeeze_dim(-1);
    let (theta1, theta2) = (theta.select(1, BLOCK - 1), theta.select(1, BLOCK - 2));
    let av = gram.matmul(&v.unsqueeze(-1)).squeeze_dim(-1);
    let accepted = davis_kahan_accepts(&av, &v, &theta1, &theta2);
    (v, accepted)
}

/// The convergence test of an approximate top eigenpair (θ₁, v) of each matrix A of a batch,
/// given Av [n, k] and the next Ritz value θ₂ \[n\]: accepted (bool \[n\]) when the residual
/// ‖Av − θ₁v‖ is at most [`SINE_TOLERANCE`] times the Ritz gap θ₁ − θ₂, which bounds sin ∠(v, u₁)
/// by that tolerance (Davis–Kahan). Shared by EigenCAM's subspace iteration and KPCA-CAM's
/// Lanczos iteration.
pub(crate) fn davis_kahan_accepts(
    av: &Tensor,
    v: &Tensor,
    theta1: &Tensor,
    theta2: &Tensor,
) -> Tensor {
    let residual = (av - v * theta1.unsqueeze(-1)).norm_scalaropt_dim(2.0, [-1], false);
    residual.le_tensor(&((theta1 - theta2) * SINE_TOLERANCE))
}

/// The top eigenpair of each symmetric matrix of a batch [n, k, k] with `eigh` (all eigenpairs,
/// ascending): the largest eigenvalue \[n\] and its unit eigenvector [n, k].
pub(crate) fn eigh_top(matrices: &Tensor) -> (Tensor, Tensor) {
    let (values, vectors) = matrices.linalg_eigh("L");
    let last = matrices.size()[2] - 1;
    (values.select(1, last), vectors.select(2, last))
}

/// The deterministic start block [k, BLOCK]: cos(a·i·j + b·j), i.e. the all-ones column, then
/// cosine patterns (no column is orthogonal to a generic vector; the same block on every device).
pub(crate) fn start_block(k: i64) -> Tensor {
    let i = Tensor::arange(k, (Kind::Double, tch::Device::Cpu)).unsqueeze(1) + 1.0;
    let j = Tensor::arange(BLOCK, (Kind::Double, tch::Device::Cpu)).unsqueeze(0);
    (&i * &j * 0.754_877_666_2 + &j * 0.569_840_291).cos()
}

pub struct EigenCam;

impl CamMethod for EigenCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "eigencam"
    }
    fn title(&self) -> &str {
        "EigenCAM"
    }
    fn summary(&self) -> &str {
        "projection of the activations on their first principal component (class-agnostic)"
    }
    fn reference(&self) -> Option<&str> {
        Some("EigenCAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        ensure_projectable(ctx.activations, "EigenCAM: the activations")?;
        Ok(first_component_projection(ctx.activations))
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}

pub struct EigenGradCam;

impl CamMethod for EigenGradCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "eigengradcam"
    }
    fn title(&self) -> &str {
        "EigenGradCAM"
    }
    fn summary(&self) -> &str {
        "projection of gradient x activation on its first principal component"
    }
    fn reference(&self) -> Option<&str> {
        Some("EigenGradCAM")
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let maps = ctx.grads()? * ctx.activations;
        ensure_projectable(&maps, "EigenGradCAM: gradient x activations")?;
        Ok(first_component_projection(&maps))
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}

/// SegEigenCAM (Chung & Ying, "Seg-Eigen-CAM: Eigen-Value-Based Visual Explanations for Semantic
/// Segmentation Models", Applied Sciences 15(13):7562, 2025), pytorch-grad-cam's `SegEigenCAM`
/// on a classifier's target logit: the first-component projection of |g| ⊙ A, negated when its
/// smallest value is larger in magnitude than its largest (the paper's Eq. 13). That rule fixes
/// the sign whatever sign the SVD returned, so the method is not sign-ambiguous.
pub struct SegEigenCam;

impl CamMethod for SegEigenCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "segeigencam"
    }
    fn title(&self) -> &str {
        "SegEigenCAM"
    }
    fn summary(&self) -> &str {
        "projection of |gradient| x activation on its first principal component, signed so \
         that its largest magnitude is positive"
    }
    fn reference(&self) -> Option<&str> {
        Some("SegEigenCAM")
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let maps = ctx.grads()?.abs() * ctx.activations;
        ensure_projectable(&maps, "SegEigenCAM: |gradient| x activations")?;
        let projection = first_component_projection(&maps);
        let dims = [1i64, 2].as_slice();
        let flip = projection
            .amin(dims, true)
            .abs()
            .gt_tensor(&projection.amax(dims, true).abs());
        Ok(projection.where_self(&flip.logical_not(), &(-&projection)))
    }
}
