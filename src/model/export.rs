//! Writing a split model as a TorchScript split model (a `.pt` with `features` and `head`), for
//! external methods. TorchScript models save themselves (with any in-place change, such as
//! randomized weights). Built-in models describe their architecture (JSON) and state (safetensors)
//! and `python/export_builtin.py` rebuilds and scripts them (Python with torch:
//! `$BLINDSPOT_PYTHON`, else `python3`); a post-hoc wall around a TorchScript model is rebuilt the
//! same way around the saved inner module.
use super::SplitModel;
use crate::error::{first_line, Error, Result};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The longest an export of a built-in model may take (it takes seconds).
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

const EXPORT_BUILTIN: &str = include_str!("../../python/export_builtin.py");

/// The Python interpreter blindspot uses for helpers: `$BLINDSPOT_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("BLINDSPOT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// What a split model is made of, for whoever rebuilds it as a TorchScript split model: a
/// TorchScript module that saves itself, or a built-in architecture (the JSON that
/// `python/export_builtin.py`'s `build` reads) with its current state. The Python module
/// rebuilds the second in its own process, with no file and no child process.
pub enum Parts<'a> {
    /// A TorchScript split model, with its current weights.
    TorchScript(&'a tch::CModule),
    /// A built-in architecture, its state (torchvision-style names, current values) and, for a
    /// post-hoc wall around a TorchScript model, that model (`architecture["inner"]` says
    /// `"kind": "torchscript"`; its `path` is for the saver to fill in).
    Built {
        /// The architecture, as `python/export_builtin.py`'s `build` reads it.
        architecture: serde_json::Value,
        /// Every parameter and buffer by its torchvision-style name, current values.
        state: Vec<(String, Tensor)>,
        /// The TorchScript model inside a post-hoc wall, if any.
        inner: Option<&'a tch::CModule>,
    },
}

/// `python/export_builtin.py`, which rebuilds [`Parts::Built`] as TorchScript.
pub const EXPORT_BUILTIN_PY: &str = EXPORT_BUILTIN;

/// The parts of `model`; `example` is a valid input batch (it sizes post-hoc walls).
pub fn parts<'a>(model: &'a dyn SplitModel, example: &Tensor) -> Result<Parts<'a>> {
    if let Some(module) = model.as_torchscript() {
        return Ok(Parts::TorchScript(module));
    }
    let Some((mut arch, state)) = model.architecture() else {
        return Err(Error::model(
            "this model cannot be written as TorchScript for an external method",
            model.name(),
            "use a built-in model or a TorchScript split model",
        ));
    };
    let mut inner = None;
    // A wall sizes its mask from the features; it may sit inside an input shift (`shifted`),
    // which keeps the feature size.
    let kind = arch["kind"].as_str().unwrap_or_default().to_string();
    let walled = match kind.as_str() {
        "shifted" if arch["inner"]["kind"] == "walled" => Some(&mut arch["inner"]),
        "walled" => Some(&mut arch),
        _ => None,
    };
    if let Some(arch) = walled {
        arch["feature_rows"] =
            serde_json::json!(tch::no_grad(|| model.features(example))?.size()[2]);
        if arch["inner"]["kind"] == "torchscript" {
            inner = Some(model.inner_torchscript().ok_or_else(|| {
                Error::model(
                    "a walled TorchScript model lost its module",
                    model.name(),
                    "report this",
                )
            })?);
        }
    }
    Ok(Parts::Built {
        architecture: arch,
        state,
        inner,
    })
}

/// A cheap fingerprint of the model's current weights (its name and, per parameter, the sum and
/// the sum of squares): a method that rebuilds the model keys its copies by it.
pub fn fingerprint(model: &dyn SplitModel) -> Result<String> {
    let mut parts = vec![model.name()];
    for (i, group) in model.parameter_groups()?.iter().enumerate() {
        for (name, t) in &group.parameters {
            let t = t.to_kind(tch::Kind::Double);
            let s = (&t * (i as f64 + 1.0))
                .sum(tch::Kind::Double)
                .double_value(&[]);
            let q = t.square().sum(tch::Kind::Double).double_value(&[]);
            parts.push(format!("{name}:{s:e}:{q:e}"));
        }
    }
    Ok(parts.join("|"))
}

/// Writes `model` as a TorchScript split model reproducing its current weights; `example` is a
/// valid input batch (it sizes post-hoc walls).
pub fn save_split(model: &dyn SplitModel, example: &Tensor, path: &Path) -> Result<()> {
    let (mut arch, state, inner) = match parts(model, example)? {
        Parts::TorchScript(module) => {
            return module
                .save(path)
                .map_err(|e| Error::torch(format!("saving {}", path.display()), e))
        }
        Parts::Built {
            architecture,
            state,
            inner,
        } => (architecture, state, inner),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the folder", dir, e))?;
    if let Some(walled) = inner {
        let inner_path = dir.join("inner.pt");
        walled
            .save(&inner_path)
            .map_err(|e| Error::torch("saving the inner TorchScript module", e))?;
        arch["inner"]["path"] = serde_json::json!(inner_path);
    }
    let (arch_path, weights_path, script) = (
        dir.join("architecture.json"),
        dir.join("weights.safetensors"),
        dir.join(".export_builtin.py"),
    );
    std::fs::write(
        &arch_path,
        serde_json::to_string_pretty(&arch).expect("json"),
    )
    .map_err(|e| Error::io("write", &arch_path, e))?;
    let named: Vec<(String, Tensor)> = state
        .into_iter()
        .map(|(n, t)| (n, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    let named_refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&named_refs, &weights_path)
        .map_err(|e| Error::torch("writing the weights for export", e))?;
    std::fs::write(&script, EXPORT_BUILTIN).map_err(|e| Error::io("write", &script, e))?;
    let python = python();
    // Bounded and killed with blindspot: an export that hangs, or a SIGTERM, leaves no orphan.
    let ran = crate::process::supervisor::Command::new(
        &python,
        &[
            script.as_os_str(),
            arch_path.as_os_str(),
            weights_path.as_os_str(),
            path.as_os_str(),
        ],
    )
    .map_err(|e| e.to_string())
    .and_then(|command| crate::process::run_group(&command, EXPORT_TIMEOUT));
    let _ = std::fs::remove_file(&script);
    let (status, stderr) = ran.map_err(|e| {
        Error::model(
            format!(
                "cannot run {} to write {} as TorchScript: {e}",
                python.display(),
                model.name()
            ),
            format!("exporting {} for an external method", model.name()),
            "exporting a built-in model for an external method needs Python with torch: \
             set BLINDSPOT_PYTHON (make installs one)",
        )
    })?;
    if !status.success() {
        // A Python traceback ends with the exception; its first line says only "Traceback".
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Error::model(
            format!(
                "writing {} as TorchScript failed: {}",
                model.name(),
                crate::io::escape::printable(&first_line(last))
            ),
            format!("exporting {} for an external method", model.name()),
            "set BLINDSPOT_PYTHON to a Python with torch 2.13.0 (the Makefile's venv)",
        ));
    }
    Ok(())
}
