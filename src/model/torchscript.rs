//! A user's model as a TorchScript split model: a scripted module with the methods
//! `features(x) -> A` and `head(A) -> logits` (docs/models.md shows how to export one), and for
//! a token model (a vision transformer) `to_grid(tokens) -> [N, D, h, w]`, pytorch-grad-cam's
//! `reshape_transform`.
use super::SplitModel;
use crate::error::{first_line, Error, Result};
use std::path::{Path, PathBuf};
use tch::{CModule, Device, Tensor};

pub struct TorchScriptModel {
    module: CModule,
    path: PathBuf,
    device: Device,
    /// The file's SHA-256, computed when a report first asks for it: hashing takes longer than
    /// loading for large files (1.9 s of a VGG16 `blindspot explain` went to loading and hashing
    /// its 960 MB file), and `explain` never reports it.
    sha256: std::sync::OnceLock<Option<String>>,
    /// Whether `features` takes its input channels-last ([`TorchScriptModel::features`]); off
    /// for good after a module refuses it.
    channels_last: std::sync::atomic::AtomicBool,
    /// Whether the module exports `to_grid`: its `features` returns tokens.
    tokens: bool,
}

/// Whether calling `method` of `module` with no argument failed because the module has no such
/// method (rather than for the missing argument).
fn missing_method(module: &CModule, method: &str) -> bool {
    match module.method_is::<tch::IValue>(method, &[]) {
        Ok(_) => false,
        Err(e) => {
            let message = e.to_string();
            message.contains("not defined")
                || message.contains("does not have a method")
                || message.contains("Method '")
                    && message.contains("not")
                    && !message.contains("argument")
        }
    }
}

const EXPORT_HELP: &str =
    "export the classifier with methods `features` and `head` (@torch.jit.export) and save it \
     with torch.jit.script(model).save(PATH); see docs/models.md";

/// The bytes loading `path` unpacks: a TorchScript file is a zip archive whose records libtorch
/// inflates into memory whole, so what counts is the sum of the sizes its central directory
/// declares (a 2.9 MB file of deflated zeros declared, and took, 3 GB), not the file's size. The
/// declared sizes bound what libtorch's reader accepts (it checks each record against its
/// size). A file that is no zip archive counts its length; libtorch then says what it is not.
fn unpacked_bytes(path: &Path) -> Result<u128> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let length = file
        .metadata()
        .map_err(|e| Error::io("read", path, e))?
        .len() as u128;
    let Ok(mut archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return Ok(length);
    };
    let mut total = length;
    for i in 0..archive.len() {
        if let Ok(record) = archive.by_index_raw(i) {
            total = total.saturating_add(record.size() as u128);
        }
    }
    Ok(total)
}

impl TorchScriptModel {
    /// Loads the module onto `device`, switches it to eval mode and checks that both methods exist.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let place = path.display().to_string();
        if !path.is_file() {
            return Err(Error::model(
                format!("model file {place} {}", crate::io::not_a_file(path)),
                &place,
                "pass the path of a TorchScript .pt file, or builtin:NAME (see `blindspot models`)",
            ));
        }
        crate::limits::fits(&format!("loading {place}"), &place, unpacked_bytes(path)?)?;
        let mut module = CModule::load_on_device(path, device).map_err(|e| {
            Error::model(
                format!(
                    "{place} is not a loadable TorchScript module ({})",
                    first_line(&e.to_string())
                ),
                &place,
                EXPORT_HELP,
            )
        })?;
        module.set_eval();
        for method in ["features", "head"] {
            // Calling with no argument fails either way; the message tells a missing method from a
            // missing argument.
            if missing_method(&module, method) {
                return Err(Error::model(
                    format!("the TorchScript module in {place} has no method `{method}`"),
                    &place,
                    EXPORT_HELP,
                ));
            }
        }
        let tokens = !missing_method(&module, "to_grid");
        Ok(TorchScriptModel {
            module,
            path: path.to_path_buf(),
            device,
            sha256: std::sync::OnceLock::new(),
            channels_last: std::sync::atomic::AtomicBool::new(true),
            tokens,
        })
    }

    #[cfg(feature = "internals")]
    pub fn module(&self) -> &CModule {
        &self.module
    }

    /// Runs `method` with TorchScript's graph optimisation off, i.e. the graph as scripted. With it
    /// on (libtorch's default), the first calls of every input shape profile the graph and later
    /// ones run a re-optimised copy: measured on the exported small VGG, 50–75 ms more for a
    /// one-image `blindspot explain` process and 8–22% fewer images per second in steady state
    /// (GradCAM, LayerCAM, EigenCAM, batch 32, 2 CPU threads), and fused kernels on a GPU would
    /// give a model's maps a second set of numerics. The setting is per thread, hence set here.
    ///
    /// The module gets a copy of its input (differentiable, so gradients still reach `input`): a
    /// module that writes into its input in place would change the images or activations the
    /// methods read next (ScoreCAM's and Opti-CAM's maps moved by up to 0.19 before).
    fn call(&self, method: &str, input: &Tensor) -> Result<Tensor> {
        self.call_owned(method, input.copy())
    }

    /// Whether `features` takes channels-last images (the default; [`TorchScriptModel::features`]).
    #[cfg(feature = "internals")]
    pub fn set_channels_last(&self, on: bool) {
        self.channels_last
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// [`TorchScriptModel::call`] on an input the module may have.
    fn call_owned(&self, method: &str, input: Tensor) -> Result<Tensor> {
        tch::jit::set_graph_executor_optimize(false);
        self.module
            .method_ts(method, &[input.shallow_clone()])
            .map_err(|e| {
                Error::model(
                format!(
                    "`{method}` of {} failed on an input of shape {:?}: {}",
                    self.path.display(),
                    input.size(),
                    first_line(&e.to_string())
                ),
                self.path.display().to_string(),
                "check the input's shape and channel count against what the model was exported for",
            )
            })
    }
}

impl SplitModel for TorchScriptModel {
    fn as_torchscript(&self) -> Option<&CModule> {
        Some(&self.module)
    }

    /// Parameters grouped by the module that owns them (the name up to the last `.`), in the
    /// module's registration order.
    fn parameter_groups(&self) -> Result<Vec<super::ParameterGroup>> {
        let named = self
            .module
            .named_parameters()
            .map_err(|e| Error::torch("listing the TorchScript parameters", e))?;
        let mut groups: Vec<super::ParameterGroup> = Vec::new();
        for (name, tensor) in named {
            let layer = name
                .rsplit_once('.')
                .map(|(l, _)| l.to_string())
                .unwrap_or_else(|| name.clone());
            match groups.last_mut() {
                Some(g) if g.layer == layer => g.parameters.push((name, tensor)),
                _ => groups.push(super::ParameterGroup {
                    layer,
                    parameters: vec![(name, tensor)],
                    // Which parameters `features` reads is the module's own business.
                    head_only: false,
                }),
            }
        }
        Ok(groups)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn sha256(&self) -> Option<String> {
        self.sha256
            .get_or_init(|| crate::io::sha256_file(&self.path).ok())
            .clone()
    }

    fn device(&self) -> Device {
        self.device
    }

    /// `features` on a channels-last copy of the images (NHWC strides on the NCHW shape: a
    /// copy the module may write into, and differentiable), returned contiguous. oneDNN's
    /// convolutions run natively in that layout, and it propagates through the scripted
    /// convolutions, ReLUs and poolings: the exported small VGG's features took 21.3–21.9 ms
    /// instead of 30.6–31.4 ms for 16 images (docs/performance.md), with activations within
    /// 2e-7. A module that refuses the layout (a `view` that needs contiguous strides) is run
    /// on contiguous images from then on.
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        use std::sync::atomic::Ordering;
        let nhwc = x.dim() == 4 && self.channels_last.load(Ordering::Relaxed);
        let a = match nhwc {
            true => match self.call_owned("features", super::channels_last(x)) {
                Ok(a) => a.contiguous(),
                Err(_) => {
                    self.channels_last.store(false, Ordering::Relaxed);
                    self.call("features", x)?
                }
            },
            false => self.call("features", x)?,
        };
        if a.dim() != 4 && !self.tokens {
            return Err(Error::model(
                format!(
                    "`features` of {} returned shape {:?}; a CAM layer must be [N, V, h, w]",
                    self.path.display(),
                    a.size()
                ),
                self.path.display().to_string(),
                "cut the model at a convolutional layer, or export `to_grid` for a token model \
                 (see docs/models.md)",
            ));
        }
        if a.kind() != tch::Kind::Float {
            // Every method computes in float32 against the model's float32 parameters.
            return Err(Error::model(
                format!(
                    "`features` of {} returned {:?} activations; blindspot explains float32",
                    self.path.display(),
                    a.kind()
                ),
                self.path.display().to_string(),
                "return float32 activations from `features` (and take them in `head`)",
            ));
        }
        Ok(a)
    }

    fn tokens(&self) -> bool {
        self.tokens
    }

    /// The module's `to_grid`, for a token model; the layer itself otherwise.
    fn to_grid(&self, layer: &Tensor) -> Result<Tensor> {
        match self.tokens {
            true => self.call("to_grid", layer),
            false => Ok(layer.shallow_clone()),
        }
    }

    fn head(&self, a: &Tensor) -> Result<Tensor> {
        let logits = self.call("head", a)?;
        if logits.dim() != 2 || logits.size()[1] == 0 {
            return Err(Error::model(
                format!(
                    "`head` of {} returned shape {:?}; logits must be [N, K], K >= 1",
                    self.path.display(),
                    logits.size()
                ),
                self.path.display().to_string(),
                "make `head` return one row of class scores per image",
            ));
        }
        Ok(logits)
    }
}
