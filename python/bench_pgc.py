#!/usr/bin/env python3
"""pytorch-grad-cam's side of `blindspot bench`: times each method (library defaults, e.g. ScoreCAM
batches of 16, AblationCAM batches of 32) on a TorchScript split model and inputs written by
blindspot, with the same thread count, on the same device and with the same precision as
blindspot (TF32 off unless blindspot runs in its fast mode), and prints JSON
{method: {images, seconds per repetition}}. Every method is warmed up with the full batch first
(on a GPU the first call pays for cuDNN's algorithm search and the allocator's growth).

    python bench_pgc.py MODEL.pt INPUTS.npy TARGETS.npy THREADS REPS DEVICE fp32|tf32 \
        METHOD[:N_IMAGES[:REPS]] ...
"""
import importlib.util
import json
import os
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's per-batch progress bars

# The adapters' one module (python/wheel/blindspot/adapters.py), so that the benchmark drives
# pytorch-grad-cam exactly as jobs and the Python module do.
_spec = importlib.util.spec_from_file_location(
    "blindspot_adapters",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheel", "blindspot", "adapters.py"))
_adapter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_adapter)
Wrapped = _adapter.Wrapped

import numpy as np  # noqa: E402
import pytorch_grad_cam  # noqa: E402
import torch  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


def main():
    model_path, inputs, targets, threads, reps, device, precision = sys.argv[1:8]
    torch.set_num_threads(int(threads))
    device = torch.device(device)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    model = Wrapped(torch.jit.load(model_path, map_location=device)).eval().to(device)
    x_all = torch.from_numpy(np.load(inputs)).to(device)
    t_all = [int(t) for t in np.load(targets)]
    out = {}
    for spec in sys.argv[8:]:
        name, n, method_reps = (spec.split(":") + ["", ""])[:3]
        n = int(n) if n else len(t_all)
        method_reps = int(method_reps) if method_reps else int(reps)
        x, t = x_all[:n], [ClassifierOutputTarget(c) for c in t_all[:n]]
        cls = getattr(pytorch_grad_cam, name)
        with cls(model=model, target_layers=[model.cam_layer]) as cam:
            cam(input_tensor=x, targets=t)  # warm-up with the full batch
            times = []
            for _ in range(method_reps):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                cam(input_tensor=x, targets=t)  # returns NumPy maps: the work is done
                times.append(time.perf_counter() - start)
        out[spec] = {"images": n, "seconds": times}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
