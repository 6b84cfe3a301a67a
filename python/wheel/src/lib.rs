//! `blindspot._blindspot`: the native half of blindspot's Python module (docs/python.md), a front
//! end on the library's public API alone (its root and `blindspot::frontend`): a check's keyword
//! parameters arrive as JSON values and become a typed [`blindspot::Request`], as a suite's table
//! does. The Python package (`python/wheel/blindspot/`) wraps it: it checks the installed torch
//! before this module loads, turns Python callables into methods, and holds the pytest plugin and
//! the adapters.
//!
//! Tensors cross in both directions without copies (pyo3-tch shares the storage: one libtorch,
//! torch's, serves both sides). A Python method runs in this process, once per batch
//! ([`method::PythonMethod`]). Errors cross as exceptions: a blindspot error is a
//! `BlindspotError` with its what/where/fix message; a method that raised or returned bad maps is
//! a `MethodError` naming the method and the batch, chaining the method's own exception.
mod method;
mod observer;
mod report;

use blindspot::{CamMethod, Error, Registry, Request, Suite};
use method::{Failure, PythonMethod};
use observer::PyObserver;
use pyo3::exceptions::{PyAssertionError, PyException};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use report::{Outcome, PyReport};
use std::rc::Rc;
use std::sync::Arc;

pyo3::create_exception!(
    _blindspot,
    BlindspotError,
    PyException,
    "An error blindspot reports: what went wrong, where, and how to fix it."
);
pyo3::create_exception!(
    _blindspot,
    MethodError,
    BlindspotError,
    "A Python method raised, or returned maps blindspot cannot use (the method and batch named)."
);
pyo3::create_exception!(
    _blindspot,
    VerdictError,
    PyAssertionError,
    "Verdicts that are not the ones expected (`Report.require()`), with their statistics."
);

/// A method as the Python side describes it: (name, title, callable, sign_ambiguous, whether
/// its map is read by its magnitude).
type MethodSpec = (String, String, Py<PyAny>, bool, bool);

/// Methods as blindspot runs them.
type Methods = Vec<Box<dyn CamMethod>>;

/// The Python methods, each with the slot its failure lands in.
fn python_methods(py: Python<'_>, specs: Vec<MethodSpec>) -> PyResult<(Methods, Vec<Failure>)> {
    let mut methods: Vec<Box<dyn CamMethod>> = Vec::new();
    let mut failures = Vec::new();
    for (name, title, callable, sign_ambiguous, magnitude) in specs {
        let builtin = blindspot::builtin_methods(&blindspot::Seeds::new(0))
            .iter()
            .any(|m| m.name().eq_ignore_ascii_case(&name));
        if builtin {
            return Err(BlindspotError::new_err(format!(
                "a Python method may not take the built-in method name `{name}`\n  where: the \
                 methods given\n  fix: name it otherwise (methods={{\"my-{name}\": fn}}), or \
                 pass \"{name}\" for the built-in one"
            )));
        }
        let failure = Failure::default();
        let m = PythonMethod::new(
            py,
            name,
            title,
            callable,
            sign_ambiguous,
            magnitude,
            Rc::clone(&failure),
        )?;
        methods.push(Box::new(m));
        failures.push(failure);
    }
    Ok((methods, failures))
}

/// A blindspot error as a Python exception: a `MethodError` chaining the method's exception
/// when a Python method failed, the method's own exception when it was no `Exception` (a
/// KeyboardInterrupt, a SystemExit), a `BlindspotError` otherwise.
fn to_python(py: Python<'_>, err: Error, failures: &[Failure]) -> PyErr {
    let text = blindspot::frontend::printable(&err.to_string());
    let failed = failures.iter().find_map(|f| f.borrow_mut().take());
    match failed {
        Some(Some(raised)) if !raised.is_instance_of::<PyException>(py) => raised,
        Some(raised) => {
            let e = MethodError::new_err(text);
            e.set_cause(py, raised);
            e
        }
        None => BlindspotError::new_err(text),
    }
}

/// A value moved across `allow_threads` on the thread that made it: the closure runs on the
/// calling thread, and what it holds of Python (a method's `Py` handles) is touched only under
/// `Python::with_gil`.
struct SameThread<T>(T);
// SAFETY: `allow_threads` runs its closure on the current thread; no value crosses threads.
unsafe impl<T> Send for SameThread<T> {}

/// Runs `f` with the GIL released (libtorch's autograd engine refuses to run while it is held;
/// a Python method takes it back for its call), turning a panic into a `BlindspotError` (an
/// internal failure), never a crash. What stopped a run through `observer` (Ctrl-C's
/// `KeyboardInterrupt`, an exception of the progress callback) is raised as it is.
fn guarded<T>(
    py: Python<'_>,
    failures: &[Failure],
    observer: Option<&PyObserver>,
    f: impl FnOnce() -> blindspot::Result<T>,
) -> PyResult<T> {
    let job = SameThread(f);
    let outcome = py.allow_threads(move || {
        let job = job;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.0));
        std::panic::set_hook(previous);
        SameThread(outcome)
    });
    if let Some(raised) = observer.and_then(PyObserver::take_raised) {
        return Err(raised);
    }
    match outcome.0 {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_python(py, err, failures)),
        Err(panic) => {
            if let Some(err) = failures
                .iter()
                .find_map(|f| f.borrow_mut().take())
                .flatten()
            {
                return Err(err);
            }
            let message = blindspot::frontend::panic_message(panic.as_ref());
            Err(BlindspotError::new_err(format!(
                "internal failure: {}\n  where: blindspot\n  fix: this is a bug in blindspot or \
                 an input it failed to validate; please report the call",
                blindspot::frontend::first_line(&message)
            )))
        }
    }
}

/// Runs one registered check. `parameters` are its parameters as JSON (an object: a suite's
/// keys, or the command line's with `_` for `-`); `builtin` the built-in methods by name (None:
/// every one unless Python methods are given).
#[pyfunction]
#[pyo3(signature = (name, parameters, builtin, methods, seed=None, family_wise_error=None,
                    device=None, expect_pass=false, json=None, external=Vec::new(),
                    external_timeout=None, keep_jobs=false, progress=None, quiet=false))]
#[allow(clippy::too_many_arguments)]
fn check(
    py: Python<'_>,
    name: &str,
    parameters: &str,
    builtin: Option<Vec<String>>,
    methods: Vec<MethodSpec>,
    seed: Option<u64>,
    family_wise_error: Option<f64>,
    device: Option<String>,
    expect_pass: bool,
    json: Option<std::path::PathBuf>,
    external: Vec<String>,
    external_timeout: Option<f64>,
    keep_jobs: bool,
    progress: Option<Py<PyAny>>,
    quiet: bool,
) -> PyResult<PyReport> {
    let (methods, failures) = python_methods(py, methods)?;
    let place = format!("blindspot.check({name:?})");
    let observer = Arc::new(PyObserver::new(progress, quiet));
    let run = guarded(py, &failures, Some(&*observer), || {
        let parameters =
            match serde_json::from_str(parameters) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(Error::input(
                    "the parameters are not a table of values",
                    &place,
                    "give the check's parameters as keywords of numbers, strings, lists and dicts",
                )),
            };
        let check = Registry::builtin().check_from_parameters(name, parameters)?;
        let mut request = Request::check(check, place.clone())
            .with_provided(methods)
            .with_seed(seed)
            .with_family_wise_error(family_wise_error)
            .with_device(device)
            .with_expect_pass(expect_pass)
            .with_keep_jobs(keep_jobs)
            .with_observer(observer.clone())
            .with_external(
                external,
                external_timeout.unwrap_or(blindspot::EXTERNAL_TIMEOUT),
            );
        if let Some(names) = builtin {
            request = request.with_builtin(names);
        }
        let run = request.run()?;
        if let Some(path) = &json {
            run.report.write_json(path)?;
        }
        Ok(run)
    })?;
    Ok(PyReport::new(run))
}

/// Runs a suite (a shipped suite's name or a suite file) with the Python methods beside its
/// own.
#[pyfunction]
#[pyo3(signature = (suite, methods, seed=None, family_wise_error=None, device=None,
                    expect_pass=false, progress=None, quiet=false))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    suite: &str,
    methods: Vec<MethodSpec>,
    seed: Option<u64>,
    family_wise_error: Option<f64>,
    device: Option<String>,
    expect_pass: bool,
    progress: Option<Py<PyAny>>,
    quiet: bool,
) -> PyResult<PyReport> {
    let (methods, failures) = python_methods(py, methods)?;
    let place = format!("blindspot.run({suite:?})");
    let observer = Arc::new(PyObserver::new(progress, quiet));
    let run = guarded(py, &failures, Some(&*observer), || {
        let names: Vec<String> = methods.iter().map(|m| m.name().to_string()).collect();
        let parsed = Suite::open_providing(suite, &Registry::builtin(), &names)?;
        Request::suite(parsed, place.clone())
            .with_provided(methods)
            .with_seed(seed)
            .with_family_wise_error(family_wise_error)
            .with_device(device)
            .with_expect_pass(expect_pass)
            .with_observer(observer.clone())
            .run()
    })?;
    Ok(PyReport::new(run))
}

/// One method's maps for `inputs` on a model (a model specification, as `--model` takes):
/// float32 [N, H, W], post-processed as every check sees them. `targets` default to the model's
/// predictions.
#[pyfunction]
#[pyo3(signature = (method, model, inputs, targets=None, mask_rows=None))]
fn explain(
    py: Python<'_>,
    method: Bound<'_, PyAny>,
    model: &str,
    inputs: PyTensor,
    targets: Option<PyTensor>,
    mask_rows: Option<String>,
) -> PyResult<PyTensor> {
    let (method, failures): (Box<dyn CamMethod>, Vec<Failure>) = match method.extract::<String>() {
        Ok(name) => {
            let seeds = blindspot::Seeds::new(0);
            let m = blindspot::method_named(&name, &seeds).map_err(|e| to_python(py, e, &[]))?;
            (m, Vec::new())
        }
        Err(_) => {
            let spec: MethodSpec = method.extract()?;
            let (mut methods, failures) = python_methods(py, vec![spec])?;
            (methods.remove(0), failures)
        }
    };
    let options = blindspot::ModelOptions {
        mask_rows,
        ..Default::default()
    };
    let maps = guarded(py, &failures, None, || {
        let device = inputs.device();
        let model = blindspot::open_model(model, device, &options)?;
        let targets = targets.as_ref().map(|t| t.0.to_device(device));
        let explained =
            blindspot::explain(method.as_ref(), model.as_ref(), &inputs, targets.as_ref())?;
        Ok(explained.maps)
    })?;
    Ok(PyTensor(maps))
}

/// STACK-SYNTH images as a check with `synthetic=N, data_seed=SEED, size=SIZE` draws them:
/// normalised float32 [N, 3, SIZE, SIZE] on the CPU.
#[pyfunction]
#[pyo3(signature = (n, seed=0, size=64))]
fn synthetic(py: Python<'_>, n: i64, seed: u64, size: i64) -> PyResult<PyTensor> {
    let data = blindspot::DataSpec::Synthetic {
        synthetic: n,
        seed: Some(seed),
        size,
    };
    let images = guarded(py, &[], None, || data.load(&blindspot::Seeds::new(seed)))?;
    Ok(PyTensor(images))
}

/// The built-in methods: (name, title, summary) each.
#[pyfunction]
fn methods() -> Vec<(String, String, String)> {
    blindspot::builtin_methods(&blindspot::Seeds::new(0))
        .iter()
        .map(|m| (m.name().into(), m.title().into(), m.summary().into()))
        .collect()
}

/// The checks of the registry by name.
#[pyfunction]
fn checks() -> Vec<String> {
    Registry::builtin()
        .names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Applies the precision policy (docs/precision.md) once per process: `reproducible`, `fast`,
/// or `None` for $BLINDSPOT_PRECISION; returns what libtorch computes with, in words.
#[pyfunction]
#[pyo3(signature = (mode=None))]
fn init_precision(py: Python<'_>, mode: Option<&str>) -> PyResult<String> {
    guarded(py, &[], None, || {
        let record = match mode {
            Some(text) => blindspot::precision::init(blindspot::precision::Precision::parse(
                text,
                "blindspot.set_precision",
            )?),
            None => blindspot::precision::init_from_env(),
        }?;
        Ok(record.summary())
    })
}

/// The `blindspot` command, run in this process on `argv` (the program's name first); returns
/// its exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> u8 {
    use std::io::Write as _;
    // Without the GIL, as every other entry: libtorch's autograd engine refuses to run while it
    // is held (`blindspot run`, `check` and `explain` failed on that, blaming the model).
    let code = py.allow_threads(move || blindspot::frontend::command_line_from(argv));
    // Outside a Rust `main` nothing flushes the standard output at exit.
    let _ = std::io::stdout().flush();
    code
}

#[pymodule]
fn _blindspot(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // pyo3-tch wraps tensors through torch's own C API: torch must be loaded first.
    m.py().import("torch")?;
    m.add("BlindspotError", m.py().get_type::<BlindspotError>())?;
    m.add("MethodError", m.py().get_type::<MethodError>())?;
    m.add("VerdictError", m.py().get_type::<VerdictError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TORCH_VERSION", "2.13.0")?;
    m.add_class::<PyReport>()?;
    m.add_class::<Outcome>()?;
    m.add_class::<report::ControlOutcome>()?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(synthetic, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(checks, m)?)?;
    m.add_function(wrap_pyfunction!(init_precision, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(report::_restore_report, m)?)?;
    m.add_function(wrap_pyfunction!(report::_restore_result, m)?)?;
    Ok(())
}
