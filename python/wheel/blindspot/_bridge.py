"""The Python half of a Python method's call, used by the native module: calling the method
with autograd on, and rebuilding the model the check explains as a TorchScript split model."""
import json
import linecache
import sys
import threading
import types
import warnings

import torch

_export = None
# TorchScript compiles a class once per process, and two threads compiling the same class at
# once fail ("Can't redefine method"): checks run from several threads rebuild one at a time.
_scripting = threading.Lock()


def call(method, model, inputs, targets):
    """`method(model, inputs, targets)`, with gradients enabled (blindspot may be inside a
    no-grad region); a numpy result becomes a tensor without a copy where it can (numpy is
    imported only for a method that returns its arrays: blindspot does not depend on it)."""
    with torch.enable_grad():
        maps = method(model, inputs, targets)
    if type(maps).__module__ == "numpy" and type(maps).__name__ == "ndarray":
        import numpy as np

        try:
            maps = torch.from_numpy(np.ascontiguousarray(maps))
        except TypeError:
            pass  # an array of objects: the native side names what came back
    return maps


def unusable(maps):
    """What makes a returned tensor unusable as maps, in words (None when it is a dense tensor
    with data, which the native side then checks for shape, dtype and values)."""
    if not isinstance(maps, torch.Tensor):
        return None
    if maps.is_nested:
        return "a nested tensor"
    if maps.layout != torch.strided:
        return f"a tensor of layout {maps.layout}"
    if maps.device.type == "meta":
        return "a meta tensor (a shape without data)"
    return None


def load(path, device):
    """A TorchScript split model from the private file the native side just wrote."""
    with _scripting:
        return torch.jit.load(path, map_location=device).eval()


def rebuild(architecture, weights, inner_path, device, source):
    """A built-in model from its architecture (JSON) and current weights (tensors shared with
    blindspot), scripted by `python/export_builtin.py`'s own code (`source`), which the command
    line's file protocol runs as a script."""
    with _scripting:
        return _rebuild(architecture, weights, inner_path, device, source)


def _rebuild(architecture, weights, inner_path, device, source):
    global _export
    if _export is None:
        # TorchScript reads a class's source through inspect: the module must be importable by
        # name and its text in linecache.
        name, filename = "blindspot._export_builtin", "<blindspot python/export_builtin.py>"
        module = types.ModuleType(name)
        module.__file__ = filename
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        sys.modules[name] = module
        exec(compile(source, filename, "exec"), module.__dict__)
        _export = module
    arch = json.loads(architecture)
    if inner_path is not None:
        arch["inner"]["path"] = inner_path
    weights = {name: tensor.detach().cpu() for name, tensor in weights.items()}
    try:
        model = _export.build(arch, weights)
    except SystemExit as e:  # the script's way of refusing weights that do not fit
        raise RuntimeError(str(e.code)) from None
    with warnings.catch_warnings():
        # torch 2.13 marks TorchScript deprecated; blindspot's protocol is TorchScript.
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(model.eval()).to(device)
