"""The Python half of a Python method's call, used by the native module: calling the method
with autograd on, and rebuilding the model the check explains in Python — a built-in model as an
eager `nn.Module` (so hook-based methods such as captum's GuidedBackprop run on it), a user's
TorchScript model loaded as TorchScript — once per weight generation: the models are kept by
their weights' key across batches, methods and `check` calls (the most recently used, up to
`KEEP_BYTES` of parameters and buffers in all, and always the last one)."""
import collections
import json
import linecache
import sys
import threading
import types

import torch

_export = None
# The models built, by (key, device), the most recently used last, with their sizes in bytes;
# and how many were built (the tests count rebuilds). One lock: checks may run from several
# threads.
KEEP_BYTES = 1 << 30
_models = collections.OrderedDict()
_lock = threading.Lock()
built = 0


def cached(key, device):
    """The model kept for `key` on `device`, or None."""
    with _lock:
        kept = _models.get((key, device))
        if kept is None:
            return None
        _models.move_to_end((key, device))
        return kept[0]


def _size(model):
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _keep(key, device, model):
    global built
    size = _size(model)
    with _lock:
        built += 1
        _models[(key, device)] = (model, size)
        while len(_models) > 1 and sum(s for _, s in _models.values()) > KEEP_BYTES:
            _models.popitem(last=False)
    return model


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


def load(key, path, device):
    """A TorchScript split model from the private file the native side just wrote, kept as
    `key`."""
    return _keep(key, device, torch.jit.load(path, map_location=device).eval())


def rebuild(key, architecture, weights, inner_path, device, source):
    """A built-in model from its architecture (JSON) and current weights (tensors shared with
    blindspot), built by `python/export_builtin.py`'s own code (`source`, which the command
    line's file protocol runs as a script) as an eager module, kept as `key`."""
    with _lock:
        model = _rebuild(architecture, weights, inner_path, source)
    return _keep(key, device, model.to(device))


def _rebuild(architecture, weights, inner_path, source):
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
    return model.eval()
