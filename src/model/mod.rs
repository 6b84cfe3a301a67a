//! Split models: classifiers cut at the explained layer.
//!
//! A [`SplitModel`] exposes `features(x) -> A` ([N, V, h, w], the layer a CAM explains) and
//! `head(A) -> logits` ([N, K]). Every CAM method works on this abstraction only: gradients of the
//! target logit with respect to `A` come from autograd through `head`, with no hooks.
pub mod export;
pub mod grid;
pub mod init;
pub mod memo;
pub mod network;
pub mod random;
pub mod random_vit;
pub mod rcnn;
pub mod reparam;
pub mod shift;
pub mod torchscript;
pub mod vgg;
pub mod vit;
pub mod wall;
pub mod wrapped;
pub mod zoo;

use crate::error::Result;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// How to open a model specification (`builtin:NAME` or a TorchScript file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    /// The model seed: a built-in model's random initialisation, or its training.
    pub seed: u64,
    /// Weights to load into a built-in architecture (safetensors).
    pub weights: Option<PathBuf>,
    /// A post-hoc wall: feature rows the head must not read (`FIRST..LAST`, inclusive).
    pub mask_rows: Option<String>,
}

/// One layer's trainable parameters: its name and (parameter name, tensor) pairs.
pub struct ParameterGroup {
    /// The layer's name (`features.0`, `head.2`).
    pub layer: String,
    /// Its parameters: (name, tensor), the tensors shared with the model.
    pub parameters: Vec<(String, Tensor)>,
    /// Only `head` reads the layer: replacing its parameters leaves `features` unchanged (false
    /// where the model cannot tell, e.g. a TorchScript file).
    pub head_only: bool,
}

/// A classifier cut at the layer that CAM methods explain. Implementations compute in eval mode
/// (dropout off, BatchNorm running statistics).
pub trait SplitModel {
    /// A short name for reports (`builtin:rcnn`, a file path, …).
    fn name(&self) -> String;
    /// The device the parameters live on; inputs are moved there.
    fn device(&self) -> Device;
    /// Input channels the model expects, when known before running it.
    fn input_channels(&self) -> Option<i64> {
        None
    }
    /// The input height and width the model requires, when it has a fixed size (dense heads).
    fn input_size(&self) -> Option<(i64, i64)> {
        None
    }
    /// The most memory, in bytes, that `features` holds at once for a batch of `n` images of
    /// `height`×`width` (under no-grad: one layer's input and output), when the model knows its
    /// layers; the explain pipeline refuses a batch over the memory budget before running it.
    /// None (a TorchScript model: its layers are its own) budgets only the tensors blindspot
    /// makes.
    fn peak_bytes(&self, _n: i64, _height: i64, _width: i64) -> Option<u128> {
        None
    }
    /// The explained layer's output `A`: activations [N, V, h, w] for a CNN; for a token model
    /// (a vision transformer) its tokens, which [`SplitModel::to_grid`] reads as a grid.
    fn features(&self, x: &Tensor) -> Result<Tensor>;
    /// Logits from the explained layer's output, [N, K]. Must be differentiable with respect to
    /// `a`.
    fn head(&self, a: &Tensor) -> Result<Tensor>;
    /// The explained layer's output (or a gradient with respect to it) as the grid of channels
    /// that CAM methods read, [N, V, h, w]: the output itself for a CNN (the default); for a
    /// token model its patch tokens without the prefix (class, register) tokens, channels
    /// first — pytorch-grad-cam's `reshape_transform`. Activations and gradients are both taken
    /// on the layer's output and read through this map, as pytorch-grad-cam does.
    fn to_grid(&self, layer: &Tensor) -> Result<Tensor> {
        Ok(layer.shallow_clone())
    }
    /// Whether the explained layer's output is tokens, channels last ([N, T, D] or
    /// [N, h, w, D]), that [`SplitModel::to_grid`] maps to a grid: AblationCAM then ablates a
    /// channel in every token, prefix tokens included (pytorch-grad-cam's `AblationLayerVit`).
    fn tokens(&self) -> bool {
        false
    }
    /// The trainable parameters grouped by layer, input side first: (layer, [(name, tensor)]).
    /// The tensors alias the model's own storage, so changing them in place changes the model
    /// (the randomization checks rely on this and restore the originals afterwards).
    fn parameter_groups(&self) -> Result<Vec<ParameterGroup>> {
        Ok(Vec::new())
    }
    /// The TorchScript module itself, for models that are one (they export by saving it).
    fn as_torchscript(&self) -> Option<&tch::CModule> {
        None
    }
    /// For a post-hoc wall around a TorchScript model: that module.
    fn inner_torchscript(&self) -> Option<&tch::CModule> {
        None
    }
    /// A built-in model's architecture as JSON and every tensor of its state (parameters and
    /// buffers, current values), for `python/export_builtin.py`; None for models it cannot rebuild.
    fn architecture(&self) -> Option<(serde_json::Value, Vec<(String, Tensor)>)> {
        None
    }
    /// SHA-256 of the file the weights came from (a TorchScript file, loaded safetensors), if
    /// any; blindspot hashes the parameters otherwise.
    fn sha256(&self) -> Option<String> {
        None
    }
    /// A float64 copy with the current weights (randomized ones included), for methods whose
    /// optimisation through the model amplifies float32 rounding (Opti-CAM, docs/precision.md);
    /// None where the model cannot make one (the method then computes in float32).
    fn to_double(&self) -> Result<Option<Box<dyn SplitModel>>> {
        Ok(None)
    }
    /// `head(features(x))`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head(&self.features(x)?)
    }
    /// The model's computation as steps between its ReLUs, for guided backpropagation
    /// (`cam::attribution::guided`); None where the model cannot tell (a TorchScript file: its
    /// ReLUs are inside its graph).
    fn steps(&self) -> Option<Steps<'_>> {
        None
    }
}

/// One step of a split model's computation as guided backpropagation walks it.
pub enum Step<'a> {
    /// A ReLU: guided backpropagation passes back only the positive part of the gradient, where
    /// the ReLU's input was positive.
    Relu,
    /// Any other map, differentiated by autograd.
    Map(Box<dyn Fn(&Tensor) -> Tensor + 'a>),
    /// A 2-d convolution or BatchNorm layer, or a convolution with its BatchNorm folded in: a
    /// map (differentiated by autograd) whose output carries per-channel biases, each \[C\] as
    /// it acts on this step's output. FullGrad reads every bias b against the gradient g at the
    /// output, |b_c · g_c|. A BatchNorm's bias is β − μ·s with s = γ/√(σ² + ε) (its output is
    /// s·z + β − μ·s); a convolution's bias b folded through that BatchNorm acts as b·s, since
    /// the gradient at the convolution's output is s·g.
    Biased(Box<dyn Fn(&Tensor) -> Tensor + 'a>, Vec<Tensor>),
}

impl<'a> Step<'a> {
    /// A [`Step::Map`] of `f`.
    pub fn map(f: impl Fn(&Tensor) -> Tensor + 'a) -> Self {
        Step::Map(Box::new(f))
    }
    /// A [`Step::Biased`] map `f` with its layers' `biases` (each flattened to \[C\]).
    pub fn biased(f: impl Fn(&Tensor) -> Tensor + 'a, biases: Vec<Tensor>) -> Self {
        Step::Biased(
            Box::new(f),
            biases.into_iter().map(|b| b.reshape([-1])).collect(),
        )
    }
    /// The map of a [`Step::Map`] or [`Step::Biased`] (None for a ReLU).
    pub fn function(&self) -> Option<&(dyn Fn(&Tensor) -> Tensor + 'a)> {
        match self {
            Step::Relu => None,
            Step::Map(f) | Step::Biased(f, _) => Some(f.as_ref()),
        }
    }
}

/// A split model as steps: `features(x)` is its feature steps applied in order, `head(a)` its
/// head steps ([`SplitModel::steps`]).
pub struct Steps<'a> {
    /// `features`, input side first.
    pub features: Vec<Step<'a>>,
    /// `head`, from the explained layer to the logits.
    pub head: Vec<Step<'a>>,
}

/// Loads a built-in network's weights from `path` into `vs` (a model named `label`) and returns
/// the file's SHA-256: refuses, each with its message, a path that is not a file, a file over
/// the memory budget (safetensors are read whole) and one that does not hold every parameter
/// with the names and shapes `names` says.
pub(crate) fn load_var_store(
    vs: &mut tch::nn::VarStore,
    label: &str,
    path: &std::path::Path,
    names: &str,
) -> Result<String> {
    use crate::error::Error;
    let place = path.display().to_string();
    if !path.is_file() {
        return Err(Error::model(
            format!("weights file {place} {}", crate::io::not_a_file(path)),
            &place,
            "pass the path of a .safetensors file \
             (docs/models.md explains how to convert a checkpoint)",
        ));
    }
    let bytes = std::fs::metadata(path)
        .map_err(|e| Error::io("read", path, e))?
        .len();
    crate::limits::fits(&format!("loading weights {place}"), &place, bytes as u128)?;
    vs.load(path).map_err(|e| {
        Error::model(
            format!(
                "cannot load weights into {label}: {}",
                crate::error::first_line(&e.to_string())
            ),
            &place,
            format!("the file must hold every parameter of this architecture {names}"),
        )
    })?;
    crate::io::sha256_file(path)
}

/// Saves every parameter and buffer of `vs` (safetensors when the extension is .safetensors).
pub(crate) fn save_var_store(vs: &tch::nn::VarStore, path: &std::path::Path) -> Result<()> {
    vs.save(path)
        .map_err(|e| crate::error::Error::torch(format!("saving {}", path.display()), e))
}

/// Every parameter and buffer of `vs` by name, in name order (what an architecture's export and
/// its parameter groups read).
pub(crate) fn sorted_variables(vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Copies `from`'s values into `to` (a var store of the same architecture) and makes `to` float64
/// in place (`set_data`: the blocks' tensor handles see float64 too); `what` names the model in
/// messages.
pub(crate) fn copy_as_double(
    to: &mut tch::nn::VarStore,
    from: &tch::nn::VarStore,
    what: &str,
) -> Result<()> {
    to.copy(from)
        .map_err(|e| crate::error::Error::torch(format!("copying {what} to float64"), e))?;
    to.double();
    Ok(())
}

/// The same 4-d tensor (same shape, same values) with channels-last strides: a permuted copy, and
/// differentiable, so gradients reach the original.
pub fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// ∂(output)/∂(input) for a scalar `output`: refuses, with a message, an output that does not
/// depend on `input` through autograd (a `head` that detaches its result) instead of handing it
/// to libtorch's backward, which crashed on one (exit 139).
pub fn gradient(output: &Tensor, input: &Tensor) -> std::result::Result<Tensor, String> {
    if !output.requires_grad() {
        return Err(
            "the output does not depend on its input through autograd (a detached \
                    result, or an operation without a gradient)"
                .into(),
        );
    }
    let grad = Tensor::f_run_backward(&[output], &[input], false, false)
        .map(|mut grads| grads.remove(0))
        .map_err(|e| crate::error::first_line(&e.to_string()).to_string())?;
    // An output that depends on parameters but not on `input` (a head that detaches its
    // activations) gives an undefined gradient, on which every later operation would crash.
    match grad.defined() {
        true => Ok(grad),
        false => Err(
            "the output does not depend on its input through autograd (the input is \
                      detached on the way)"
                .into(),
        ),
    }
}

/// A model's identity by content: (SHA-256, `file`) for weights loaded from a file, else
/// (SHA-256 of its parameters' names and float32 bytes, `parameters`).
pub fn fingerprint(model: &dyn SplitModel) -> (String, &'static str) {
    if let Some(sha) = model.sha256() {
        return (sha, "file");
    }
    let mut bytes = Vec::new();
    let tensors: Vec<(String, Tensor)> = match model.architecture() {
        Some((_, state)) => state,
        None => model
            .parameter_groups()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|g| g.parameters)
            .collect(),
    };
    for (name, t) in tensors {
        let t = t
            .to_device(Device::Cpu)
            .to_kind(tch::Kind::Float)
            .contiguous();
        let numel = t.numel();
        let mut data = vec![0f32; numel];
        t.copy_data(&mut data, numel);
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    }
    (crate::io::sha256(&bytes), "parameters")
}
