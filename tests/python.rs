//! Tests that run the repository's Python tools (the venv the Makefile installs): the torchvision
//! export script. Where no Python with torch exists, the trials are listed as ignored and the
//! reason is printed.
use crate::common::{ensure, ensure_close, load_npy, root, TestResult};
use blindspot::cam::{explain, gradcam::GradCam};
use blindspot::io::npy;
use blindspot::model::init::Init;
use blindspot::model::torchscript::TorchScriptModel;
use blindspot::SplitModel;
use libtest_mimic::Trial;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use tch::Device;

/// The Python interpreter with torch: $BLINDSPOT_PYTHON (set by the Makefile) or the shared venv.
/// Probed once per test process (the probe imports torch, about a second), then remembered.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON.get_or_init(probe).clone()
}

fn probe() -> Option<PathBuf> {
    let candidate = std::env::var_os("BLINDSPOT_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(PathBuf::from(home).join(".cache/blindspot/torch-2.13.0/bin/python"))
        })?;
    let ok = Command::new(&candidate)
        .args(["-c", "import torch, torchvision"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(candidate)
}

pub fn trials() -> Vec<Trial> {
    let trials = vec![
        crate::common::slow("python::export_torchvision_resnet18", export_resnet18),
        crate::common::slow(
            "python::paper_checkpoint_conversion_loads_into_vgg16_masked",
            convert_checkpoint,
        ),
        crate::common::slow("python::resnet18_walls_need_tall_inputs", resnet18_walls),
    ];
    // Importing torch takes seconds: probe only when a Python trial is to run.
    let wanted = crate::common::wanted(&trials);
    let available = wanted && python().is_some();
    if wanted && !available {
        eprintln!(
            "note: no Python with torch found (set BLINDSPOT_PYTHON or run `make test`); \
             python trials are ignored"
        );
    }
    trials
        .into_iter()
        .map(|t| t.with_ignored_flag(!available))
        .collect()
}

/// docs/models.md's table of walls on ResNet-18 at 224×224: at layer4 only the wall over six of
/// the seven feature rows hides anything (rows 218..223), one row less hides nothing and is
/// refused; at layer3 the bottom half of the rows hides rows 202..223.
fn resnet18_walls() -> TestResult {
    let python = python().ok_or("no python")?;
    let dir = crate::common::scratch_root().join(format!("r18-walls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let certify = |split: &str, rows: &str| -> std::result::Result<(bool, String), String> {
        let model = dir.join(format!("resnet18-{split}.pt"));
        if !model.is_file() {
            let out = Command::new(&python)
                .arg(root().join("python/export_torchvision.py"))
                .args(["resnet18", model.to_str().unwrap(), "--num-classes", "10"])
                .args(["--split", split])
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("export: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_blindspot"))
            .args(["certify", "--device", "cpu", "--input-size", "224x224"])
            .arg("--model")
            .arg(&model)
            .args(["--mask-rows", rows])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        Ok((out.status.success(), text.into_owned()))
    };
    for (split, rows, blind) in [
        ("layer4", "1..", Some("input rows 218..223 (6 of 224 rows)")),
        ("layer4", "2..", None),
        (
            "layer3",
            "7..",
            Some("input rows 202..223 (22 of 224 rows)"),
        ),
    ] {
        let (ok, text) = certify(split, rows)?;
        match blind {
            Some(region) => ensure(ok && text.contains(region), || {
                format!("{split} wall {rows}: want {region}, got {text}")
            })?,
            None => ensure(!ok && text.contains("no input pixel"), || {
                format!("{split} wall {rows}: want a refusal, got {text}")
            })?,
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn export_resnet18() -> TestResult {
    let python = python().ok_or("no python")?;
    let dir = crate::common::scratch_root().join(format!("export-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let model_path = dir.join("resnet18.pt");
    let out = Command::new(&python)
        .arg(root().join("python/export_torchvision.py"))
        .args([
            "resnet18",
            model_path.to_str().unwrap(),
            "--num-classes",
            "7",
        ])
        .output()?;
    ensure(out.status.success(), || {
        format!("export failed: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    let x = Init::new(5, Device::Cpu).normal(&[2, 3, 64, 64], 1.0);
    npy::write(&dir.join("x.npy"), &x)?;
    // PyTorch's own forward of the exported module, as the reference.
    let script = format!(
        "import numpy as np, torch; m = torch.jit.load('{}'); \
         x = torch.from_numpy(np.load('{}'));\nwith torch.no_grad(): np.save('{}', m(x).numpy())",
        model_path.display(),
        dir.join("x.npy").display(),
        dir.join("logits.npy").display()
    );
    let out = Command::new(&python).args(["-c", &script]).output()?;
    ensure(out.status.success(), || {
        format!(
            "reference forward failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let model = TorchScriptModel::load(&model_path, Device::Cpu)?;
    let a = model.features(&x)?;
    ensure(a.size() == [2, 512, 2, 2], || {
        format!("features shape {:?}", a.size())
    })?;
    ensure_close(
        "logits vs PyTorch",
        &model.head(&a)?,
        &load_npy(&dir.join("logits.npy")),
        1e-4,
    )?;
    let e = explain(&GradCam, &model, &x, None)?;
    ensure(e.maps.size() == [2, 64, 64], || {
        format!("map shape {:?}", e.maps.size())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The conversion script on a checkpoint it produces from a randomly initialised PyTorch masked
/// VGG16 (the authors' files are not available here): blindspot's builtin:vgg16-masked loaded
/// with the converted weights must give PyTorch's logits.
fn convert_checkpoint() -> TestResult {
    let python = python().ok_or("no python")?;
    let dir = crate::common::scratch_root().join(format!("convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (checkpoint, converted) = (
        dir.join("params_vgg16_masked.pt"),
        dir.join("vgg16_masked.safetensors"),
    );
    let out = Command::new(&python)
        .arg(root().join("python/convert_paper_checkpoint.py"))
        .args([
            checkpoint.to_str().unwrap(),
            converted.to_str().unwrap(),
            "--random-init",
            "--seed",
            "3",
        ])
        .output()?;
    ensure(out.status.success(), || {
        format!(
            "conversion failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let x = Init::new(6, Device::Cpu).normal(&[1, 3, 224, 224], 1.0);
    npy::write(&dir.join("x.npy"), &x)?;
    let script = format!(
        "import sys, numpy as np, torch; sys.path.insert(0, '{}')\n\
         from convert_paper_checkpoint import MaskedVGG16\n\
         m = MaskedVGG16(); m.load_state_dict(torch.load('{}', weights_only=True)); m.eval()\n\
         with torch.no_grad(): np.save('{}', m(torch.from_numpy(np.load('{}'))).numpy())",
        root().join("python").display(),
        checkpoint.display(),
        dir.join("logits.npy").display(),
        dir.join("x.npy").display()
    );
    let out = Command::new(&python).args(["-c", &script]).output()?;
    ensure(out.status.success(), || {
        format!(
            "reference forward failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let _ = std::fs::remove_file(&checkpoint);
    let options = blindspot::model::ModelOptions {
        weights: Some(converted.clone()),
        ..Default::default()
    };
    let model = blindspot::model::zoo::open("builtin:vgg16-masked", Device::Cpu, &options)?;
    let logits = tch::no_grad(|| model.forward(&x))?;
    let result = ensure_close(
        "logits vs PyTorch",
        &logits,
        &load_npy(&dir.join("logits.npy")),
        1e-4,
    );
    let _ = std::fs::remove_dir_all(&dir);
    result
}
