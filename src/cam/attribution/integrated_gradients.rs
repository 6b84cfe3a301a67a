//! Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
//! ICML 2017), with captum's semantics (`captum.attr.IntegratedGradients`, its default
//! `method="gausslegendre"`, `multiply_by_inputs=True`).
//!
//! attribution = (x − b) ⊙ Σ_k w_k ∂y_c/∂x (b + α_k (x − b)), with the S-point Gauss–Legendre
//! rule on [0, 1]: α_k = (1 + t_k)/2, w_k = u_k/2 for the nodes t_k and weights u_k on [−1, 1]
//! (numpy's `leggauss`, ascending); the baseline b is a constant image (0 by default).
//! raw map = Σ_channels attribution (signed; the final map reads its magnitude).
//!
//! Batched: the S scaled copies of a group of images are one batch, step-major as captum stacks
//! them, differentiated in chunks; each image's sum over the steps is its own.
use super::Attribution;
use super::super::CamContext;
use crate::error::Result;
use tch::{Kind, Tensor};

pub struct IntegratedGradients {
    /// Gauss–Legendre points S (captum's `n_steps`).
    pub steps: usize,
    /// The constant baseline image b.
    pub baseline: f64,
}

impl Default for IntegratedGradients {
    /// captum's defaults: 50 steps, the zero baseline.
    fn default() -> Self {
        IntegratedGradients {
            steps: 50,
            baseline: 0.0,
        }
    }
}

/// The S-point Gauss–Legendre nodes and weights on [−1, 1], nodes ascending: Newton's method on
/// the Legendre polynomial P_S from the Tricomi estimates, to machine precision (numpy's
/// `leggauss` gives the same to a few ulps). Written here: statrs has no quadrature rule.
pub fn gauss_legendre(s: usize) -> Vec<(f64, f64)> {
    let n = s as f64;
    let mut rule: Vec<(f64, f64)> = (1..=s)
        .map(|i| {
            let mut t = (std::f64::consts::PI * (i as f64 - 0.25) / (n + 0.5)).cos();
            let mut derivative = 1.0;
            for _ in 0..100 {
                // P_S(t) and P_S'(t) by the three-term recurrence.
                let (mut p0, mut p1) = (1.0, t);
                for k in 2..=s {
                    let k = k as f64;
                    (p0, p1) = (p1, ((2.0 * k - 1.0) * t * p1 - (k - 1.0) * p0) / k);
                }
                derivative = n * (t * p1 - p0) / (t * t - 1.0);
                let step = p1 / derivative;
                t -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            (t, 2.0 / ((1.0 - t * t) * derivative * derivative))
        })
        .collect();
    rule.sort_by(|a, b| a.0.total_cmp(&b.0));
    rule
}

impl Attribution for IntegratedGradients {
    fn name(&self) -> &str {
        "integrated-gradients"
    }
    fn title(&self) -> &str {
        "IntegratedGradients"
    }
    fn summary(&self) -> &str {
        "(x - baseline) times the gradient integrated along the straight path from a zero \
         baseline (50-point Gauss-Legendre), summed over channels (signed)"
    }
    fn captum_reference(&self) -> &str {
        "IntegratedGradients"
    }
    fn attribute(&self, ctx: &CamContext) -> Result<Tensor> {
        let x = ctx.input;
        let (n, s) = (x.size()[0], self.steps.max(1) as i64);
        let rule = gauss_legendre(s as usize);
        let device = x.device();
        // captum multiplies by the nodes as Python floats and the weights as a float32 tensor.
        let weights = Tensor::from_slice(
            &rule.iter().map(|&(_, u)| (0.5 * u) as f32).collect::<Vec<_>>(),
        )
        .to_device(device);
        let difference = x - self.baseline;
        // Images per group: S scaled copies of each go through the model together.
        let group = (256 / s).max(1);
        let mut parts = Vec::new();
        for start in (0..n).step_by(group as usize) {
            let len = group.min(n - start);
            let d = difference.narrow(0, start, len);
            let scaled: Vec<Tensor> =
                rule.iter().map(|&(t, _)| &d * (0.5 * (1.0 + t)) + self.baseline).collect();
            let scaled = Tensor::cat(&scaled, 0);
            let targets = ctx.targets.narrow(0, start, len).repeat([s]);
            let grads = super::gradients(ctx.model, &scaled, &targets)?;
            let total = (grads.contiguous().view([s, -1]) * weights.view([s, 1]))
                .view([s, len, -1])
                .sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
                .view_as(&d);
            parts.push(total * d);
        }
        Ok(Tensor::cat(&parts, 0))
    }
}
