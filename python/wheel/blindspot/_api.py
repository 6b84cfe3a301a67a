"""The Python API (docs/python.md): checks and suites on Python callables, run in-process."""
import json as _json
import math
import os

from . import _observers, _progress
from ._native import native

BlindspotError = native.BlindspotError
MethodError = native.MethodError
VerdictError = native.VerdictError
Report = native.Report
Result = native.Result

# The precision policy (docs/precision.md), once per process, before blindspot runs libtorch:
# $BLINDSPOT_PRECISION, else reproducible (the same bits on every x86-64 machine with AVX2).
_PRECISION = native.init_precision(None)

def precision():
    """The precision policy in force and what libtorch computes with, in words."""
    return _PRECISION


def methods():
    """The built-in methods' names."""
    return [name for name, _, _ in native.methods()]


def checks():
    """The registered checks' names."""
    return native.checks()


def _python_method(item, name=None):
    """(name, title, callable, sign_ambiguous, magnitude) for a callable."""
    if not callable(item):
        raise TypeError(
            f"a method is a callable method(model, inputs, targets) -> maps or a built-in "
            f"method's name, not {type(item).__name__}"
        )
    name = name or getattr(item, "blindspot_name", None) or getattr(item, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise ValueError(
            "this method has no name to report it by: pass it as methods={'my-cam': method} "
            "or set method.blindspot_name"
        )
    title = getattr(item, "blindspot_title", None) or name
    reading = getattr(item, "blindspot_reading", "positive")
    if reading not in ("positive", "magnitude"):
        raise ValueError(
            f"method {name}: blindspot_reading is {reading!r}; it is 'positive' (the map's "
            f"positive part, as a CAM's ReLU keeps it) or 'magnitude' (|map|, for a signed "
            f"attribution)"
        )
    return (name, str(title), item, bool(getattr(item, "sign_ambiguous", False)),
            reading == "magnitude")


def _method_list(method, methods):
    """The built-in methods' names and the Python methods among `method` and `methods`."""
    items = [] if method is None else [method]
    if isinstance(methods, str):
        items += [m.strip() for m in methods.split(",") if m.strip()]
    elif isinstance(methods, dict):
        for key in methods:
            if not isinstance(key, str):
                raise TypeError(f"methods={{NAME: method}} takes names that are strings, not "
                                f"{type(key).__name__} ({key!r})")
        items += list(methods.items())
    elif methods is not None:
        items += list(methods)
    builtin, python = [], []
    for item in items:
        if isinstance(item, str):
            builtin.append(item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            python.append(_python_method(item[1], item[0]))
        else:
            python.append(_python_method(item))
    return builtin, python


def _value(value):
    """A parameter as a JSON value: paths as their text (everything else json knows or refuses)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"a check's parameter is a number, string, bool, list or dict, not "
                    f"{type(value).__name__} ({value!r})")


def _parameters(params):
    """The check's parameters as JSON: None is left out (the check's default applies)."""
    given = {key: value for key, value in params.items() if value is not None}
    try:
        return _json.dumps(given, default=_value, allow_nan=False)
    except ValueError:
        bad = [key for key, value in given.items()
               if isinstance(value, float) and not math.isfinite(value)]
        raise BlindspotError(
            f"a check's parameter is not a finite number: {', '.join(bad) or 'a nested one'}\n"
            f"  where: blindspot.check\n  fix: give finite numbers") from None


def _notify(report):
    for observer in list(_observers.observers):
        observer(report)
    return report


def check(name, method=None, *, methods=None, seed=None, family_wise_error=None, device=None,
          expect_pass=False, json=None, external=None, external_timeout=None, keep_jobs=False,
          progress=None, **params):
    """Runs the registered check `name` (`wall`, `randomization`, `theorem`, …) and returns its
    `Report`; with one result, `report.verdict`, `.passed`, `.mean`, `.interval`, `.n`,
    `.reason` and `.rule` read it.

    `method` (or `methods`, a list or a {name: callable} dict) is a callable
    `method(model, inputs, targets) -> maps` or a built-in method's name; without either, every
    built-in method runs (as `blindspot check NAME`). The other keywords are the check's
    parameters, as a suite's table holds them (`model="builtin:stack-masked"`,
    `data={"synthetic": 32}`, `threshold=0.05`) or with the command line's image flags
    (`synthetic=32`, `data_seed=1`, `input=...`, `data=FOLDER`, `size`, `preprocess`); besides
    them the run's own: `seed`, `family_wise_error`, `device`, `expect_pass`, `json` (write
    report.json there), `external` (a list of NAME=COMMAND), `external_timeout`, `keep_jobs`,
    and `progress` (None: a tqdm bar in a notebook, stderr lines elsewhere; False; "tqdm";
    "stderr"; or a callable `progress(label, done, total, finished)`). Values are Python
    values, never command-line words. Ctrl-C stops the check within a batch
    (KeyboardInterrupt).
    """
    builtin, python = _method_list(method, methods)
    if method is None and methods is None:
        builtin = None
    if isinstance(external, str):
        external = [external]
    parameters = _parameters(params)
    callback, quiet, bars = _progress.resolve(progress)
    try:
        report = native.check(name, parameters, builtin, python, seed=seed,
                              family_wise_error=family_wise_error, device=device,
                              expect_pass=expect_pass,
                              json=None if json is None else os.fspath(json),
                              external=list(external or []), external_timeout=external_timeout,
                              keep_jobs=keep_jobs, progress=callback, quiet=quiet)
    finally:
        if bars is not None:
            bars.close()
    return _notify(report)


def run(suite, methods=None, *, seed=None, family_wise_error=None, device=None,
        expect_pass=False, progress=None):
    """Runs a suite (`default`, `theorem`, `paper`, `property`, or a suite file) with the Python
    `methods` (a {name: callable} dict or a list of named callables) beside the methods the
    suite names; its expectations may name them. Returns the `Report`: `.ok` is the command
    line's exit code, `.write(dir)` its output folder. `progress` as for `check`."""
    builtin, python = _method_list(None, methods)
    if builtin:
        raise ValueError(
            f"run() takes Python methods; the suite names its built-in ones ({builtin} given)"
        )
    callback, quiet, bars = _progress.resolve(progress)
    try:
        report = native.run(os.fspath(suite), python, seed=seed,
                            family_wise_error=family_wise_error, device=device,
                            expect_pass=expect_pass, progress=callback, quiet=quiet)
    finally:
        if bars is not None:
            bars.close()
    return _notify(report)


def _restore_report(text, galleries):
    """A pickled `Report` back (what `Report.__reduce__` names)."""
    return native._restore_report(text, galleries)


def _restore_result(text):
    """A pickled `Result` back (what `Result.__reduce__` names)."""
    return native._restore_result(text)


def explain(method, model, inputs, targets=None, mask_rows=None):
    """The maps [N, H, W] a method (a built-in name or a callable) makes for `inputs` on `model`
    (a model specification such as `builtin:stack-masked` or a TorchScript file), post-processed
    as every check sees them. `targets` default to the model's predictions."""
    if not isinstance(method, str):
        method = _python_method(method)
    return native.explain(method, os.fspath(model), inputs, targets, mask_rows)


def synthetic(n, seed=0, size=64):
    """`n` STACK-SYNTH images (normalised float32 [n, 3, size, size]) as a check with
    `synthetic=n, data_seed=seed` draws them."""
    return native.synthetic(n, seed, size)
