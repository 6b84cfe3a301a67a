//! A Python callable as a blindspot method, run in this process: `method(model, inputs,
//! targets) -> maps`, called once per batch with the batch's tensors (no copies, no files, no
//! new process). The model is the split model the check explains (randomized or walled when the
//! check needs it), rebuilt in Python once per weight generation (`blindspot._bridge`).
use blindspot::frontend::{parts, weights_fingerprint as fingerprint, Parts, EXPORT_BUILTIN_PY};
use blindspot::{CamContext, CamMethod, Error, Result};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use pyo3_tch::PyTensor;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tch::{Kind, Tensor};

/// Whether a method failed (`Some`) and, when it raised, its exception: the exception the caller
/// sees is then a `MethodError` that chains it (its traceback points into the user's code).
pub type Failure = Rc<RefCell<Option<Option<PyErr>>>>;

pub struct PythonMethod {
    name: String,
    title: String,
    callable: Py<PyAny>,
    sign_ambiguous: bool,
    /// `method.blindspot_reading == "magnitude"`: the map is a signed attribution.
    magnitude: bool,
    /// `blindspot._bridge`: the Python half (calling, rebuilding models).
    bridge: Py<PyModule>,
    /// The TorchScript module for the current weights, by fingerprint.
    model: RefCell<Option<(String, Py<PyAny>)>>,
    batches: Cell<usize>,
    failure: Failure,
}

impl PythonMethod {
    pub fn new(
        py: Python<'_>,
        name: String,
        title: String,
        callable: Py<PyAny>,
        sign_ambiguous: bool,
        magnitude: bool,
        failure: Failure,
    ) -> PyResult<PythonMethod> {
        let bridge = py.import("blindspot._bridge")?.unbind();
        Ok(PythonMethod {
            name,
            title,
            callable,
            sign_ambiguous,
            magnitude,
            bridge,
            model: RefCell::new(None),
            batches: Cell::new(0),
            failure,
        })
    }

    /// An error naming the method and the batch, marking the method as failed.
    fn fail(&self, batch: usize, images: i64, what: String, fix: &str) -> Error {
        self.failure.borrow_mut().get_or_insert(None);
        Error::Input {
            what: format!("Python method `{}` {what}", self.name),
            place: format!(
                "batch {batch} ({images} images) of the method `{}`",
                self.name
            ),
            fix: fix.into(),
        }
    }

    /// The model in Python, built once per weight generation: this method keeps the last one
    /// (by its key: the weights' fingerprint, the architecture and the input's size, which
    /// sizes a post-hoc wall's mask), and the Python side keeps the recent ones across methods
    /// and checks (`blindspot._bridge`). The parts to build it from are taken only to build it.
    fn model(&self, py: Python<'_>, ctx: &CamContext) -> Result<Py<PyAny>> {
        let size = ctx.input.size();
        let key = match ctx.model.architecture() {
            Some((architecture, _)) => format!(
                "{}|{architecture}|{}x{}",
                fingerprint(ctx.model)?,
                size[2],
                size[3]
            ),
            None => fingerprint(ctx.model)?,
        };
        if let Some((known, module)) = self.model.borrow().as_ref() {
            if *known == key {
                return Ok(module.clone_ref(py));
            }
        }
        let device = match ctx.input.device() {
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            _ => "cpu".to_string(),
        };
        let kept = self
            .bridge
            .bind(py)
            .call_method1("cached", (&key, &device))
            .map_err(|e| py_error("looking up the model kept in Python", py, e))?;
        let module = if !kept.is_none() {
            kept
        } else {
            self.build(py, ctx, &key, &device)?
        };
        let module = module.unbind();
        *self.model.borrow_mut() = Some((key, module.clone_ref(py)));
        Ok(module)
    }

    /// Builds the model in Python from its parts, kept there as `key`.
    fn build<'py>(
        &self,
        py: Python<'py>,
        ctx: &CamContext,
        key: &str,
        device: &str,
    ) -> Result<Bound<'py, PyAny>> {
        let bridge = self.bridge.bind(py);
        match parts(ctx.model, &ctx.input.narrow(0, 0, 1))? {
            Parts::TorchScript(module) => {
                let file = PrivateFile::new("model.pt")?;
                module
                    .save(file.path())
                    .map_err(|e| Error::torch("saving the TorchScript model for Python", e))?;
                bridge.call_method1("load", (key, file.path_str()?, device))
            }
            Parts::Built {
                architecture,
                state,
                inner,
            } => {
                let weights = PyDict::new(py);
                for (name, tensor) in state {
                    let tensor = PyTensor(tensor.detach());
                    weights
                        .set_item(name, tensor)
                        .map_err(|e| py_error("passing the weights to Python", py, e))?;
                }
                let file = match inner {
                    Some(module) => {
                        let file = PrivateFile::new("inner.pt")?;
                        module.save(file.path()).map_err(|e| {
                            Error::torch("saving the walled TorchScript model for Python", e)
                        })?;
                        Some(file)
                    }
                    None => None,
                };
                let inner_path = file.as_ref().map(|f| f.path_str()).transpose()?;
                bridge.call_method1(
                    "rebuild",
                    (
                        key,
                        architecture.to_string(),
                        weights,
                        inner_path,
                        device,
                        EXPORT_BUILTIN_PY,
                    ),
                )
            }
        }
        .map_err(|e| py_error(&format!("rebuilding {} in Python", ctx.model.name()), py, e))
    }
}

/// A Python error inside blindspot's own bridge (not the user's method): its type and message.
fn py_error(doing: &str, py: Python<'_>, e: PyErr) -> Error {
    Error::Torch {
        context: doing.into(),
        message: describe(py, &e),
    }
}

/// `ValueError: the message`, the way Python prints an exception's last line.
pub fn describe(py: Python<'_>, e: &PyErr) -> String {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    match text.is_empty() {
        true => kind,
        false => format!("{kind}: {}", blindspot::frontend::first_line(&text)),
    }
}

impl CamMethod for PythonMethod {
    fn name(&self) -> &str {
        &self.name
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn summary(&self) -> &str {
        "a Python callable, run in-process"
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    fn sign_ambiguous(&self) -> bool {
        self.sign_ambiguous
    }
    fn reading(&self) -> blindspot::Reading {
        match self.magnitude {
            true => blindspot::Reading::Magnitude,
            false => blindspot::Reading::Positive,
        }
    }
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        let batch = self.batches.get() + 1;
        self.batches.set(batch);
        let size = ctx.input.size();
        let (n, want) = (size[0], [size[0], size[2], size[3]]);
        Python::with_gil(|py| {
            let model = self.model(py, ctx)?;
            let inputs = PyTensor(ctx.input.shallow_clone());
            let targets = PyTensor(ctx.targets.shallow_clone());
            let called = self
                .bridge
                .bind(py)
                .call_method1("call", (self.callable.bind(py), model, inputs, targets));
            let maps = match called {
                Ok(maps) => maps,
                Err(e) => {
                    let what = format!("raised {}", describe(py, &e));
                    *self.failure.borrow_mut() = Some(Some(e));
                    return Err(self.fail(
                        batch,
                        n,
                        what,
                        "fix the method: the exception it raised is chained as __cause__, with \
                         its traceback",
                    ));
                }
            };
            // Layouts and devices a tensor can have that blindspot cannot read: named as what
            // the method returned (they were internal errors before).
            let unusable = self
                .bridge
                .bind(py)
                .call_method1("unusable", (&maps,))
                .and_then(|u| u.extract::<Option<String>>())
                .map_err(|e| py_error("checking the maps the method returned", py, e))?;
            if let Some(what) = unusable {
                return Err(self.fail(
                    batch,
                    n,
                    format!("returned {what}, not maps"),
                    "return a dense torch.Tensor (or numpy array) of float32 maps [N, H, W]",
                ));
            }
            let kind_name = maps
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let Ok(PyTensor(maps)) = maps.extract::<PyTensor>() else {
                return Err(self.fail(
                    batch,
                    n,
                    format!("returned a {kind_name}, not maps"),
                    "return a torch.Tensor or numpy array of float32 maps [N, H, W]",
                ));
            };
            let shape = maps.size();
            if shape != want {
                return Err(self.fail(
                    batch,
                    n,
                    format!("returned maps of shape {shape:?}; expected {want:?}"),
                    "return one map per input image, at the input's height and width [N, H, W]",
                ));
            }
            if !matches!(maps.kind(), Kind::Float | Kind::Double) {
                return Err(self.fail(
                    batch,
                    n,
                    format!(
                        "returned maps of dtype {}; expected torch.float32",
                        dtype_name(maps.kind())
                    ),
                    "return float32 (or float64) maps, e.g. `maps.float()`",
                ));
            }
            let maps = maps
                .detach()
                .to_device(ctx.input.device())
                .to_kind(Kind::Float);
            if maps.isfinite().all().int64_value(&[]) == 0 {
                return Err(self.fail(
                    batch,
                    n,
                    "returned maps with NaN or Inf".into(),
                    "return finite maps",
                ));
            }
            // A copy blindspot owns: the caller's tensor may be changed after the call.
            Ok(maps.copy())
        })
    }
}

/// A tensor kind as torch spells its dtype.
fn dtype_name(kind: Kind) -> String {
    let name = match kind {
        Kind::Half => "float16",
        Kind::BFloat16 => "bfloat16",
        Kind::Bool => "bool",
        Kind::Uint8 => "uint8",
        Kind::Int8 => "int8",
        Kind::Int16 => "int16",
        Kind::Int => "int32",
        Kind::Int64 => "int64",
        Kind::ComplexFloat => "complex64",
        Kind::ComplexDouble => "complex128",
        other => return format!("{other:?}"),
    };
    format!("torch.{name}")
}

/// A file in a private folder of its own (created exclusively, readable by its owner only),
/// removed with the folder when dropped: a TorchScript module saves itself only to a path.
struct PrivateFile {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl PrivateFile {
    fn new(name: &str) -> Result<PrivateFile> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "blindspot-python-{}-{:016x}",
            std::process::id(),
            random()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create a private folder for the model", &dir, e))?;
        let path = dir.join(name);
        Ok(PrivateFile { dir, path })
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn path_str(&self) -> Result<&str> {
        self.path.to_str().ok_or_else(|| {
            Error::input(
                "the private model folder's path is not valid UTF-8",
                "TMPDIR",
                "point TMPDIR at a folder whose path is valid UTF-8",
            )
        })
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A random 64-bit number for folder names (the standard library's hasher keys are random).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}
