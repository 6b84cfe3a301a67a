//! EigenCAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
//! IJCNN 2020) and EigenGradCAM (pytorch-grad-cam's gradient-weighted variant).
//!
//! M = the map reshaped to (hw × V) with NaN → 0 and every column centred; M = UΣVᵀ;
//! cam = M v₁ (projection on the first right singular vector; computed from the smaller Gram
//! matrix with `eigh`, see [`first_component_projection`]). EigenCAM uses M = A
//! (class-agnostic); EigenGradCAM uses M = g ⊙ A.
//!
//! Sign convention: an SVD's sign is arbitrary (pytorch-grad-cam keeps whatever LAPACK returns),
//! so both methods declare themselves sign-ambiguous and every check judges both signs
//! (`Negated`), keeping the worse verdict.
//! blindspot flips v₁ so that Σ_k v₁(k) ≥ 0, which is the same as asking the projection to
//! correlate non-negatively with the centred channel-sum map (since M·1 · Mv₁ = σ₁² Σ_k v₁(k)).
//! Deterministic, and on ReLU features it points the map at where the activations are.
use super::{CamContext, CamMethod};
use crate::error::Result;
use tch::{Kind, Tensor};

/// First-principal-component projection of each image's [V, h, w] map, with blindspot's sign.
///
/// Not through a batched SVD: the first right singular vector v₁ of the centred M (hw × V) is the
/// top eigenvector of the V × V Gram matrix MᵀM, and when hw < V it is Mᵀu₁/‖Mᵀu₁‖ for the top
/// eigenvector u₁ of the hw × hw matrix MMᵀ — whichever is smaller is formed (one batched
/// matmul) and decomposed with `eigh`, in double precision because a Gram matrix squares the
/// condition number. The literal reference (`reference::*::eigencam`: power iteration on MᵀM in
/// plain f64 loops) and the pytorch-grad-cam fixtures (NumPy's SVD) check it.
pub fn first_component_projection(maps: &Tensor) -> Tensor {
    let (n, v, h, w) = maps.size4().expect("maps are [N, V, h, w]");
    let m = maps
        .nan_to_num(0.0, None::<f64>, None::<f64>)
        .reshape([n, v, h * w])
        .transpose(1, 2);
    let m = &m - m.mean_dim(1, true, Kind::Float);
    let md = m.to_kind(Kind::Double);
    let top = |gram: &Tensor| {
        let (_, vectors) = gram.linalg_eigh("L");
        // eigh sorts the eigenvalues in ascending order: the last column is the largest.
        vectors.select(2, gram.size()[2] - 1)
    };
    let v1 = if v <= h * w {
        top(&md.transpose(1, 2).matmul(&md))
    } else {
        let u1 = top(&md.matmul(&md.transpose(1, 2)));
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

pub struct EigenCam;

impl CamMethod for EigenCam {
    fn name(&self) -> &str {
        "eigencam"
    }
    fn title(&self) -> &str {
        "EigenCAM"
    }
    fn summary(&self) -> &str {
        "projection of the activations on their first principal component (class-agnostic)"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(first_component_projection(ctx.activations))
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}

pub struct EigenGradCam;

impl CamMethod for EigenGradCam {
    fn name(&self) -> &str {
        "eigengradcam"
    }
    fn title(&self) -> &str {
        "EigenGradCAM"
    }
    fn summary(&self) -> &str {
        "projection of gradient x activation on its first principal component"
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        Ok(first_component_projection(
            &(ctx.grads()? * ctx.activations),
        ))
    }
    fn sign_ambiguous(&self) -> bool {
        true
    }
}
