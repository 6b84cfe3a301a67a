//! The worked examples run as tests, so they cannot rot: the Python library of
//! `examples/python-library` is gated by blindspot through its adapter and suite, exactly as its
//! CI workflow does, and its badges are written. (`examples/abs-gradcam` is a workspace member:
//! `cargo test --workspace` runs its own harness.)
use crate::common::{ensure, root, TestResult};
use crate::python::python;
use libtest_mimic::Trial;
use std::process::Command;

pub fn trials() -> Vec<Trial> {
    let available = python().is_some();
    vec![Trial::test("examples::python_library_gate", python_library).with_ignored_flag(!available)]
}

fn python_library() -> TestResult {
    let folder = root().join("examples/python-library");
    let out = std::env::temp_dir().join(format!("blindspot-pylib-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_blindspot"))
        .current_dir(&folder)
        .args(["run", "--suite", "sanity.toml", "--device", "cpu", "--out"])
        .arg(&out)
        .env(
            "BLINDSPOT_PYTHON",
            python().expect("not ignored without Python"),
        )
        .env("BLINDSPOT_QUIET", "1")
        .output()?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Exit 0: every verdict is the one sanity.toml expects.
    ensure(run.status.code() == Some(0), || {
        format!("exit {:?}\n{stdout}\n{stderr}", run.status.code())
    })?;
    let badge: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        out.join("badges/sharpcam-wall.json"),
    )?)?;
    ensure(
        badge["schemaVersion"] == 1
            && badge["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("fail")),
        || format!("badge {badge}"),
    )?;
    for file in [
        "report.html",
        "badges/sharpcam-randomization.svg",
        "badges/gradcam-wall.svg",
    ] {
        ensure(out.join(file).is_file(), || format!("{file} missing"))?;
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
