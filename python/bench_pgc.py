#!/usr/bin/env python3
"""pytorch-grad-cam's side of `blindspot bench`: times each method (library defaults, e.g. ScoreCAM
batches of 16, AblationCAM batches of 32) on a TorchScript split model and inputs written by
blindspot, with the same thread count, and prints JSON {method: {images, seconds per repetition}}.

    python bench_pgc.py MODEL.pt INPUTS.npy TARGETS.npy THREADS REPS METHOD[:N_IMAGES] ...
"""
import json
import os
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's per-batch progress bars
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _HERE]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import pytorch_grad_cam  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


class Wrapped(torch.nn.Module):
    def __init__(self, split):
        super().__init__()
        self.split = split
        self.cam_layer = torch.nn.Identity()

    def forward(self, x):
        return self.split.head(self.cam_layer(self.split.features(x)))


def main():
    model_path, inputs, targets, threads, reps = sys.argv[1:6]
    torch.set_num_threads(int(threads))
    model = Wrapped(torch.jit.load(model_path)).eval()
    x_all = torch.from_numpy(np.load(inputs))
    t_all = [int(t) for t in np.load(targets)]
    out = {}
    for spec in sys.argv[6:]:
        name, _, n = spec.partition(":")
        n = int(n) if n else len(t_all)
        x, t = x_all[:n], [ClassifierOutputTarget(c) for c in t_all[:n]]
        cls = getattr(pytorch_grad_cam, name)
        with cls(model=model, target_layers=[model.cam_layer]) as cam:
            cam(input_tensor=x[:1], targets=t[:1])  # warm-up
            times = []
            for _ in range(int(reps)):
                start = time.perf_counter()
                cam(input_tensor=x, targets=t)
                times.append(time.perf_counter() - start)
        out[spec] = {"images": n, "seconds": times}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
