#!/usr/bin/env python3
"""Runs a pytorch-grad-cam method on a blindspot job (docs/external-methods.md).

    python adapters/pytorch_grad_cam.py --method GradCAM JOB.json

Pinned versions, as for the fixtures: torch 2.13.0, torchvision 0.28.0, grad-cam 1.5.7
(python/requirements.txt). The job's TorchScript split model is wrapped so that pytorch-grad-cam's
hooks see the explained layer: forward(x) = head(cam_layer(features(x))) with cam_layer an identity
module given as the target layer.
"""
import argparse
import json
import os
import sys

# This file shares its name with the package it drives: drop its own folder from the import path.
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, help="a pytorch-grad-cam class: GradCAM, HiResCAM, ScoreCAM, ...")
    parser.add_argument("--batch-size", type=int, default=None, help="ScoreCAM / AblationCAM batch size")
    parser.add_argument("job")
    args = parser.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    cls = getattr(pytorch_grad_cam, args.method, None)
    if cls is None:
        sys.exit(f"error: pytorch-grad-cam has no method `{args.method}`")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = Wrapped(torch.jit.load(job["model"], map_location="cpu")).eval()
    x = torch.from_numpy(np.load(job["inputs"]))
    targets = [ClassifierOutputTarget(int(t)) for t in np.load(job["targets"])]
    with cls(model=model, target_layers=[model.cam_layer]) as cam:
        if args.batch_size:
            cam.batch_size = args.batch_size
        maps = cam(input_tensor=x, targets=targets)
    np.save(job["maps"], np.ascontiguousarray(maps, dtype=np.float32))


if __name__ == "__main__":
    main()
