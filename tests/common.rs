//! Helpers shared by the test modules.
#![allow(dead_code)]
use blindspot::io::npy;
use blindspot::SplitModel;
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

pub type TestResult = Result<(), Failed>;

static ARGUMENTS: std::sync::OnceLock<libtest_mimic::Arguments> = std::sync::OnceLock::new();

/// Keeps the command line's filters, so that [`wanted_any`] can tell which trials will run.
pub fn set_arguments(args: &libtest_mimic::Arguments) {
    let _ = ARGUMENTS.set(args.clone());
}

/// Whether any of `trials` passes the command line's filter and `--skip`s (as libtest-mimic
/// matches their names): a module probes for a tool (Python, Slurm) only then, so that a
/// filtered run does not wait for the probe.
pub fn wanted(trials: &[libtest_mimic::Trial]) -> bool {
    let Some(args) = ARGUMENTS.get() else {
        return true;
    };
    let matches = |name: &str, pattern: &str| match args.exact {
        true => name == pattern,
        false => name.contains(pattern),
    };
    trials.iter().map(|t| t.name()).any(|name| {
        args.filter.as_deref().is_none_or(|f| matches(name, f))
            && !args.skip.iter().any(|s| matches(name, s))
    })
}

/// `trial`, ignored when no Python with torch is found (probed only when the trial is to run).
pub fn needs_python(trial: libtest_mimic::Trial) -> libtest_mimic::Trial {
    let missing = wanted(std::slice::from_ref(&trial)) && crate::python::python().is_none();
    trial.with_ignored_flag(missing)
}

/// Suite text with the built-in checks, its relative paths resolved against the working folder.
pub fn suite(text: &str, origin: &str) -> blindspot::Result<blindspot::Suite> {
    blindspot::Suite::parse(
        text,
        origin,
        Path::new("."),
        &blindspot::Registry::builtin(),
    )
}

/// A progress bar for a theorem configuration run by hand.
pub fn progress() -> blindspot::Progress {
    blindspot::ProgressSink::from_env().start("theorem", 1)
}

/// A slow trial (training, calibration, the full default suite, a browser, Slurm, Python, or
/// several seconds of checks): its name starts with `slow::`, so that the everyday tier,
/// `cargo test --release -- --skip slow::`, leaves it out (README, "Tests"). `make test` and CI
/// run every trial.
pub fn slow(
    name: impl Into<String>,
    runner: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> libtest_mimic::Trial {
    libtest_mimic::Trial::test(format!("slow::{}", name.into()), runner)
}

/// Every built-in method's command-line name, in `blindspot methods` order: the registry's list
/// ([`blindspot::builtin_methods`]), the one every test reads.
pub fn all_methods() -> Vec<String> {
    blindspot::builtin_methods(&blindspot::Seeds::new(0))
        .iter()
        .map(|m| m.name().to_string())
        .collect()
}

/// The built-in methods that reproduce a pytorch-grad-cam class (name, class; their
/// [`blindspot::CamMethod::reference`]) and run on any split model, as fixtures/generate.py
/// writes their maps for the TorchScript fixtures (fixtures/plain, fixtures/resnet).
pub fn reference_methods() -> Vec<(String, String)> {
    referenced(false)
}

/// The built-in methods that reproduce a pytorch-grad-cam class and need the model's layers one
/// by one ([`blindspot::CamMethod::requires_steps`]: FullGrad), whose maps fixtures/generate.py
/// writes for the built-in small VGG (fixtures/guided).
pub fn steps_reference_methods() -> Vec<(String, String)> {
    referenced(true)
}

/// The `NAME-eigen-smooth` forms of [`reference_methods`] (pytorch-grad-cam's `eigen_smooth`),
/// as fixtures/generate.py writes their maps.
pub fn eigen_smooth_methods() -> Vec<String> {
    blindspot::builtin_methods(&blindspot::Seeds::new(0))
        .iter()
        .filter(|m| m.has_channel_maps() && m.reference().is_some() && !m.requires_steps())
        .map(|m| format!("{}-eigen-smooth", m.name()))
        .collect()
}

fn referenced(steps: bool) -> Vec<(String, String)> {
    blindspot::builtin_methods(&blindspot::Seeds::new(0))
        .iter()
        .filter(|m| m.requires_steps() == steps)
        .filter_map(|m| Some((m.name().to_string(), m.reference()?.to_string())))
        .collect()
}

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

/// The Rust files under `dir` (every folder below it), sorted; `dir` itself when it is a file.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return vec![dir.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("a source folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A library that, preloaded into a blindspot process, makes MKL take its Intel code paths
/// (tests/data/intel_mkl.c): the other vendor's MKL on this machine. Built once with the C
/// compiler that links Rust programs (`cc`); None, with a note, where it cannot be built.
pub fn intel_mkl() -> Option<&'static Path> {
    static SHIM: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SHIM.get_or_init(|| {
        let out = scratch_root().join("intel_mkl.so");
        let built = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&out)
            .arg(root().join("tests/data/intel_mkl.c"))
            .status();
        match built {
            Ok(status) if status.success() => Some(out),
            other => {
                eprintln!("note: no MKL vendor stand-in (cc: {other:?}); vendors not compared");
                None
            }
        }
    })
    .as_deref()
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

/// What a method's [`blindspot::CamContext`] holds for a model on a batch with explicit classes:
/// the explained layer's activations, the gradient of the classes' logits there, the logits.
pub struct Forward {
    pub activations: Tensor,
    pub grads: Tensor,
    pub logits: Tensor,
}

impl Forward {
    /// One forward of `model` on `x` and the backward of the `targets`' logits through `head`.
    pub fn of(model: &dyn SplitModel, x: &Tensor, targets: &Tensor) -> Result<Forward, Failed> {
        let activations = tch::no_grad(|| model.features(x))?;
        let leaf = activations.detach().set_requires_grad(true);
        let logits = model.head(&leaf)?;
        let score = blindspot::cam::target_scores(&logits, targets).sum(tch::Kind::Float);
        let grads = blindspot::model::gradient(&score, &leaf)?;
        Ok(Forward {
            activations,
            grads,
            logits: logits.detach(),
        })
    }

    /// The context a method reads for `model` on `x` with `targets`.
    pub fn context<'a>(
        &'a self,
        model: &'a dyn SplitModel,
        x: &'a Tensor,
        targets: &'a Tensor,
    ) -> blindspot::CamContext<'a> {
        blindspot::CamContext {
            model,
            input: x,
            layer: &self.activations,
            activations: &self.activations,
            gradients: Some(&self.grads),
            logits: &self.logits,
            targets,
        }
    }
}
