//! Random walled split models for property-based verification: an architecture is drawn from a
//! seeded stream — 1–4 conv blocks (channels 2–64, kernel 1–5, stride 1–2, padding, max/avg/no
//! pooling, ReLU/LeakyReLU/GELU, optional eval-mode BatchNorm with random statistics), a
//! 8–96-pixel input of 1–3 channels, square or not, a flatten+dense, global-average-pool+dense or
//! small MLP head, and a wall masking bottom or top rows, left or right columns or a rectangle of
//! the feature map — and its weights are Gaussian, N(0, τ²/fan-in), from the same stream. No
//! training. The wall is a mask on A before the head (`head(A) = head'(A ⊙ M)`), so it holds
//! for every head; [`super::wall::certify`] then proves which input pixels it hides.
//!
//! An architecture has a short text form (`RandomArch::encode`) so that a counterexample can be
//! replayed from a string, and a list of one-step simplifications (`RandomArch::shrinks`) for
//! shrinking: fewer blocks, fewer channels, smaller kernels, a smaller input, a simpler head, a
//! smaller wall, in that order.
use super::init::Init;
use super::SplitModel;
use crate::error::{Error, Result};
use crate::seed::Stream;
use rand::rngs::StdRng;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Pooling after a block's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    None,
    Max,
    Avg,
}

/// A block's nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Leaky,
    Gelu,
}

/// conv → (BatchNorm) → activation → (2×2 pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub channels: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub pool: Pool,
    pub activation: Activation,
    pub batch_norm: bool,
}

/// The classifier on the (walled) feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// Flatten, one dense layer.
    Dense,
    /// Global average pool, one dense layer.
    Gap,
    /// Flatten, dense 16, ReLU, dense.
    Mlp,
}

/// Which cells of the feature map the head may not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Wall {
    /// The last `n` rows.
    Bottom { n: i64 },
    /// The first `n` rows.
    Top { n: i64 },
    /// The first `n` columns.
    Left { n: i64 },
    /// The last `n` columns.
    Right { n: i64 },
    /// Rows r0..r1, columns c0..c1 (exclusive ends).
    Rect { r0: i64, r1: i64, c0: i64, c1: i64 },
}

/// A random architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomArch {
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    pub blocks: Vec<Block>,
    pub head: Head,
    pub wall: Wall,
    pub classes: i64,
    pub tau: f64,
}

/// Spatial size after a block (or None when it would vanish).
fn after(block: &Block, (h, w): (i64, i64)) -> Option<(i64, i64)> {
    // A kernel larger than the padded input leaves nothing (integer division would round the
    // negative numerator up to a size of 1).
    let conv = |x: i64| {
        let span = x + 2 * block.padding - block.kernel;
        (span >= 0).then(|| span / block.stride + 1)
    };
    let (mut h, mut w) = (conv(h)?, conv(w)?);
    if block.pool != Pool::None {
        (h, w) = (h / 2, w / 2);
    }
    (h >= 1 && w >= 1).then_some((h, w))
}

/// The ranges of a drawn architecture ([`RandomArch::draw`]), which shrinking only narrows: what
/// [`RandomArch::decode`] accepts (and a hand-written architecture down to 4 x 4, with padding up
/// to the kernel's size).
const MAX_INPUT_CHANNELS: i64 = 3;
const MIN_SIDE: i64 = 4;
const MAX_SIDE: i64 = 96;
const MAX_BLOCKS: usize = 4;
const MAX_BLOCK_CHANNELS: i64 = 64;
const MAX_KERNEL: i64 = 5;
const MAX_STRIDE: i64 = 2;
const MAX_CLASSES: i64 = 10;
/// τ's range in the properties' parameters (`tau`, `--tau`).
pub const MIN_TAU: f64 = 1e-3;
pub const MAX_TAU: f64 = 1e3;

impl RandomArch {
    /// Draws an architecture from `rng`; None when the draw leaves no room for a wall (the
    /// caller draws again).
    pub fn draw(rng: &mut StdRng, tau: f64) -> Option<RandomArch> {
        let channels = rng.random_range(1..=3i64);
        let height = rng.random_range(8..=96i64);
        let width = if rng.random_bool(0.5) {
            height
        } else {
            rng.random_range(8..=96i64)
        };
        let mut blocks = Vec::new();
        for _ in 0..rng.random_range(1..=4usize) {
            let kernel = rng.random_range(1..=5i64);
            blocks.push(Block {
                channels: [2i64, 4, 8, 16, 32, 64][rng.random_range(0..6usize)],
                kernel,
                stride: rng.random_range(1..=2i64),
                padding: rng.random_range(0..=kernel / 2),
                pool: [Pool::None, Pool::Max, Pool::Avg][rng.random_range(0..3usize)],
                activation: [Activation::Relu, Activation::Leaky, Activation::Gelu]
                    [rng.random_range(0..3usize)],
                batch_norm: rng.random_bool(0.5),
            });
        }
        let head = [Head::Dense, Head::Gap, Head::Mlp][rng.random_range(0..3usize)];
        let mut arch = RandomArch {
            channels,
            height,
            width,
            blocks,
            head,
            wall: Wall::Bottom { n: 1 },
            classes: 10,
            tau,
        };
        let (h, w) = arch.feature_size()?;
        if h < 2 && w < 2 {
            return None;
        }
        arch.wall = match rng.random_range(0..5) {
            0 if h >= 2 => Wall::Bottom {
                n: rng.random_range(1..h),
            },
            1 if h >= 2 => Wall::Top {
                n: rng.random_range(1..h),
            },
            2 if w >= 2 => Wall::Left {
                n: rng.random_range(1..w),
            },
            3 if w >= 2 => Wall::Right {
                n: rng.random_range(1..w),
            },
            _ if h >= 2 && w >= 2 => {
                let r0 = rng.random_range(0..h);
                let c0 = rng.random_range(0..w);
                // Up to the map's edge; a rectangle over the whole map is invalid (redrawn).
                let (r1, c1) = (rng.random_range(r0 + 1..=h), rng.random_range(c0 + 1..=w));
                Wall::Rect { r0, r1, c0, c1 }
            }
            _ if h >= 2 => Wall::Bottom {
                n: rng.random_range(1..h),
            },
            _ => Wall::Right {
                n: rng.random_range(1..w),
            },
        };
        Some(arch)
    }

    /// The explained layer's spatial size, or None when a block shrinks it to nothing.
    pub fn feature_size(&self) -> Option<(i64, i64)> {
        self.blocks
            .iter()
            .try_fold((self.height, self.width), |size, b| after(b, size))
    }

    /// Whether the architecture is well formed: a positive feature map that the wall does not
    /// cover entirely.
    pub fn valid(&self) -> bool {
        let Some((h, w)) = self.feature_size() else {
            return false;
        };
        let masked = match self.wall {
            Wall::Bottom { n } | Wall::Top { n } => (1..h).contains(&n).then_some(n * w),
            Wall::Left { n } | Wall::Right { n } => (1..w).contains(&n).then_some(n * h),
            Wall::Rect { r0, r1, c0, c1 } => {
                let inside = 0 <= r0 && r0 < r1 && r1 <= h && 0 <= c0 && c0 < c1 && c1 <= w;
                inside.then_some((r1 - r0) * (c1 - c0))
            }
        };
        !self.blocks.is_empty() && self.channels >= 1 && masked.is_some_and(|m| m < h * w)
    }

    /// The 0/1 mask [h, w] of the cells the head may read.
    pub fn mask(&self, device: Device) -> Tensor {
        let (h, w) = self.feature_size().unwrap_or((1, 1));
        let (rows, cols) = match self.wall {
            Wall::Bottom { n } => (h - n..h, 0..w),
            Wall::Top { n } => (0..n, 0..w),
            Wall::Left { n } => (0..h, 0..n),
            Wall::Right { n } => (0..h, w - n..w),
            Wall::Rect { r0, r1, c0, c1 } => (r0..r1, c0..c1),
        };
        let cells: Vec<f32> = (0..h * w)
            .map(|i| {
                if rows.contains(&(i / w)) && cols.contains(&(i % w)) {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        Tensor::from_slice(&cells).view([h, w]).to_device(device)
    }

    /// One-step simplifications, in shrinking order: fewer blocks, fewer channels, smaller
    /// kernels, a smaller input, a simpler head, a smaller wall. Each is a valid architecture.
    ///
    /// Long: one candidate per simplification the shrinker tries, listed in shrinking order.
    pub fn shrinks(&self) -> Vec<(String, RandomArch)> {
        let mut out: Vec<(String, RandomArch)> = Vec::new();
        let mut push = |step: String, arch: RandomArch| {
            if arch.valid() && &arch != self {
                out.push((step, arch));
            }
        };
        for i in (0..self.blocks.len())
            .rev()
            .filter(|_| self.blocks.len() > 1)
        {
            let mut a = self.clone();
            a.blocks.remove(i);
            a.wall = a.fit_wall();
            push(format!("drop block {}", i + 1), a);
        }
        for i in 0..self.blocks.len() {
            if self.blocks[i].channels > 2 {
                let mut a = self.clone();
                a.blocks[i].channels /= 2;
                push(
                    format!("block {} channels {}", i + 1, a.blocks[i].channels),
                    a,
                );
            }
        }
        if self.channels > 1 {
            push(
                "one input channel".into(),
                RandomArch {
                    channels: 1,
                    ..self.clone()
                },
            );
        }
        for i in 0..self.blocks.len() {
            let b = &self.blocks[i];
            if b.kernel > 1 {
                let mut a = self.clone();
                a.blocks[i].kernel -= 1;
                a.blocks[i].padding = a.blocks[i].padding.min(a.blocks[i].kernel / 2);
                a.wall = a.fit_wall();
                push(format!("block {} kernel {}", i + 1, a.blocks[i].kernel), a);
            }
            let simpler = Block {
                stride: 1,
                padding: 0,
                pool: Pool::None,
                activation: Activation::Relu,
                batch_norm: false,
                ..b.clone()
            };
            if &simpler != b {
                let mut a = self.clone();
                a.blocks[i] = simpler;
                a.wall = a.fit_wall();
                push(format!("block {} plain", i + 1), a);
            }
        }
        for (h, w) in [
            (self.height / 2, self.width / 2),
            (self.height - 1, self.width - 1),
        ] {
            if h >= 8 && w >= 8 {
                let mut a = RandomArch {
                    height: h,
                    width: w,
                    ..self.clone()
                };
                a.wall = a.fit_wall();
                push(format!("input {h}x{w}"), a);
            }
        }
        if self.height != self.width {
            let side = self.height.min(self.width);
            let mut a = RandomArch {
                height: side,
                width: side,
                ..self.clone()
            };
            a.wall = a.fit_wall();
            push(format!("square input {side}"), a);
        }
        if self.head != Head::Dense {
            push(
                "dense head".into(),
                RandomArch {
                    head: Head::Dense,
                    ..self.clone()
                },
            );
        }
        let smaller = match self.wall {
            Wall::Bottom { n } if n > 1 => Some(Wall::Bottom { n: n / 2 }),
            Wall::Top { n } if n > 1 => Some(Wall::Top { n: n / 2 }),
            Wall::Left { n } if n > 1 => Some(Wall::Left { n: n / 2 }),
            Wall::Right { n } if n > 1 => Some(Wall::Right { n: n / 2 }),
            Wall::Rect { r0, r1, c0, c1 } if r1 - r0 > 1 || c1 - c0 > 1 => Some(Wall::Rect {
                r0,
                r1: r0 + ((r1 - r0) / 2).max(1),
                c0,
                c1: c0 + ((c1 - c0) / 2).max(1),
            }),
            _ => None,
        };
        if let Some(wall) = smaller {
            push(
                "smaller wall".into(),
                RandomArch {
                    wall,
                    ..self.clone()
                },
            );
        }
        out
    }

    /// The wall scaled into a changed feature map (same kind, at least one cell, not all).
    fn fit_wall(&self) -> Wall {
        let Some((h, w)) = self.feature_size() else {
            return self.wall;
        };
        let clip = |n: i64, size: i64| n.clamp(1, (size - 1).max(1));
        match self.wall {
            Wall::Bottom { n } => Wall::Bottom { n: clip(n, h) },
            Wall::Top { n } => Wall::Top { n: clip(n, h) },
            Wall::Left { n } => Wall::Left { n: clip(n, w) },
            Wall::Right { n } => Wall::Right { n: clip(n, w) },
            Wall::Rect { r0, r1, c0, c1 } => {
                let (r0, c0) = (r0.min(h - 1).max(0), c0.min(w - 1).max(0));
                Wall::Rect {
                    r0,
                    r1: r1.min(h).max(r0 + 1),
                    c0,
                    c1: c1.min(w).max(c0 + 1),
                }
            }
        }
    }

    /// A short text form, safe to paste into a shell:
    /// `3x32x40/16k3s1p1mrb,8k1s2p0ng/gap/bottom2/10/1` (input C×H×W / blocks: channels, kernel,
    /// stride, padding, pool n|m|a, activation r|l|g,
    /// b for BatchNorm / head / wall / classes / τ).
    pub fn encode(&self) -> String {
        let blocks: Vec<String> = self
            .blocks
            .iter()
            .map(|b| {
                let pool = match b.pool {
                    Pool::None => 'n',
                    Pool::Max => 'm',
                    Pool::Avg => 'a',
                };
                let act = match b.activation {
                    Activation::Relu => 'r',
                    Activation::Leaky => 'l',
                    Activation::Gelu => 'g',
                };
                let bn = if b.batch_norm { "b" } else { "" };
                format!(
                    "{}k{}s{}p{}{pool}{act}{bn}",
                    b.channels, b.kernel, b.stride, b.padding
                )
            })
            .collect();
        let head = match self.head {
            Head::Dense => "dense",
            Head::Gap => "gap",
            Head::Mlp => "mlp",
        };
        let wall = match self.wall {
            Wall::Bottom { n } => format!("bottom{n}"),
            Wall::Top { n } => format!("top{n}"),
            Wall::Left { n } => format!("left{n}"),
            Wall::Right { n } => format!("right{n}"),
            Wall::Rect { r0, r1, c0, c1 } => format!("rect{r0}-{r1}-{c0}-{c1}"),
        };
        format!(
            "{}x{}x{}/{}/{head}/{wall}/{}/{}",
            self.channels,
            self.height,
            self.width,
            blocks.join(","),
            self.classes,
            self.tau
        )
    }

    /// Parses [`RandomArch::encode`]'s form.
    ///
    /// Long: one field of the replay string after another, each parsed and range-checked with its
    /// own message.
    pub fn decode(text: &str) -> Result<RandomArch> {
        let bad = || {
            Error::input(
                format!("`{text}` is not an encoded architecture"),
                "replay",
                "copy the architecture from a counterexample's replay string",
            )
        };
        let parts: Vec<&str> = text.split('/').collect();
        let [input, blocks, head, wall, classes, tau] = parts[..] else {
            return Err(bad());
        };
        let dims: Vec<i64> = input
            .split('x')
            .map(|d| d.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let [channels, height, width] = dims[..] else {
            return Err(bad());
        };
        let block = |b: &str| -> Option<Block> {
            let (channels, rest) = b.split_once('k')?;
            let (kernel, rest) = rest.split_once('s')?;
            let (stride, rest) = rest.split_once('p')?;
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            let (padding, flags) = rest.split_at(digits);
            let mut flags = flags.chars();
            let pool = match flags.next()? {
                'n' => Pool::None,
                'm' => Pool::Max,
                'a' => Pool::Avg,
                _ => return None,
            };
            let activation = match flags.next()? {
                'r' => Activation::Relu,
                'l' => Activation::Leaky,
                'g' => Activation::Gelu,
                _ => return None,
            };
            Some(Block {
                channels: channels.parse().ok()?,
                kernel: kernel.parse().ok()?,
                stride: stride.parse().ok()?,
                padding: padding.parse().ok()?,
                pool,
                activation,
                batch_norm: flags.next() == Some('b'),
            })
        };
        let blocks = blocks
            .split(',')
            .map(block)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        let head = match head {
            "dense" => Head::Dense,
            "gap" => Head::Gap,
            "mlp" => Head::Mlp,
            _ => return Err(bad()),
        };
        let number = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let wall = if let Some(r) = wall.strip_prefix("rect") {
            let v: Vec<i64> = r.split('-').map(number).collect::<Result<_>>()?;
            let [r0, r1, c0, c1] = v[..] else {
                return Err(bad());
            };
            Wall::Rect { r0, r1, c0, c1 }
        } else if let Some(n) = wall.strip_prefix("bottom") {
            Wall::Bottom { n: number(n)? }
        } else if let Some(n) = wall.strip_prefix("top") {
            Wall::Top { n: number(n)? }
        } else if let Some(n) = wall.strip_prefix("left") {
            Wall::Left { n: number(n)? }
        } else if let Some(n) = wall.strip_prefix("right") {
            Wall::Right { n: number(n)? }
        } else {
            return Err(bad());
        };
        let arch = RandomArch {
            channels,
            height,
            width,
            blocks,
            head,
            wall,
            classes: number(classes)?,
            tau: tau.parse().map_err(|_| bad())?,
        };
        // Bounded like the command line's parameters: what a draw (and shrinking it) can give,
        // and the properties' range of τ. A replay string is data, and a larger network, or a τ
        // of 1e300, would only exhaust memory or overflow float32.
        let within = |what: &str, ok: bool| match ok {
            true => Ok(()),
            false => Err(Error::input(
                format!("`{text}` has {what} that no drawn case has"),
                "replay",
                format!(
                    "copy the architecture from a counterexample's replay string (input \
                     1-{MAX_INPUT_CHANNELS}x{MIN_SIDE}-{MAX_SIDE}x{MIN_SIDE}-{MAX_SIDE}, up to \
                     {MAX_BLOCKS} blocks of up to {MAX_BLOCK_CHANNELS} channels, kernels up to \
                     {MAX_KERNEL}, strides up to {MAX_STRIDE}, up to {MAX_CLASSES} classes, τ \
                     in [{MIN_TAU}, {MAX_TAU}])"
                ),
            )),
        };
        within(
            "an input size",
            (1..=MAX_INPUT_CHANNELS).contains(&arch.channels)
                && (MIN_SIDE..=MAX_SIDE).contains(&arch.height)
                && (MIN_SIDE..=MAX_SIDE).contains(&arch.width),
        )?;
        within(
            "blocks",
            (1..=MAX_BLOCKS).contains(&arch.blocks.len())
                && arch.blocks.iter().all(|b| {
                    (1..=MAX_BLOCK_CHANNELS).contains(&b.channels)
                        && (1..=MAX_KERNEL).contains(&b.kernel)
                        && (1..=MAX_STRIDE).contains(&b.stride)
                        && (0..=b.kernel).contains(&b.padding)
                }),
        )?;
        within("a class count", (1..=MAX_CLASSES).contains(&arch.classes))?;
        within(
            "a τ",
            arch.tau.is_finite() && (MIN_TAU..=MAX_TAU).contains(&arch.tau),
        )?;
        if !arch.valid() {
            return Err(bad());
        }
        Ok(arch)
    }
}

/// One block's weights.
struct BlockWeights {
    conv: Tensor,
    /// Eval-mode BatchNorm folded into a per-channel scale and shift.
    norm: Option<(Tensor, Tensor)>,
}

/// A random architecture with Gaussian weights, as a split model.
pub struct RandomNet {
    pub arch: RandomArch,
    blocks: Vec<BlockWeights>,
    /// Dense layers of the head: (weight \[out, in\], bias \[out\]).
    dense: Vec<(Tensor, Tensor)>,
    mask: Tensor,
    device: Device,
}

impl RandomNet {
    /// Draws every weight from `stream`: N(0, τ²/fan-in) for convolutions and dense layers, and
    /// BatchNorm statistics γ ~ U(0.5, 1.5), β ~ N(0, 0.1²), μ ~ N(0, 0.1²), σ² ~ U(0.5, 1.5).
    pub fn new(arch: RandomArch, stream: Stream, device: Device) -> Result<RandomNet> {
        let (h, w) = arch
            .feature_size()
            .filter(|_| arch.valid())
            .ok_or_else(|| {
                Error::input(
                    format!(
                        "the architecture {} has no valid feature map",
                        arch.encode()
                    ),
                    "random model",
                    "draw another",
                )
            })?;
        let mut init = Init::new(stream.seed(), device);
        let mut rng = stream.at(1).rng();
        let mut channels = arch.channels;
        let mut blocks = Vec::new();
        for b in &arch.blocks {
            let fan_in = (channels * b.kernel * b.kernel) as f64;
            let conv = init.normal(
                &[b.channels, channels, b.kernel, b.kernel],
                arch.tau / fan_in.sqrt(),
            );
            let norm = b.batch_norm.then(|| {
                let v = b.channels as usize;
                let gamma: Vec<f32> = (0..v).map(|_| rng.random_range(0.5f32..1.5)).collect();
                let var: Vec<f32> = (0..v).map(|_| rng.random_range(0.5f32..1.5)).collect();
                let (beta, mean) = (
                    init.normal(&[b.channels], 0.1),
                    init.normal(&[b.channels], 0.1),
                );
                let gamma = Tensor::from_slice(&gamma).to_device(device);
                let var = Tensor::from_slice(&var).to_device(device);
                let scale = gamma / (var + 1e-5).sqrt();
                let shift = beta - &mean * &scale;
                (scale.view([1, -1, 1, 1]), shift.view([1, -1, 1, 1]))
            });
            blocks.push(BlockWeights { conv, norm });
            channels = b.channels;
        }
        let flat = channels * h * w;
        let mut dense_layer = |inputs: i64, outputs: i64| {
            let weight = init.normal(&[outputs, inputs], arch.tau / (inputs as f64).sqrt());
            let bias = init.normal(&[outputs], 0.01);
            (weight, bias)
        };
        let dense = match arch.head {
            Head::Dense => vec![dense_layer(flat, arch.classes)],
            Head::Gap => vec![dense_layer(channels, arch.classes)],
            Head::Mlp => vec![dense_layer(flat, 16), dense_layer(16, arch.classes)],
        };
        let mask = arch.mask(device);
        Ok(RandomNet {
            arch,
            blocks,
            dense,
            mask,
            device,
        })
    }
}

impl SplitModel for RandomNet {
    fn name(&self) -> String {
        format!("random:{}", self.arch.encode())
    }

    fn device(&self) -> Device {
        self.device
    }

    fn input_channels(&self) -> Option<i64> {
        Some(self.arch.channels)
    }

    fn input_size(&self) -> Option<(i64, i64)> {
        Some((self.arch.height, self.arch.width))
    }

    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut a = x.shallow_clone();
        for (b, weights) in self.arch.blocks.iter().zip(&self.blocks) {
            let (s, p) = (b.stride, b.padding);
            a = a.conv2d(&weights.conv, None::<Tensor>, [s, s], [p, p], [1, 1], 1);
            if let Some((scale, shift)) = &weights.norm {
                a = a * scale + shift;
            }
            a = match b.activation {
                Activation::Relu => a.relu(),
                Activation::Leaky => a.leaky_relu(),
                Activation::Gelu => a.gelu("none"),
            };
            a = match b.pool {
                Pool::None => a,
                Pool::Max => a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                Pool::Avg => a.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>),
            };
        }
        Ok(a)
    }

    fn head(&self, a: &Tensor) -> Result<Tensor> {
        let walled = a * self.mask.view([1, 1, a.size()[2], a.size()[3]]);
        let mut z = match self.arch.head {
            Head::Gap => walled.mean_dim([2i64, 3].as_slice(), false, Kind::Float),
            _ => walled.flatten(1, -1),
        };
        for (i, (weight, bias)) in self.dense.iter().enumerate() {
            z = z.matmul(&weight.tr()) + bias;
            if i + 1 < self.dense.len() {
                z = z.relu();
            }
        }
        Ok(z)
    }

    /// `features` and `head` step by step: the ReLUs are steps of their own, leaky ReLU and GELU
    /// stay inside the maps (guided backpropagation changes only ReLUs, as captum's does).
    fn steps(&self) -> Option<super::Steps<'_>> {
        use super::Step;
        let mut features = Vec::new();
        for (b, weights) in self.arch.blocks.iter().zip(&self.blocks) {
            let (s, p) = (b.stride, b.padding);
            let conv = move |a: &Tensor| {
                let a = a.conv2d(&weights.conv, None::<Tensor>, [s, s], [p, p], [1, 1], 1);
                match &weights.norm {
                    Some((scale, shift)) => a * scale + shift,
                    None => a,
                }
            };
            // The convolution has no bias; a BatchNorm's is its shift β − μ·s.
            features.push(match &weights.norm {
                Some((_, shift)) => Step::biased(conv, vec![shift.shallow_clone()]),
                None => Step::map(conv),
            });
            match b.activation {
                Activation::Relu => features.push(Step::Relu),
                Activation::Leaky => features.push(Step::map(|a| a.leaky_relu())),
                Activation::Gelu => features.push(Step::map(|a| a.gelu("none"))),
            }
            match b.pool {
                Pool::None => {}
                Pool::Max => features
                    .push(Step::map(|a| a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false))),
                Pool::Avg => features.push(Step::map(|a| {
                    a.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>)
                })),
            }
        }
        let mut head = vec![Step::map(|a| {
            let walled = a * self.mask.view([1, 1, a.size()[2], a.size()[3]]);
            match self.arch.head {
                Head::Gap => walled.mean_dim([2i64, 3].as_slice(), false, Kind::Float),
                _ => walled.flatten(1, -1),
            }
        })];
        for (i, (weight, bias)) in self.dense.iter().enumerate() {
            if i > 0 {
                head.push(Step::Relu);
            }
            head.push(Step::map(move |z| z.matmul(&weight.tr()) + bias));
        }
        Some(super::Steps { features, head })
    }

    fn parameter_groups(&self) -> Result<Vec<super::ParameterGroup>> {
        let mut groups: Vec<super::ParameterGroup> = self
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| super::ParameterGroup {
                layer: format!("block{}", i + 1),
                parameters: vec![("conv.weight".into(), b.conv.shallow_clone())],
                head_only: false,
            })
            .collect();
        for (i, (w, b)) in self.dense.iter().enumerate() {
            groups.push(super::ParameterGroup {
                layer: format!("dense{}", i + 1),
                parameters: vec![
                    ("weight".into(), w.shallow_clone()),
                    ("bias".into(), b.shallow_clone()),
                ],
                head_only: true,
            });
        }
        Ok(groups)
    }
}
