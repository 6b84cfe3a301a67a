//! Helpers shared by the test modules.
#![allow(dead_code)]
use blindspot::io::npy;
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

pub type TestResult = Result<(), Failed>;

/// Every built-in method's command-line name, in `blindspot methods` order.
pub const ALL_METHODS: [&str; 13] = [
    "gradcam",
    "hirescam",
    "gradcam-elementwise",
    "gradcam++",
    "xgradcam",
    "layercam",
    "scorecam",
    "ablationcam",
    "eigencam",
    "eigengradcam",
    "opticam",
    "randomcam",
    "sobel",
];

/// This test process's scratch folder, `$TMPDIR/blindspot-tests-PID`: every trial writes under
/// it, and `tests/suite.rs` removes it when every trial passed (it stays, named on stderr, for a
/// look when one failed).
pub fn scratch_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("blindspot-tests-{}", std::process::id()));
        // A folder of a dead process that had this id is a leftover of an aborted test run.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test scratch folder");
        dir
    })
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    root().join("fixtures").join(path)
}

pub fn load_npy(path: &Path) -> Tensor {
    npy::read(path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
        .to_tensor()
}

/// Fails unless `cond`, with a message.
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(message().into())
    }
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// A tensor's values as nested f64 vectors, row-major, for literal loops.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("tensor to vec")
}

/// Fails unless the max absolute difference is within `tol`.
pub fn ensure_close(label: &str, got: &Tensor, want: &Tensor, tol: f64) -> TestResult {
    ensure(got.size() == want.size(), || {
        format!("{label}: shape {:?} vs {:?}", got.size(), want.size())
    })?;
    let d = max_abs_diff(got, want);
    ensure(d <= tol, || {
        format!("{label}: max |diff| = {d:.3e} > {tol:.0e}")
    })
}

/// `blindspot merge` of `shards` with the built-in checks, no partial merge.
pub fn merge(
    shards: Vec<blindspot::report::Report>,
) -> blindspot::error::Result<blindspot::report::Report> {
    blindspot::check::merge::merge(shards, false, &blindspot::check::Registry::builtin())
}
