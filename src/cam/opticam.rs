//! Opti-CAM (Zhang, Hanwei et al., "Opti-CAM: Optimizing saliency maps for interpretability",
//! Computer Vision and Image Understanding, 2024).
//!
//! Channel weights u ∈ R^V (initialised to 0.5) give α = softmax(u);
//! S = Σ_k α_k ReLU(A_k), bilinearly upsampled to the input size (align_corners = false) and
//! min–max normalised per image: Ŝ = (S − min S) / (max S − min S + 1e-7);
//! u is optimised with Adam (β = (0.9, 0.999), ε = 1e-8) to minimise y_c(x) − y_c(x ⊙ Ŝ), i.e.
//! to maximise the target logit of the masked input. Every `iterations / 10` steps the loss is
//! checked; an image whose loss went up since the previous check stops there (its weights freeze).
//! The raw map is Σ_k α_k ReLU(A_k) at feature resolution with the final α.
//!
//! Defaults follow the reference implementation's command line: 50 iterations, learning rate 0.1.
//! Batched: all N images are optimised together (Adam is per parameter and the loss is a sum over
//! images, so each image follows exactly the trajectory it would follow alone).
//!
//! In float64 where the model offers a float64 copy ([`SplitModel::to_double`]: the built-in
//! VGGs, walled or not): Adam's normalised steps at a learning rate of 0.1 amplify rounding
//! chaotically (measured in float32: losses 1e-6 apart at step 10 are 3e-2 apart at step 30, and
//! maps differ by up to 0.11 between instruction sets), so float32 maps depend on the machine's
//! kernels; float64 starts that growth nine orders of magnitude lower (docs/precision.md has the
//! spread before and after). Other models compute in float32.
use super::{target_scores, weighted_sum, CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use crate::model::SplitModel;
use tch::{Device, Kind, Tensor};

pub struct OptiCam {
    pub iterations: i64,
    pub learning_rate: f64,
}

impl Default for OptiCam {
    fn default() -> Self {
        OptiCam {
            iterations: 50,
            learning_rate: 0.1,
        }
    }
}

/// Ŝ for channel weights `u` [N, V]: softmax, weighted ReLU(A) sum, upsample, min–max.
pub fn opticam_mask(u: &Tensor, relu_a: &Tensor, height: i64, width: i64) -> Tensor {
    let s = weighted_sum(&u.softmax(-1, u.kind()), relu_a).unsqueeze(1);
    let s = s.upsample_bilinear2d([height, width], false, None, None);
    let lo = s.amin([1, 2, 3].as_slice(), true);
    let hi = s.amax([1, 2, 3].as_slice(), true);
    (&s - &lo) / (hi - lo + 1e-7)
}

impl CamMethod for OptiCam {
    fn origin(&self) -> Origin {
        Origin::BuiltIn
    }
    fn name(&self) -> &str {
        "opticam"
    }
    fn title(&self) -> &str {
        "Opti-CAM"
    }
    fn summary(&self) -> &str {
        "softmax channel weights optimised with Adam to maximise the target logit of the \
         masked input"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let Some(double) = ctx.model.to_double()? else {
            let original = target_scores(ctx.logits, ctx.targets);
            let relu_a = ctx.activations.relu();
            return self.optimise(ctx.model, ctx.input, &relu_a, &original, ctx.targets);
        };
        // In float64, the activations and the target scores are the float64 model's too: float32
        // activations alone carry the kernels' rounding into the optimisation.
        let n = ctx.input.size()[0];
        let chunk = match ctx.input.device() {
            Device::Cpu => CPU_DOUBLE_CHUNK,
            _ => n.max(1),
        };
        let mut maps = Vec::new();
        for start in (0..n).step_by(chunk as usize) {
            let len = chunk.min(n - start);
            let input = ctx.input.narrow(0, start, len).to_kind(Kind::Double);
            let targets = ctx.targets.narrow(0, start, len);
            let a = tch::no_grad(|| double.features(&input))?;
            let logits = tch::no_grad(|| double.head(&a))?;
            let original = target_scores(&logits, &targets);
            let relu_a = double.to_grid(&a)?.relu();
            maps.push(self.optimise(double.as_ref(), &input, &relu_a, &original, &targets)?);
        }
        Ok(Tensor::cat(&maps, 0))
    }
}

/// Images per float64 optimisation on a CPU. Measured on 64 STACK-SYNTH images
/// (`builtin:stack-masked`, 2 threads): 4, 8, 16, 32, 64 images at a time took 8.2, 7.1, 7.3,
/// 8.8, 11.4 s, with bitwise the same maps (the images are optimised independently).
const CPU_DOUBLE_CHUNK: i64 = 16;

impl OptiCam {
    /// Adam on the channel weights of the images of `input` (in its kind, float32 or float64),
    /// given ReLU(A) and the unmasked target scores; the raw maps, as float32.
    fn optimise(
        &self,
        model: &dyn SplitModel,
        input: &Tensor,
        relu_a: &Tensor,
        original: &Tensor,
        targets: &Tensor,
    ) -> Result<Tensor> {
        let kind = input.kind();
        let (n, v, _, _) = relu_a.size4().expect("activations are [N, V, h, w]");
        let (height, width) = (input.size()[2], input.size()[3]);
        let options = (kind, input.device());
        let mut u = Tensor::full([n, v], 0.5, options);
        let (mut m, mut s) = (
            Tensor::zeros([n, v], options),
            Tensor::zeros([n, v], options),
        );
        let mut active = Tensor::ones([n, 1], options);
        let mut last_check: Option<Tensor> = None;
        let check_every = (self.iterations / 10).max(1);
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        for step in 1..=self.iterations {
            crate::progress::poll(|| format!("Opti-CAM's step {step}"))?;
            let leaf = u.detach().set_requires_grad(true);
            let mask = opticam_mask(&leaf, relu_a, height, width);
            let logits = model.forward(&(input * mask))?;
            let loss = original - target_scores(&logits, targets);
            let grad = crate::model::gradient(&loss.sum(kind), &leaf).map_err(|e| {
                Error::model(
                    format!("cannot differentiate Opti-CAM's objective: {e}"),
                    model.name(),
                    "the model must compute its logits from its input with differentiable \
                     operations",
                )
            })?;
            let loss = loss.detach();
            if step % check_every == 0 {
                if let Some(previous) = &last_check {
                    active *= loss.le_tensor(previous).to_kind(kind).unsqueeze(1);
                }
                last_check = Some(loss);
            }
            let grad = grad * &active;
            m = &m * beta1 + &grad * (1.0 - beta1);
            s = &s * beta2 + &grad * &grad * (1.0 - beta2);
            let m_hat = &m / (1.0 - beta1.powi(step as i32));
            let s_hat = &s / (1.0 - beta2.powi(step as i32));
            u = &u - m_hat / (s_hat.sqrt() + eps) * self.learning_rate * &active;
        }
        Ok(weighted_sum(&u.softmax(-1, kind), relu_a).to_kind(Kind::Float))
    }
}
