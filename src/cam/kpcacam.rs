//! KPCA-CAM (Karmani, Sivakaran, Prasad, Ali, Yang & Tang, "KPCA-CAM: Visual Explainability of
//! Deep Computer Vision Models using Kernel PCA", arXiv:2410.00267, 2024), with
//! pytorch-grad-cam 1.5.7's semantics (`KPCA_CAM`, kernel `sigmoid`, γ = 1/V).
//!
//! M = the activations reshaped to (hw × V) with NaN → 0 and every column centred (EigenCAM's
//! matrix); K = tanh(γ·M Mᵀ + 1), the sigmoid kernel between pixels (scikit-learn's default
//! γ = 1/V, coef0 = 1); K̃ = the centred kernel (I − 1/hw) K (I − 1/hw); cam = √λ₁ · u₁, the
//! first kernel principal component: λ₁ the largest eigenvalue of K̃ (a negative one counts as 0:
//! the map is then all zero) and u₁ its unit eigenvector, signed as scikit-learn's `KernelPCA`
//! signs it (`svd_flip`: the entry of largest magnitude positive, the first such entry on ties).
//! No gradients, no target: class-agnostic, like EigenCAM.
//!
//! K̃ is hw × hw per image and indefinite in general (the sigmoid kernel is not positive
//! semi-definite), so the largest eigenvalue is not the largest in magnitude and EigenCAM's
//! subspace iteration (which iterates with powers of the matrix) does not apply: up to 256
//! pixels a batched symmetric eigensolver (`eigh`), above that Lanczos iteration with a
//! convergence test and `eigh` where it fails ([`top_algebraic_eigenpairs`]; scikit-learn too
//! switches to ARPACK's Lanczos above 200 pixels), in double precision and in chunks of images
//! within the memory budget (each image's kernel is (hw)² doubles). Like EigenCAM's, the sign
//! is a convention, not evidence: the method declares itself sign-ambiguous and the checks judge
//! both signs (docs/checks.md, "Sign-ambiguous methods").
use super::eigencam::{centred, davis_kahan_accepts, eigh_top, ensure_projectable, start_block};
use super::{CamContext, CamMethod, Origin};
use crate::error::Result;
use tch::{Kind, Tensor};

/// Double-precision hw × hw matrices alive per image: the kernel, its centred copy, the
/// eigenvectors and LAPACK's workspace.
const MATRICES_PER_IMAGE: u128 = 4;

/// The first kernel principal component of each image's [V, h, w] map, as [N, h, w], in
/// chunks of images within the memory budget (each image's kernel is (hw)² doubles).
pub fn kernel_projection(maps: &Tensor) -> Result<Tensor> {
    let (n, _, h, w) = maps.size4().expect("maps are [N, V, h, w]");
    let pixels = (h * w) as u128;
    let chunk = crate::limits::items_within(
        "KPCA-CAM's kernel matrices",
        "the explained layer",
        MATRICES_PER_IMAGE * pixels * pixels * 8,
        n.max(1),
    )?;
    let parts: Vec<Tensor> = (0..n)
        .step_by(chunk as usize)
        .map(|start| kernel_component(&maps.narrow(0, start, chunk.min(n - start))))
        .collect();
    Ok(Tensor::cat(&parts, 0))
}

/// K̃ of each image's [V, h, w] map, [N, hw, hw] in double precision: the sigmoid kernel
/// tanh(M Mᵀ / V + 1) of the centred pixels M, centred (I − 1/hw) K (I − 1/hw).
pub fn centred_kernel(maps: &Tensor) -> Tensor {
    let v = maps.size()[1];
    let m = centred(maps).to_kind(Kind::Double);
    let kernel = (m.matmul(&m.transpose(1, 2)) / v as f64 + 1.0).tanh();
    let columns = kernel.mean_dim(1, true, Kind::Double);
    let rows = kernel.mean_dim(2, true, Kind::Double);
    let all = kernel.mean_dim([1i64, 2].as_slice(), true, Kind::Double);
    kernel - columns - rows + all
}

/// [`kernel_projection`] of one chunk.
fn kernel_component(maps: &Tensor) -> Tensor {
    let (n, _, h, w) = maps.size4().expect("maps are [N, V, h, w]");
    let (lambda, u) = top_algebraic_eigenpairs(&centred_kernel(maps));
    let lambda = lambda.clamp_min(0.0).unsqueeze(1);
    let largest = u.abs().argmax(1, true);
    let sign = u.gather(1, &largest, false).sign();
    let sign = sign.where_self(&sign.ne(0.0), &sign.ones_like());
    (u * sign * lambda.sqrt())
        .to_kind(maps.kind())
        .view([n, h, w])
}

/// Matrices of at most this order go straight to `eigh`.
const DIRECT: i64 = 256;
/// Lanczos steps per pass of [`lanczos`].
const LANCZOS_STEPS: i64 = 48;
/// Passes of [`lanczos`], each restarted from the previous pass's Ritz vector.
const PASSES: usize = 3;

/// The largest eigenvalue of each symmetric matrix of a batch [n, k, k] (double precision), and
/// its unit eigenvector [n, k] (sign left to the caller). Up to [`DIRECT`] rows by `eigh`;
/// larger ones by [`lanczos`] where its convergence test accepts the result, `eigh` for the
/// rest.
///
/// Why not `eigh` alone: it computes all k eigenpairs at O(k³); a 96 × 96 layer (the property
/// networks have them) has k = 9,216, minutes per image, where Lanczos needs a few dozen
/// products with the matrix.
pub fn top_algebraic_eigenpairs(matrices: &Tensor) -> (Tensor, Tensor) {
    let (_, k, _) = matrices.size3().expect("matrices are [n, k, k]");
    if k <= DIRECT {
        return eigh_top(matrices);
    }
    let (values, vectors, accepted) = lanczos(matrices);
    let rejected = accepted.logical_not().nonzero().squeeze_dim(-1);
    if rejected.size()[0] == 0 {
        return (values, vectors);
    }
    let (v, u) = eigh_top(&matrices.index_select(0, &rejected));
    (
        values.index_copy(0, &rejected, &v),
        vectors.index_copy(0, &rejected, &u),
    )
}

/// Lanczos iteration with full reorthogonalisation for the largest eigenpair of each symmetric
/// matrix of a batch [n, k, k], k > [`LANCZOS_STEPS`]: the Ritz values \[n\], vectors [n, k], and
/// per matrix whether the convergence test accepted its pair (bool \[n\]).
///
/// Each pass builds an orthonormal Krylov basis Q of [`LANCZOS_STEPS`] columns (every new
/// column orthogonalised twice against all earlier ones, classical Gram–Schmidt: no ghost
/// copies of converged vectors) from a deterministic start (a cosine pattern: not the all-ones
/// vector, which a centred kernel maps to 0), then Rayleigh–Ritz: the largest eigenpair (θ₁, y)
/// of QᵀAQ gives v = Qy, the start of the next pass. Ritz values converge to both ends of the
/// spectrum, so the largest one is the largest eigenvalue, not the largest in magnitude.
/// Accepted by EigenCAM's test (`davis_kahan_accepts`: the residual ‖Av − θ₁v‖ at most 1e-7
/// times the Ritz gap θ₁ − θ₂); an all-zero matrix is accepted with
/// θ₁ = 0. A basis that runs out of directions (an invariant subspace found early) continues
/// with zero columns, which add nothing to the Ritz problem.
pub fn lanczos(matrices: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (n, k, _) = matrices.size3().expect("matrices are [n, k, k]");
    // EigenCAM's first cosine column (its column 0 is the all-ones vector).
    let mut start = start_block(k)
        .select(1, 1)
        .to_device(matrices.device())
        .expand([n, k], true);
    let mut result = None;
    for _ in 0..PASSES {
        let mut basis: Vec<Tensor> = Vec::with_capacity(LANCZOS_STEPS as usize);
        let mut q = unit(&start);
        for _ in 0..LANCZOS_STEPS {
            let mut next = matrices.matmul(&q.unsqueeze(-1)).squeeze_dim(-1);
            basis.push(q);
            let so_far = Tensor::stack(&basis, 2);
            for _ in 0..2 {
                let overlap = so_far
                    .transpose(1, 2)
                    .matmul(&next.unsqueeze(-1));
                next -= so_far.matmul(&overlap).squeeze_dim(-1);
            }
            q = unit(&next);
        }
        let basis = Tensor::stack(&basis, 2);
        let image = matrices.matmul(&basis);
        let small = basis.transpose(1, 2).matmul(&image);
        let small = (&small + small.transpose(1, 2)) * 0.5;
        let (theta, y) = small.linalg_eigh("L");
        let top = y.select(2, LANCZOS_STEPS - 1).unsqueeze(-1);
        let v = basis.matmul(&top).squeeze_dim(-1);
        let (theta1, theta2) = (
            theta.select(1, LANCZOS_STEPS - 1),
            theta.select(1, LANCZOS_STEPS - 2),
        );
        let av = image.matmul(&top).squeeze_dim(-1);
        let accepted = davis_kahan_accepts(&av, &v, &theta1, &theta2);
        start = v.shallow_clone();
        let done = bool::try_from(accepted.all()).unwrap_or(false);
        result = Some((theta1, v, accepted));
        if done {
            break;
        }
    }
    result.expect("at least one pass")
}

/// Each row of [n, k] divided by its norm; a zero row stays zero.
fn unit(rows: &Tensor) -> Tensor {
    let norm = rows.norm_scalaropt_dim(2.0, [-1], true);
    let safe = norm.where_self(&norm.gt(1e-300), &norm.ones_like());
    (rows / safe) * norm.gt(1e-300).to_kind(rows.kind())
}

pub struct KpcaCam;

impl CamMethod for KpcaCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "kpca-cam"
    }
    fn title(&self) -> &str {
        "KPCA-CAM"
    }
    fn summary(&self) -> &str {
        "first kernel principal component (sigmoid kernel) of the activations \
         (class-agnostic)"
    }
    fn reference(&self) -> Option<&str> {
        Some("KPCA_CAM")
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        ensure_projectable(ctx.activations, "KPCA-CAM: the activations")?;
        kernel_projection(ctx.activations)
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}
