//! VGG-style split models: a stack of 3×3 convolutions (optionally with BatchNorm) and 2×2
//! max-pools whose last ReLU is the explained layer, then a flatten + dense classifier.
//!
//! Two presets: [`VggConfig::small`], a network that trains on a CPU in seconds, and
//! [`VggConfig::vgg16_masked`], the paper's masked VGG16 (§5): torchvision's VGG16 without its last
//! max-pool and adaptive pool, conv5_3 replaced by 512→256, the first dense layer reading 256·14·14
//! features with the weights of feature rows 5..13 zeroed. Parameter names follow torchvision
//! (`features.28.weight`, `classifier.0.weight`, …) so converted checkpoints load unchanged.
use super::init::Init;
use super::rcnn::row_mask;
use super::SplitModel;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// One entry of a VGG feature configuration: a 3×3 conv with this many output channels, or a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VggLayer {
    Conv(i64),
    Pool(PoolTag),
}

/// Serialises as the string "M", like torchvision's cfgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolTag {
    M,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VggConfig {
    pub in_channels: i64,
    pub height: i64,
    pub width: i64,
    pub layers: Vec<VggLayer>,
    pub batch_norm: bool,
    /// Widths of the hidden dense layers (each followed by ReLU and dropout).
    pub hidden: Vec<i64>,
    pub dropout: f64,
    pub classes: i64,
    /// Feature-map rows [start, end) whose first-dense-layer weights are zero (the wall).
    pub dead_rows: Option<(i64, i64)>,
}

impl VggConfig {
    /// The small VGG-style network for 64×64 RGB STACK-SYNTH images: 8×8×64 explained layer.
    pub fn small(classes: i64, dead_rows: Option<(i64, i64)>) -> Self {
        use VggLayer::*;
        VggConfig {
            in_channels: 3,
            height: 64,
            width: 64,
            layers: vec![
                Conv(16),
                Pool(PoolTag::M),
                Conv(32),
                Pool(PoolTag::M),
                Conv(64),
                Pool(PoolTag::M),
                Conv(64),
            ],
            batch_norm: true,
            hidden: vec![128],
            dropout: 0.3,
            classes,
            dead_rows,
        }
    }

    /// The paper's masked VGG16 at 224×224, 1000 classes, feature rows 5..13 dead (or none for the
    /// baseline).
    pub fn vgg16_masked(masked: bool) -> Self {
        use VggLayer::*;
        let m = Pool(PoolTag::M);
        VggConfig {
            in_channels: 3,
            height: 224,
            width: 224,
            layers: vec![
                Conv(64),
                Conv(64),
                m,
                Conv(128),
                Conv(128),
                m,
                Conv(256),
                Conv(256),
                Conv(256),
                m,
                Conv(512),
                Conv(512),
                Conv(512),
                m,
                Conv(512),
                Conv(512),
                Conv(256),
            ],
            batch_norm: false,
            hidden: vec![4096, 4096],
            dropout: 0.5,
            classes: 1000,
            dead_rows: masked.then_some((5, 14)),
        }
    }

    /// Shape of the explained layer (V, h, w).
    pub fn feature_shape(&self) -> (i64, i64, i64) {
        let (mut c, mut h, mut w) = (self.in_channels, self.height, self.width);
        for layer in &self.layers {
            match layer {
                VggLayer::Conv(out) => c = *out,
                VggLayer::Pool(_) => {
                    h /= 2;
                    w /= 2;
                }
            }
        }
        (c, h, w)
    }

    /// Floating-point operations of one forward pass of one image (2 per multiply–add of the
    /// convolutions and dense layers; pools, ReLUs and BatchNorm are not counted): what bounds
    /// the perturbation methods, which run the model once per channel.
    #[cfg(feature = "internals")]
    pub fn forward_flops(&self) -> f64 {
        let (mut c, mut h, mut w) = (self.in_channels, self.height, self.width);
        let mut flops = 0.0;
        for layer in &self.layers {
            match layer {
                VggLayer::Conv(out) => {
                    flops += 2.0 * (c * out * 9 * h * w) as f64;
                    c = *out;
                }
                VggLayer::Pool(_) => {
                    h /= 2;
                    w /= 2;
                }
            }
        }
        let mut fan_in = c * h * w;
        for &out in self.hidden.iter().chain(std::iter::once(&self.classes)) {
            flops += 2.0 * (fan_in * out) as f64;
            fan_in = out;
        }
        flops
    }
}

struct Conv {
    weight: Tensor,
    bias: Tensor,
    bn: Option<BatchNorm>,
}

struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

enum Block {
    Conv(Conv),
    Pool,
}

/// A VGG-style network with its parameters in a [`VarStore`].
pub struct Vgg {
    pub config: VggConfig,
    pub vs: VarStore,
    blocks: Vec<Block>,
    linears: Vec<(Tensor, Tensor)>,
    mask: Option<Tensor>,
    label: String,
    /// SHA-256 of the weights file last loaded.
    weights_sha256: Option<String>,
}

impl Vgg {
    /// A randomly initialised network (torchvision's init: Kaiming-normal convs, N(0, 0.01) dense).
    pub fn new(config: VggConfig, label: &str, seed: u64, device: Device) -> Self {
        Self::build(config, label, device, Some(&mut Init::new(seed, device)))
    }

    /// A network whose weights are about to be loaded: zeros, without drawing random numbers.
    pub fn for_loading(config: VggConfig, label: &str, device: Device) -> Self {
        Self::build(config, label, device, None)
    }

    fn build(config: VggConfig, label: &str, device: Device, mut init: Option<&mut Init>) -> Self {
        let vs = VarStore::new(device);
        let zeros = Init::new(0, device);
        let mut draw = |shape: &[i64], kaiming: bool| match init.as_deref_mut() {
            Some(init) if kaiming => init.kaiming_fan_out(shape),
            Some(init) => init.normal(shape, 0.01),
            None => zeros.zeros(shape),
        };
        let root = vs.root();
        let features = &root / "features";
        let mut blocks = Vec::new();
        let (mut c, mut index) = (config.in_channels, 0usize);
        for layer in &config.layers {
            match *layer {
                VggLayer::Conv(out) => {
                    let p = &features / index;
                    let weight = p.var_copy("weight", &draw(&[out, c, 3, 3], true));
                    let bias = p.var_copy("bias", &zeros.zeros(&[out]));
                    index += 1;
                    let bn = config.batch_norm.then(|| {
                        let p = &features / index;
                        index += 1;
                        BatchNorm {
                            weight: p.var_copy("weight", &zeros.ones(&[out])),
                            bias: p.var_copy("bias", &zeros.zeros(&[out])),
                            running_mean: p.zeros_no_train("running_mean", &[out]),
                            running_var: p.ones_no_train("running_var", &[out]),
                        }
                    });
                    index += 1; // ReLU
                    blocks.push(Block::Conv(Conv { weight, bias, bn }));
                    c = out;
                }
                VggLayer::Pool(_) => {
                    index += 1;
                    blocks.push(Block::Pool);
                }
            }
        }
        let (v, h, w) = config.feature_shape();
        let classifier = &root / "classifier";
        let mut linears = Vec::new();
        let mut fan_in = v * h * w;
        let mut index = 0usize;
        for &out in config.hidden.iter().chain(std::iter::once(&config.classes)) {
            let p = &classifier / index;
            let weight = p.var_copy("weight", &draw(&[out, fan_in], false));
            let bias = p.var_copy("bias", &zeros.zeros(&[out]));
            linears.push((weight, bias));
            fan_in = out;
            index += 3; // Linear, ReLU, Dropout
        }
        let mask = config
            .dead_rows
            .map(|(a, b)| row_mask(v, h, w, a..b, device));
        let model = Vgg {
            config,
            vs,
            blocks,
            linears,
            mask,
            label: label.to_string(),
            weights_sha256: None,
        };
        model.enforce_wall();
        model
    }

    /// Zeroes the first dense layer's weights that read dead feature rows. Called at construction,
    /// after loading, and by training after every optimiser step.
    pub fn enforce_wall(&self) {
        if let Some(mask) = &self.mask {
            tch::no_grad(|| {
                let mut w = self.linears[0].0.shallow_clone();
                let _ = w.g_mul_(&mask.unsqueeze(0));
            });
        }
    }

    /// The largest |weight| of the first dense layer on dead feature rows (0 for an intact wall),
    /// or None for a model without a wall.
    #[cfg(feature = "internals")]
    pub fn wall_weight_max(&self) -> Option<f64> {
        self.mask.as_ref().map(|mask| {
            let dead = mask.ones_like() - mask;
            (&self.linears[0].0 * dead.unsqueeze(0))
                .abs()
                .max()
                .double_value(&[])
        })
    }

    /// Loads weights saved by [`Vgg::save`] or converted from a PyTorch state_dict
    /// (safetensors or tch's .ot), then re-applies the wall.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let names = "with torchvision's names and shapes";
        let sha = super::load_var_store(&mut self.vs, &self.label, path, names)?;
        self.weights_sha256 = Some(sha);
        self.enforce_wall();
        Ok(())
    }

    /// Saves every parameter and buffer (safetensors when the extension is .safetensors).
    pub fn save(&self, path: &Path) -> Result<()> {
        super::save_var_store(&self.vs, path)
    }

    /// The explained layer, in training or eval mode.
    ///
    /// The convolutions run in the channels-last layout (NHWC strides on NCHW-shaped tensors),
    /// oneDNN's native layout on a CPU: about 1.2× (VGG16 at 224) to 2× (the small VGG in batches
    /// of 16) faster than NCHW, which costs a reorder around every convolution
    /// (docs/performance.md). In eval mode each BatchNorm is folded into its convolution
    /// (w·γ/√(σ²+ε), (b − μ)·γ/√(σ²+ε) + β, recomputed from the current parameters at every call),
    /// which saves a pass over every activation; the ReLUs run in place. The same values up to
    /// float rounding; the explained layer is returned contiguous (NCHW).
    pub fn features_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = super::channels_last(x);
        for block in &self.blocks {
            h = match block {
                Block::Pool => pool(&h),
                Block::Conv(conv) => {
                    let mut y = conv.before_relu(&h, train);
                    // In place: neither the convolution's nor BatchNorm's backward needs its
                    // output.
                    let _ = y.relu_();
                    y
                }
            };
        }
        h.contiguous()
    }

    /// The classifier, in training or eval mode.
    pub fn head_t(&self, a: &Tensor, train: bool) -> Tensor {
        let mut h = a.flatten(1, -1);
        let last = self.linears.len() - 1;
        for (i, (w, b)) in self.linears.iter().enumerate() {
            h = h.linear(w, Some(b));
            if i < last {
                h = h.relu().dropout(self.config.dropout, train);
            }
        }
        h
    }
}

/// VGG's 2 × 2 max-pooling.
fn pool(h: &Tensor) -> Tensor {
    h.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
}

impl Conv {
    /// The layers' biases as they act on the block's output before its ReLU ([`Step::Biased`]):
    /// the convolution's b, or with BatchNorm b·s and β − μ·s, s = γ/√(σ² + ε).
    ///
    /// [`Step::Biased`]: super::Step::Biased
    fn biases(&self) -> Vec<Tensor> {
        match &self.bn {
            Some(bn) => {
                let scale = &bn.weight / (&bn.running_var + 1e-5).sqrt();
                let shift = &bn.bias - &bn.running_mean * &scale;
                vec![&self.bias * scale, shift]
            }
            None => vec![self.bias.shallow_clone()],
        }
    }

    /// The block's convolution (BatchNorm folded in, in eval mode) before its ReLU, on
    /// channels-last activations.
    fn before_relu(&self, h: &Tensor, train: bool) -> Tensor {
        let conv3x3 = |h: &Tensor, w: &Tensor, b: &Tensor| {
            h.conv2d(&super::channels_last(w), Some(b), [1, 1], [1, 1], [1, 1], 1)
        };
        match &self.bn {
            Some(bn) if !train => {
                let scale = &bn.weight / (&bn.running_var + 1e-5).sqrt();
                let w = &self.weight * scale.view([-1, 1, 1, 1]);
                let b = (&self.bias - &bn.running_mean) * &scale + &bn.bias;
                conv3x3(h, &w, &b)
            }
            Some(bn) => conv3x3(h, &self.weight, &self.bias).batch_norm(
                Some(&bn.weight),
                Some(&bn.bias),
                Some(&bn.running_mean),
                Some(&bn.running_var),
                true,
                0.1,
                1e-5,
                false,
            ),
            None => conv3x3(h, &self.weight, &self.bias),
        }
    }
}

impl SplitModel for Vgg {
    fn name(&self) -> String {
        self.label.clone()
    }

    /// Float32 elements per image, layer by layer: a convolution's input and output (BatchNorm
    /// and ReLU replace the output as they go), a pooling's input, output and int64 indices.
    fn peak_bytes(&self, n: i64, height: i64, width: i64) -> Option<u128> {
        let (mut channels, mut h, mut w) = (self.config.in_channels as u128, height, width);
        let mut peak = 0u128;
        for layer in &self.config.layers {
            let before = channels * (h * w) as u128;
            let after = match *layer {
                VggLayer::Conv(c) => {
                    channels = c as u128;
                    2 * channels * (h * w) as u128
                }
                VggLayer::Pool(_) => {
                    (h, w) = (h / 2, w / 2);
                    3 * channels * (h * w) as u128
                }
            };
            peak = peak.max(before + after);
        }
        Some(4 * n.max(0) as u128 * peak)
    }

    fn sha256(&self) -> Option<String> {
        self.weights_sha256.clone()
    }

    fn device(&self) -> Device {
        self.vs.device()
    }

    fn input_channels(&self) -> Option<i64> {
        Some(self.config.in_channels)
    }

    fn input_size(&self) -> Option<(i64, i64)> {
        Some((self.config.height, self.config.width))
    }

    fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.features_t(x, false))
    }

    fn head(&self, a: &Tensor) -> Result<Tensor> {
        Ok(self.head_t(a, false))
    }

    /// `features_t` and `head_t` in eval mode, step by step (dropout is the identity there).
    fn steps(&self) -> Option<super::Steps<'_>> {
        use super::Step;
        let mut features = vec![Step::map(super::channels_last)];
        for block in &self.blocks {
            match block {
                Block::Pool => features.push(Step::map(pool)),
                Block::Conv(conv) => {
                    features.push(Step::biased(
                        move |h| conv.before_relu(h, false),
                        conv.biases(),
                    ));
                    features.push(Step::Relu);
                }
            }
        }
        features.push(Step::map(Tensor::contiguous));
        let mut head = Vec::new();
        for (i, (w, b)) in self.linears.iter().enumerate() {
            match i {
                0 => head.push(Step::map(move |a| a.flatten(1, -1).linear(w, Some(b)))),
                _ => {
                    head.push(Step::Relu);
                    head.push(Step::map(move |h| h.linear(w, Some(b))));
                }
            }
        }
        Some(super::Steps { features, head })
    }

    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let mut copy = Vgg::for_loading(self.config.clone(), &self.label, self.device());
        super::copy_as_double(&mut copy.vs, &self.vs, "a VGG")?;
        copy.weights_sha256 = self.weights_sha256.clone();
        Ok(Some(Box::new(copy)))
    }

    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        Some((
            serde_json::json!({"kind": "vgg", "config": self.config}),
            super::sorted_variables(&self.vs),
        ))
    }

    /// One group per convolution (with its BatchNorm's affine parameters) and per dense layer.
    fn parameter_groups(&self) -> Result<Vec<super::ParameterGroup>> {
        let mut groups = Vec::new();
        let mut index = 0usize;
        for block in &self.blocks {
            match block {
                Block::Pool => index += 1,
                Block::Conv(conv) => {
                    let layer = format!("features.{index}");
                    let mut parameters = vec![
                        (format!("{layer}.weight"), conv.weight.shallow_clone()),
                        (format!("{layer}.bias"), conv.bias.shallow_clone()),
                    ];
                    index += 1;
                    if let Some(bn) = &conv.bn {
                        parameters.push((
                            format!("features.{index}.weight"),
                            bn.weight.shallow_clone(),
                        ));
                        parameters
                            .push((format!("features.{index}.bias"), bn.bias.shallow_clone()));
                        index += 1;
                    }
                    index += 1;
                    groups.push(super::ParameterGroup {
                        layer,
                        parameters,
                        head_only: false,
                    });
                }
            }
        }
        for (i, (w, b)) in self.linears.iter().enumerate() {
            let layer = format!("classifier.{}", 3 * i);
            groups.push(super::ParameterGroup {
                layer: layer.clone(),
                parameters: vec![
                    (format!("{layer}.weight"), w.shallow_clone()),
                    (format!("{layer}.bias"), b.shallow_clone()),
                ],
                head_only: true,
            });
        }
        Ok(groups)
    }
}
