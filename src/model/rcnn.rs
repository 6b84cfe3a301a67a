//! The simple CNN of Theorem 1 (Taimeskhanov, Sicre & Garreau, ECML-PKDD 2024, §3):
//! input ξ (C×H×W) → conv with V filters of size k×k, no bias → ReLU → B ∈ R^{V×h×w}
//! (the explained layer, h = H−k+1) → 2×2 max-pool → one dense layer without bias → K logits.
//! All weights i.i.d. N(0, τ²). Masked: the dense weights that read the bottom half of the pooled
//! rows are zero, so the bottom of the input cannot influence any logit.
use super::init::Init;
use super::SplitModel;
use crate::error::Result;
use crate::seed::Stream;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// The rCNN's shape. The default is the authors' notebook instance: 29×29 one-channel input,
/// V = 256 filters of 2×2, 28×28 maps, 14×14 after pooling, 10 classes, τ = 1, pooled rows 7..13
/// dead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RcnnConfig {
    pub in_channels: i64,
    pub filters: i64,
    pub kernel: i64,
    pub height: i64,
    pub width: i64,
    pub classes: i64,
    pub tau: f64,
    /// Zero the dense weights of the bottom pooled rows: `wall_rows` of them, or ⌈h'/2⌉ (rows
    /// h'/2.. with h' the pooled height) when `wall_rows` is None.
    pub masked: bool,
    /// How many bottom pooled rows the wall hides (the theorem's property runs vary it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_rows: Option<i64>,
}

impl Default for RcnnConfig {
    fn default() -> Self {
        RcnnConfig {
            in_channels: 1,
            filters: 256,
            kernel: 2,
            height: 29,
            width: 29,
            classes: 10,
            tau: 1.0,
            masked: true,
            wall_rows: None,
        }
    }
}

impl RcnnConfig {
    /// Size of the explained layer B: (h, w) = (H − k + 1, W − k + 1).
    pub fn map_size(&self) -> (i64, i64) {
        (self.height - self.kernel + 1, self.width - self.kernel + 1)
    }

    /// Size after the 2×2 max-pool: (h', w') = (⌊h/2⌋, ⌊w/2⌋).
    pub fn pooled_size(&self) -> (i64, i64) {
        let (h, w) = self.map_size();
        (h / 2, w / 2)
    }

    /// The pooled rows whose dense weights are zero when masked: h'/2 .. h' (the talk's
    /// W[:, −h'/2:, :, :] = 0).
    pub fn dead_pooled_rows(&self) -> std::ops::Range<i64> {
        let (hp, _) = self.pooled_size();
        match (self.masked, self.wall_rows) {
            (false, _) => hp..hp,
            (true, Some(n)) => (hp - n).clamp(0, hp)..hp,
            (true, None) => hp / 2..hp,
        }
    }
}

/// A 0/1 mask over the flattened (channel, row, column) inputs of a dense layer that zeroes the
/// given rows of every channel (PyTorch's channel-major flatten order).
pub fn row_mask(
    channels: i64,
    height: i64,
    width: i64,
    dead_rows: std::ops::Range<i64>,
    device: Device,
) -> Tensor {
    let rows: Vec<f32> = (0..height)
        .map(|r| if dead_rows.contains(&r) { 0.0 } else { 1.0 })
        .collect();
    Tensor::from_slice(&rows)
        .to_device(device)
        .view([1, height, 1])
        .expand([channels, height, width], false)
        .reshape([channels * height * width])
}

/// The rCNN with one fixed weight draw.
pub struct Rcnn {
    pub config: RcnnConfig,
    /// Conv filters [V, C, k, k].
    pub conv: Tensor,
    /// Dense weights [K, V·h'·w'] (masked columns already zero).
    pub dense: Tensor,
    device: Device,
}

impl Rcnn {
    /// Draws every weight i.i.d. N(0, τ²) from `seed`, then applies the mask.
    pub fn new(config: RcnnConfig, seed: u64, device: Device) -> Self {
        let mut init = Init::new(seed, device);
        let (hp, wp) = config.pooled_size();
        let conv = init.normal(
            &[
                config.filters,
                config.in_channels,
                config.kernel,
                config.kernel,
            ],
            config.tau,
        );
        let dense = init.normal(&[config.classes, config.filters * hp * wp], config.tau);
        let mask = row_mask(config.filters, hp, wp, config.dead_pooled_rows(), device);
        let dense = dense * mask.unsqueeze(0);
        Rcnn {
            config,
            conv,
            dense,
            device,
        }
    }
}

impl SplitModel for Rcnn {
    fn name(&self) -> String {
        format!(
            "builtin:rcnn(V={}, k={})",
            self.config.filters, self.config.kernel
        )
    }

    fn device(&self) -> Device {
        self.device
    }

    fn input_channels(&self) -> Option<i64> {
        Some(self.config.in_channels)
    }

    fn input_size(&self) -> Option<(i64, i64)> {
        Some((self.config.height, self.config.width))
    }

    fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(
            x.conv2d(&self.conv, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
                .relu(),
        )
    }

    fn head(&self, a: &Tensor) -> Result<Tensor> {
        let pooled = a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        Ok(pooled.flatten(1, -1).matmul(&self.dense.tr()))
    }

    fn steps(&self) -> Option<super::Steps<'_>> {
        use super::Step;
        Some(super::Steps {
            features: vec![
                Step::map(|x| x.conv2d(&self.conv, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)),
                Step::Relu,
            ],
            head: vec![Step::map(|a| {
                let pooled = a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
                pooled.flatten(1, -1).matmul(&self.dense.tr())
            })],
        })
    }

    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        Some((
            serde_json::json!({"kind": "rcnn", "config": self.config}),
            vec![
                ("conv.weight".into(), self.conv.shallow_clone()),
                ("dense.weight".into(), self.dense.shallow_clone()),
            ],
        ))
    }

    fn parameter_groups(&self) -> Result<Vec<super::ParameterGroup>> {
        Ok(vec![
            super::ParameterGroup {
                layer: "conv".into(),
                parameters: vec![("conv.weight".into(), self.conv.shallow_clone())],
                head_only: false,
            },
            super::ParameterGroup {
                layer: "dense".into(),
                parameters: vec![("dense.weight".into(), self.dense.shallow_clone())],
                head_only: true,
            },
        ])
    }
}

/// D independent weight draws of the rCNN as one split model: batch element d goes through
/// weight set d. The features are one grouped convolution (group d = image d with filters d),
/// computed as a batched matrix product of each image's k×k patches with its own filter bank
/// (about 5× faster on a CPU than libtorch's grouped `conv2d` for these shapes), and the head is
/// one batched matrix product, so a single forward/backward gives D GradCAM maps (Theorem 1's
/// Monte Carlo). The head pools only the rows its live dense weights read: the masked rows' weights
/// are exactly zero, so their pooled values would only be multiplied by zero (same logits, same
/// gradient, half the max-pool work).
pub struct RcnnDraws {
    pub config: RcnnConfig,
    pub draws: i64,
    /// Conv filters of every draw, [D, V, C·k·k].
    conv: Tensor,
    /// Dense weights of every draw on the live pooled rows, [D, K, V·live·w'].
    dense: Tensor,
    /// Live pooled rows (0..live); the masked ones below carry zero weights.
    live_rows: i64,
    device: Device,
}

impl RcnnDraws {
    /// Draws `draws` weight sets i.i.d. N(0, τ²): draw d comes from sub-stream `first + d` of
    /// `stream` alone, so how a run is cut into chunks (which depends on the device) never
    /// changes the draws. Only the live dense columns are drawn; the masked ones are exactly zero.
    pub fn new(config: RcnnConfig, draws: i64, stream: Stream, first: u64, device: Device) -> Self {
        let (v, c, k, classes) = (
            config.filters,
            config.in_channels,
            config.kernel,
            config.classes,
        );
        let (hp, wp) = config.pooled_size();
        let dead = config.dead_pooled_rows();
        let live_rows = hp - (dead.end - dead.start);
        // Each draw's weights come from its own sub-stream, so the draws are sampled in parallel
        // (one thread per core, into one buffer) with the same values as one after another.
        let (conv_len, dense_len) = (v * c * k * k, classes * v * live_rows * wp);
        let per_draw = (conv_len + dense_len) as usize;
        let mut data = vec![0.0f32; per_draw * draws.max(0) as usize];
        let fill = |d: usize, slot: &mut [f32]| {
            let mut init = Init::new(stream.at(first + d as u64).seed(), Device::Cpu);
            let (conv, dense) = slot.split_at_mut(conv_len as usize);
            init.fill_normal(conv, config.tau);
            init.fill_normal(dense, config.tau);
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_worker = (draws.max(1) as usize).div_ceil(workers);
        if workers == 1 || draws <= 1 {
            for (d, slot) in data.chunks_mut(per_draw).enumerate() {
                fill(d, slot);
            }
        } else {
            std::thread::scope(|scope| {
                for (w, block) in data.chunks_mut(per_draw * per_worker).enumerate() {
                    let fill = &fill;
                    scope.spawn(move || {
                        for (i, slot) in block.chunks_mut(per_draw).enumerate() {
                            fill(w * per_worker + i, slot);
                        }
                    });
                }
            });
        }
        let all = Tensor::from_slice(&data).view([draws, per_draw as i64]);
        let conv = all
            .narrow(1, 0, conv_len)
            .reshape([draws, v, c * k * k])
            .to_device(device);
        let dense = all
            .narrow(1, conv_len, dense_len)
            .reshape([draws, classes, v * live_rows * wp])
            .to_device(device);
        RcnnDraws {
            config,
            draws,
            conv,
            dense,
            live_rows,
            device,
        }
    }

    /// The conv filters [D, V, C·k·k] and the live dense weights [D, K, V·live·w'] of every draw.
    #[cfg(feature = "internals")]
    pub fn weights(&self) -> (&Tensor, &Tensor) {
        (&self.conv, &self.dense)
    }

    /// The same D draws as D separate [`Rcnn`] models (full dense matrices with zero masked
    /// columns): the reference the batched model is tested against.
    #[cfg(feature = "internals")]
    pub fn unbatched(&self) -> Vec<Rcnn> {
        let c = &self.config;
        let (hp, wp) = c.pooled_size();
        (0..self.draws)
            .map(|d| {
                let live = self
                    .dense
                    .get(d)
                    .view([c.classes, c.filters, self.live_rows, wp]);
                let zeros = Tensor::zeros(
                    [c.classes, c.filters, hp - self.live_rows, wp],
                    (tch::Kind::Float, self.device),
                );
                Rcnn {
                    config: c.clone(),
                    conv: self
                        .conv
                        .get(d)
                        .view([c.filters, c.in_channels, c.kernel, c.kernel]),
                    dense: Tensor::cat(&[live, zeros], 2).view([c.classes, c.filters * hp * wp]),
                    device: self.device,
                }
            })
            .collect()
    }
}

impl SplitModel for RcnnDraws {
    fn name(&self) -> String {
        format!(
            "builtin:rcnn x{} draws (V={}, k={})",
            self.draws, self.config.filters, self.config.kernel
        )
    }

    fn device(&self) -> Device {
        self.device
    }

    fn input_channels(&self) -> Option<i64> {
        Some(self.config.in_channels)
    }

    fn input_size(&self) -> Option<(i64, i64)> {
        Some((self.config.height, self.config.width))
    }

    /// x: [D, C, H, W], image d for draw d.
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let d = x.size()[0];
        let k = self.config.kernel;
        let patches = x.im2col([k, k], [1, 1], [0, 0], [1, 1]); // [D, C·k·k, h·w]
        let (mh, mw) = self.config.map_size();
        let mut b = self
            .conv
            .bmm(&patches)
            .view([d, self.config.filters, mh, mw]);
        let _ = b.relu_(); // in place: bmm's backward does not need its output
        Ok(b)
    }

    fn head(&self, a: &Tensor) -> Result<Tensor> {
        let live = a.narrow(2, 0, 2 * self.live_rows);
        let pooled = live
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .flatten(1, -1);
        Ok(self.dense.bmm(&pooled.unsqueeze(-1)).squeeze_dim(-1))
    }
}
