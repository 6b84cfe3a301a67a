"""blindspot: sanity checks for saliency maps, from Python (docs/python.md).

    import blindspot

    def my_cam(model, inputs, targets):      # model: TorchScript split model (features, head)
        ...                                   # inputs: float32 [N, C, H, W], targets: int64 [N]
        return maps                           # [N, H, W], a tensor or a numpy array

    result = blindspot.check("wall", method=my_cam, model="builtin:stack-masked", synthetic=32)
    assert result.passed, result

`check` runs one check (the parameters of `blindspot check NAME --help`, as keywords), `run` a
suite; both take Python callables, run in this process once per batch, beside the built-in
methods. The heavy part (torch and the native module) loads on first use, so the pytest plugin
costs nothing to the test runs that do not use it.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    # The distribution's version, which is the crate's (pyproject.toml).
    __version__ = _version("blindspot-saliency")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "unknown"

_API = {
    "check", "run", "explain", "synthetic", "methods", "checks", "precision",
    "Report", "Result", "BlindspotError", "MethodError", "VerdictError",
}

__all__ = sorted(_API) + ["adapters"]


def __getattr__(name):
    import importlib

    if name in _API:
        return getattr(importlib.import_module("blindspot._api"), name)
    if name == "adapters":
        return importlib.import_module("blindspot.adapters")
    raise AttributeError(f"module 'blindspot' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API) + ["adapters"])
