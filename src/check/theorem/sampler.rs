//! The Monte Carlo sampler of Theorem 1: D weight draws of the rCNN as one batched model
//! ([`RcnnDraws`]), so one forward/backward through blindspot's own GradCAM gives D maps; per draw
//! the pixel-averaged GC / ‖m‖ behind the wall. Draw i is seeded by its stream's `at(i)` alone.
//! The stopping rule looks at fixed draw counts (`min_draws`, then every [`LOOK`] draws), never at
//! chunk boundaries: the chunks follow the device (and halve where it runs out of memory,
//! [`crate::device::halving`]), the draws kept do not.
use super::closed_form::geometry;
use crate::cam::{explain, gradcam::GradCam, CamMethod};
use crate::check::stats::{t_interval, Side};
use crate::error::Result;
use crate::model::rcnn::{RcnnConfig, RcnnDraws};
use crate::progress::Progress;
use crate::seed::Stream;
use tch::{Device, Kind, Tensor};

/// Draws between two looks of the stopping rule (after the first, at min_draws).
pub const LOOK: usize = 32;
/// Level of the interval that measures precision (not the decision's level).
const PRECISION_LEVEL: f64 = 0.95;

/// When the sampler stops: at the first look (`min_draws`, then every [`LOOK`]) where the
/// relative half-width is at most `relative_half_width`, or at `max_draws`.
#[derive(Debug, Clone, Copy)]
pub struct StoppingRule {
    pub min_draws: usize,
    pub max_draws: usize,
    pub relative_half_width: f64,
}

/// The half-width of the 95% Student-t interval of the mean, relative to the mean: the
/// measurement's precision.
pub fn relative_half_width(values: &[f64]) -> f64 {
    let s = t_interval(values, PRECISION_LEVEL, Side::TwoSided);
    (s.ci_high - s.ci_low) / 2.0 / s.mean.abs().max(1e-300)
}

/// The draws of one geometry on one input image.
pub struct Sampler<'a> {
    config: &'a RcnnConfig,
    /// The input image, [1, C, H, W].
    xi: &'a Tensor,
    draws: Stream,
    /// GradCAM of class 0 (the theorem's fixed class), else of the argmax class.
    fixed_class: bool,
    device: Device,
}

impl<'a> Sampler<'a> {
    pub fn new(
        config: &'a RcnnConfig,
        xi: &'a Tensor,
        draws: Stream,
        fixed_class: bool,
        device: Device,
    ) -> Self {
        Sampler {
            config,
            xi,
            draws,
            fixed_class,
            device,
        }
    }

    /// Per-draw statistics of draws `first..first + count`: (plain, control-variate) values of
    /// the pixel-averaged GC / ‖m‖.
    pub fn sample(&self, first: u64, count: i64) -> Result<(Vec<f64>, Vec<f64>)> {
        let (config, device) = (self.config, self.device);
        let g = geometry(config);
        let model = RcnnDraws::new(config.clone(), count, self.draws, first, device);
        let x = self.xi.to_device(device).expand(
            [count, config.in_channels, config.height, config.width],
            false,
        );
        let targets = self
            .fixed_class
            .then(|| Tensor::zeros([count], (Kind::Int64, device)));
        let e = explain(&GradCam as &dyn CamMethod, &model, &x, targets.as_ref())?;
        let norms = patch_norms(self.xi, config.kernel).to_device(device);
        let rows = g.dead_rows.end - g.dead_rows.start;
        let s = e.raw.narrow(1, g.dead_rows.start, rows)
            / norms.narrow(0, g.dead_rows.start, rows).unsqueeze(0);
        let per_draw = |t: Tensor| {
            let means = t.mean_dim([1, 2].as_slice(), false, Kind::Double);
            Vec::<f64>::try_from(means.to_device(Device::Cpu)).expect("values")
        };
        Ok((per_draw(s.relu()), per_draw(s.abs() * 0.5)))
    }

    /// Draws in chunks of at most `chunk` until `rule` stops: the statistic's values (the
    /// control variate's, or the plain ones) and the plain ones, both of exactly the draws the
    /// rule kept.
    pub fn until(
        &self,
        rule: &StoppingRule,
        control_variate: bool,
        chunk: i64,
        progress: &mut Progress,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let max_draws = rule.max_draws.max(rule.min_draws);
        let mut chunk = chunk.max(1);
        let (mut values, mut plain): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        let mut look = rule.min_draws.min(max_draws);
        let stop = loop {
            if values.len() >= look {
                let precise = relative_half_width(&values[..look]) <= rule.relative_half_width;
                if look >= max_draws || precise {
                    break look;
                }
                look = (look + LOOK).min(max_draws);
                continue;
            }
            let first = values.len() as u64;
            // Never past max_draws: the last chunk is cut to what remains.
            let remaining = (max_draws - values.len()) as i64;
            let context = "sampling the Monte Carlo's draws";
            let ((p, cv), _) = crate::device::halving(&mut chunk, remaining, context, |count| {
                self.sample(first, count)
            })?;
            values.extend(if control_variate { cv } else { p.clone() });
            plain.extend(p);
            progress.inc(0);
        };
        values.truncate(stop);
        plain.truncate(stop);
        Ok((values, plain))
    }
}

/// Draws per model (chunk) for V filters. On a CPU about 2,048 feature maps of 28×28 (6.4 MB per
/// [D, V, h, w] tensor): `make bench` at V = 512 measured 380, 379 and 391 draws/s in chunks of 4
/// over three runs, against 305, 376 and 370 in chunks of 8, 479, 311 and 332 in chunks of 1, and
/// 194–200 in chunks of 64 (tensors far out of cache). On a GPU, large chunks amortise the
/// per-call overhead: as many draws as fit in half the free memory at an estimated 32 bytes per
/// feature-map element (the conv output, its gradient, the pooling's values and int64 indices and
/// the map, in float32), up to 65,536 draws; 16,384 maps where the free memory cannot be read. A
/// chunk that still runs out of memory is halved and tried again. Neither the draws nor the
/// number kept depends on the chunking ([`LOOK`]).
pub fn chunk_draws(config: &RcnnConfig, device: Device) -> i64 {
    let (h, w) = config.map_size();
    let per_draw = (config.filters * h * w).max(1);
    // Budgets in 28×28 maps, the default geometry's.
    let budget = |maps: i64| (maps * 28 * 28 / per_draw).max(1);
    match device {
        Device::Cpu => budget(2_048),
        _ => crate::device::chunk_for_memory(
            device,
            32 * per_draw as u64,
            budget(16_384),
            (1, 65_536),
        ),
    }
}

/// ‖m_ij‖₂ of every C×k×k patch of a [1, C, H, W] image, [H − k + 1, W − k + 1].
pub fn patch_norms(xi: &Tensor, k: i64) -> Tensor {
    let ones = Tensor::ones([1, xi.size()[1], k, k], (Kind::Float, xi.device()));
    xi.square()
        .conv2d(&ones, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
        .sqrt()
        .squeeze_dim(0)
        .squeeze_dim(0)
}
