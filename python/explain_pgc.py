#!/usr/bin/env python3
"""pytorch-grad-cam's counterpart of one `blindspot explain` process, for `make bench
ARGS=--torchscript`: what a user's script does to explain a batch once — import the libraries,
load the TorchScript split model and the images, run one method, save the maps as .npy. The bench
times the whole process, start-up included, against `blindspot explain`.

    python explain_pgc.py MODEL.pt INPUTS.npy TARGETS.npy METHOD OUT.npy THREADS DEVICE fp32|tf32
"""
import importlib.util
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's per-batch progress bars

# The adapters' one module (python/wheel/blindspot/adapters.py), so that this drives
# pytorch-grad-cam exactly as jobs, bench_pgc.py and the Python module do.
_spec = importlib.util.spec_from_file_location(
    "blindspot_adapters",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheel", "blindspot", "adapters.py"))
_adapter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_adapter)

import numpy as np  # noqa: E402
import pytorch_grad_cam  # noqa: E402
import torch  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


def main():
    model_path, inputs, targets, method, out, threads, device, precision = sys.argv[1:9]
    torch.set_num_threads(int(threads))
    device = torch.device(device)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    model = _adapter.Wrapped(torch.jit.load(model_path, map_location=device)).eval().to(device)
    x = torch.from_numpy(np.load(inputs)).to(device)
    t = [ClassifierOutputTarget(int(c)) for c in np.load(targets)]
    cls = getattr(pytorch_grad_cam, method)
    with cls(model=model, target_layers=[model.cam_layer]) as cam:
        maps = cam(input_tensor=x, targets=t)
    np.save(out, maps.astype(np.float32))


if __name__ == "__main__":
    main()
