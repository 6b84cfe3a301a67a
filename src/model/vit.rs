//! A small vision transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021)
//! with a multihead-attention-pooling head (Zhai et al.'s MAP head, big_vision; Lee et al.'s
//! pooling by multihead attention), and its walled twin.
//!
//! features(x) = LN(blocks(patches(x) + pos)): non-overlapping p×p patches embedded by a
//! convolution of stride p, a learned position embedding, pre-LN blocks
//! t ← t + MHA(LN₁(t)), t ← t + MLP(LN₂(t)) (GELU), and the final LayerNorm. The explained layer
//! is those normalised tokens z, [N, T, D], read as a grid by [`SplitModel::to_grid`] (no prefix
//! token: the class is read by the head's probe).
//! head(z) = W·x + b with x ← MHA(probe, z), x ← x + MLP(LN(x)): one learned query attends over
//! the tokens. Explaining z, not a block's input, matters: a block's input reaches the output only
//! through a LayerNorm, so HiResCAM's Σ_k A_k ∂y/∂A_k is 0 there (docs/theory.md).
//!
//! **The wall** (`wall_from_row = Some(r)`): patch rows r.. are the bottom tokens. Every
//! attention is masked so that a top token attends to top tokens only (a bottom one to bottom
//! ones), and the probe attends to top tokens only: masked scores are −∞, so their softmax
//! weights are exactly 0 and nothing of a bottom patch reaches the logits, in any arithmetic.
//! The patches do not overlap, so the blind input rows are r·p.. exactly; `blindspot certify`
//! proves it from the gradient's support and confirms it with noise. The bottom tokens are still
//! computed and normalised: z is not 0 behind the wall, its gradient is.
use super::init::Init;
use super::{ParameterGroup, SplitModel};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// The shape of a [`Vit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitConfig {
    pub in_channels: i64,
    pub height: i64,
    pub width: i64,
    /// Patch side p: the token grid is (H/p)×(W/p).
    pub patch: i64,
    /// Token width D.
    pub dim: i64,
    /// Transformer blocks.
    pub depth: i64,
    /// Attention heads (D divisible by it).
    pub heads: i64,
    /// Hidden width of every MLP.
    pub mlp: i64,
    pub classes: i64,
    /// The wall: token rows from this one down never reach the logits (attention masks).
    pub wall_from_row: Option<i64>,
}

impl VitConfig {
    /// The STACK-SYNTH ViT: 64×64 RGB, 8×8 patches (an 8×8 token grid), D = 48, 3 blocks of 4
    /// heads, 6 classes; with `walled`, token rows 6..7 (input rows 48..63, the distractor band)
    /// are cut off.
    pub fn stack(walled: bool) -> Self {
        VitConfig {
            in_channels: 3,
            height: 64,
            width: 64,
            patch: 8,
            dim: 48,
            depth: 3,
            heads: 4,
            mlp: 96,
            classes: 6,
            wall_from_row: walled.then_some(6),
        }
    }

    /// The token grid (rows, columns).
    pub fn grid(&self) -> (i64, i64) {
        (self.height / self.patch, self.width / self.patch)
    }
}

/// Draws a tensor of a shape with a standard deviation (N(0, σ²), or zeros for loading).
type Draw<'a> = dyn FnMut(&[i64], f64) -> Tensor + 'a;

/// A linear layer's weight \[out, in\] and bias \[out\].
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn apply(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// A LayerNorm's scale and shift.
struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn apply(&self, x: &Tensor) -> Tensor {
        let d = self.weight.size()[0];
        x.layer_norm([d], Some(&self.weight), Some(&self.bias), 1e-6, false)
    }
}

/// Multi-head attention's projections.
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

/// A two-layer GELU MLP.
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn apply(&self, x: &Tensor) -> Tensor {
        self.fc2.apply(&self.fc1.apply(x).gelu("none"))
    }
}

struct Block {
    norm1: Norm,
    attn: Attention,
    norm2: Norm,
    mlp: Mlp,
}

/// The network, its parameters in a [`VarStore`].
pub struct Vit {
    pub config: VitConfig,
    pub vs: VarStore,
    patch_weight: Tensor,
    patch_bias: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    norm: Norm,
    probe: Tensor,
    pool: Attention,
    pool_norm: Norm,
    pool_mlp: Mlp,
    classifier: Linear,
    /// Which key each query may attend to in the blocks, bool [T, T] (walled models).
    block_mask: Option<Tensor>,
    /// Which tokens the probe may attend to, bool [1, T] (walled models).
    pool_mask: Option<Tensor>,
    label: String,
    weights_sha256: Option<String>,
}

impl Vit {
    /// A randomly initialised network: N(0, 0.02²) linear weights, position embedding and probe
    /// (timm's ViT), N(0, 1/fan_in) patch embedding, zero biases, LayerNorms (1, 0).
    pub fn new(config: VitConfig, label: &str, seed: u64, device: Device) -> Self {
        Self::build(config, label, device, Some(&mut Init::new(seed, device)))
    }

    /// A network whose weights are about to be loaded.
    pub fn for_loading(config: VitConfig, label: &str, device: Device) -> Self {
        Self::build(config, label, device, None)
    }

    /// Long: one statement per parameter of the architecture, in the order of the forward pass.
    fn build(config: VitConfig, label: &str, device: Device, mut init: Option<&mut Init>) -> Self {
        let vs = VarStore::new(device);
        let zeros = Init::new(0, device);
        let mut draw = |shape: &[i64], std: f64| match init.as_deref_mut() {
            Some(init) => init.normal(shape, std),
            None => zeros.zeros(shape),
        };
        let root = vs.root();
        let (d, m, c, p) = (config.dim, config.mlp, config.in_channels, config.patch);
        let (rows, cols) = config.grid();
        let t = rows * cols;
        let linear = |path: &tch::nn::Path, out: i64, inp: i64, draw: &mut Draw| Linear {
            weight: path.var_copy("weight", &draw(&[out, inp], 0.02)),
            bias: path.var_copy("bias", &zeros.zeros(&[out])),
        };
        let norm = |path: &tch::nn::Path| Norm {
            weight: path.var_copy("weight", &zeros.ones(&[d])),
            bias: path.var_copy("bias", &zeros.zeros(&[d])),
        };
        let patch_weight = (&root / "patch_embed").var_copy(
            "weight",
            &draw(&[d, c, p, p], (1.0 / (c * p * p) as f64).sqrt()),
        );
        let patch_bias = (&root / "patch_embed").var_copy("bias", &zeros.zeros(&[d]));
        let pos = root.var_copy("pos_embed", &draw(&[1, t, d], 0.02));
        let mut blocks = Vec::new();
        for i in 0..config.depth {
            let b = &root / "blocks" / i;
            let attn = &b / "attn";
            blocks.push(Block {
                norm1: norm(&(&b / "norm1")),
                attn: Attention {
                    q: linear(&(&attn / "q"), d, d, &mut draw),
                    k: linear(&(&attn / "k"), d, d, &mut draw),
                    v: linear(&(&attn / "v"), d, d, &mut draw),
                    out: linear(&(&attn / "proj"), d, d, &mut draw),
                },
                norm2: norm(&(&b / "norm2")),
                mlp: Mlp {
                    fc1: linear(&(&b / "mlp" / "fc1"), m, d, &mut draw),
                    fc2: linear(&(&b / "mlp" / "fc2"), d, m, &mut draw),
                },
            });
        }
        let final_norm = norm(&(&root / "norm"));
        let pool_path = &root / "pool";
        let probe = pool_path.var_copy("probe", &draw(&[1, 1, d], 0.02));
        let pool = Attention {
            q: linear(&(&pool_path / "q"), d, d, &mut draw),
            k: linear(&(&pool_path / "k"), d, d, &mut draw),
            v: linear(&(&pool_path / "v"), d, d, &mut draw),
            out: linear(&(&pool_path / "proj"), d, d, &mut draw),
        };
        let pool_norm = norm(&(&pool_path / "norm"));
        let pool_mlp = Mlp {
            fc1: linear(&(&pool_path / "mlp" / "fc1"), m, d, &mut draw),
            fc2: linear(&(&pool_path / "mlp" / "fc2"), d, m, &mut draw),
        };
        let classifier = linear(&(&root / "classifier"), config.classes, d, &mut draw);
        let (block_mask, pool_mask) = match config.wall_from_row {
            None => (None, None),
            Some(r) => {
                let top = Tensor::arange(t, (Kind::Int64, device))
                    .divide_scalar_mode(cols, "floor")
                    .lt(r);
                let same = top.unsqueeze(1).eq_tensor(&top.unsqueeze(0));
                (Some(same), Some(top.unsqueeze(0)))
            }
        };
        Vit {
            config,
            vs,
            patch_weight,
            patch_bias,
            pos,
            blocks,
            norm: final_norm,
            probe,
            pool,
            pool_norm,
            pool_mlp,
            classifier,
            block_mask,
            pool_mask,
            label: label.to_string(),
            weights_sha256: None,
        }
    }

    /// Multi-head attention of queries `q_in` [N, Q, D] over keys and values `kv_in` [N, K, D];
    /// `allowed` (bool [Q, K]) masks scores to −∞, whose softmax weights are exactly 0.
    fn attend(
        &self,
        a: &Attention,
        q_in: &Tensor,
        kv_in: &Tensor,
        allowed: Option<&Tensor>,
    ) -> Tensor {
        let heads = self.config.heads;
        let (n, q_len, d) = q_in.size3().expect("tokens are [N, T, D]");
        let k_len = kv_in.size()[1];
        let split = |x: Tensor, len: i64| x.view([n, len, heads, d / heads]).transpose(1, 2);
        let q = split(a.q.apply(q_in), q_len);
        let k = split(a.k.apply(kv_in), k_len);
        let v = split(a.v.apply(kv_in), k_len);
        let scores = q.matmul(&k.transpose(-2, -1)) / ((d / heads) as f64).sqrt();
        let scores = match allowed {
            Some(mask) => scores.masked_fill(&mask.logical_not(), f64::NEG_INFINITY),
            None => scores,
        };
        let mixed = scores.softmax(-1, scores.kind()).matmul(&v);
        a.out.apply(&mixed.transpose(1, 2).reshape([n, q_len, d]))
    }

    /// The normalised tokens z [N, T, D].
    pub fn features_t(&self, x: &Tensor) -> Tensor {
        let p = x.conv2d(
            &self.patch_weight,
            Some(&self.patch_bias),
            [self.config.patch, self.config.patch],
            [0, 0],
            [1, 1],
            1,
        );
        let mut t = p.flatten(2, -1).transpose(1, 2) + &self.pos;
        for block in &self.blocks {
            let y = block.norm1.apply(&t);
            t = &t + self.attend(&block.attn, &y, &y, self.block_mask.as_ref());
            t = &t + block.mlp.apply(&block.norm2.apply(&t));
        }
        self.norm.apply(&t)
    }

    /// Logits [N, K] from the normalised tokens.
    pub fn head_t(&self, z: &Tensor) -> Tensor {
        let n = z.size()[0];
        let probe = self.probe.to_kind(z.kind()).expand([n, 1, self.config.dim], true);
        let x = self.attend(&self.pool, &probe, z, self.pool_mask.as_ref());
        let x = &x + self.pool_mlp.apply(&self.pool_norm.apply(&x));
        self.classifier.apply(&x.squeeze_dim(1))
    }

    /// Loads weights saved by [`Vit::save`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let names = "with the names `parameter_groups` lists";
        let sha = super::load_var_store(&mut self.vs, &self.label, path, names)?;
        self.weights_sha256 = Some(sha);
        Ok(())
    }

    /// Saves every parameter (safetensors).
    pub fn save(&self, path: &Path) -> Result<()> {
        super::save_var_store(&self.vs, path)
    }
}

impl SplitModel for Vit {
    fn name(&self) -> String {
        self.label.clone()
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
    /// Float32 elements per image at the widest step: a block's tokens, its normalised copy,
    /// queries, keys and values, the MLP's hidden layer and the attention's scores.
    fn peak_bytes(&self, n: i64, _height: i64, _width: i64) -> Option<u128> {
        let c = &self.config;
        let (rows, cols) = c.grid();
        let t = (rows * cols) as u128;
        let per_image = t * (6 * c.dim + c.mlp) as u128 + 2 * c.heads as u128 * t * t;
        Some(4 * n.max(0) as u128 * per_image)
    }
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.features_t(x))
    }
    fn head(&self, a: &Tensor) -> Result<Tensor> {
        let size = a.size();
        let (rows, cols) = self.config.grid();
        if size.len() != 3 || size[1] != rows * cols || size[2] != self.config.dim {
            return Err(Error::model(
                format!(
                    "the head takes tokens [N, {}, {}], not {size:?}",
                    rows * cols,
                    self.config.dim
                ),
                self.name(),
                "pass the tokens `features` returns",
            ));
        }
        Ok(self.head_t(a))
    }
    /// [N, T, D] → [N, D, rows, columns]: the tokens are the patches in row-major order.
    fn to_grid(&self, layer: &Tensor) -> Result<Tensor> {
        let (rows, cols) = self.config.grid();
        let size = layer.size();
        if size.len() != 3 || size[1] != rows * cols {
            return Err(Error::model(
                format!("tokens of shape {size:?} are not a {rows}x{cols} grid"),
                self.name(),
                "pass the tokens `features` returns",
            ));
        }
        Ok(layer
            .view([size[0], rows, cols, size[2]])
            .permute([0, 3, 1, 2]))
    }
    fn tokens(&self) -> bool {
        true
    }
    /// `python/export_builtin.py`'s `vit`: the configuration and every parameter.
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        Some((
            serde_json::json!({"kind": "vit", "config": self.config}),
            super::sorted_variables(&self.vs),
        ))
    }
    fn sha256(&self) -> Option<String> {
        self.weights_sha256.clone()
    }
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        let mut copy = Vit::for_loading(self.config.clone(), &self.label, self.device());
        super::copy_as_double(&mut copy.vs, &self.vs, "a ViT")?;
        copy.weights_sha256 = self.weights_sha256.clone();
        Ok(Some(Box::new(copy)))
    }
    /// Input side first: the patch embedding, the position embedding, each block's norm1,
    /// attention, norm2 and MLP, the final norm (all read by `features`), then the head's
    /// attention pooling (probe and projections), its norm and MLP, and the classifier.
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        let named = super::sorted_variables(&self.vs);
        let mut order: Vec<(String, bool)> = vec![
            ("patch_embed".into(), false),
            ("pos_embed".into(), false),
        ];
        for i in 0..self.config.depth {
            for part in ["norm1", "attn", "norm2", "mlp"] {
                order.push((format!("blocks.{i}.{part}"), false));
            }
        }
        order.push(("norm".into(), false));
        for part in ["pool.attention", "pool.norm", "pool.mlp", "classifier"] {
            order.push((part.into(), true));
        }
        let group_of = |name: &str| -> String {
            let parts: Vec<&str> = name.split('.').collect();
            match parts[0] {
                "blocks" => parts[..3].join("."),
                "pool" if matches!(parts[1], "norm" | "mlp") => parts[..2].join("."),
                "pool" => "pool.attention".into(),
                "pos_embed" => "pos_embed".into(),
                other => other.to_string(),
            }
        };
        Ok(order
            .into_iter()
            .map(|(layer, head_only)| ParameterGroup {
                parameters: named
                    .iter()
                    .filter(|(n, _)| group_of(n) == layer)
                    .map(|(n, t)| (n.clone(), t.shallow_clone()))
                    .collect(),
                layer,
                head_only,
            })
            .collect())
    }
}
