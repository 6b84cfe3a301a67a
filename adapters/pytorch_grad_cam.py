#!/usr/bin/env python3
"""Runs a pytorch-grad-cam method on a blindspot job (docs/external-methods.md).

    python adapters/pytorch_grad_cam.py --method GradCAM JOB.json

Pinned versions, as for the fixtures: python/requirements.txt (torch, torchvision, grad-cam).
The job's TorchScript split model is wrapped so that pytorch-grad-cam's hooks see the explained
layer: forward(x) = head(cam_layer(features(x))) with cam_layer an identity module given as the
target layer. The code is the Python module's (python/wheel/blindspot/adapters.py, loaded by
path): in-process and external, the same maps.
"""
import argparse
import json
import os
import sys

from _shared import shared  # beside this file: imported before its folder leaves the path

# This file shares its name with the package it drives: drop its own folder from the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _HERE]

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, help="a pytorch-grad-cam class: GradCAM, HiResCAM, ScoreCAM, ...")
    parser.add_argument("--batch-size", type=int, default=None, help="ScoreCAM / AblationCAM batch size")
    parser.add_argument("--signed", action="store_true",
                        help="the method's map before pytorch-grad-cam's ReLU and scaling (the signed "
                        "projection of EigenCAM and EigenGradCAM), resized to the input: what a method "
                        "declared sign_ambiguous must return, since the negation of a map after a ReLU "
                        "is empty")
    parser.add_argument("job")
    args = parser.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    adapters = shared()
    try:
        cls = adapters.pgc_class(args.method)
    except ValueError as e:
        sys.exit(f"error: {e}")
    model = torch.jit.load(job["model"], map_location="cpu")
    x = torch.from_numpy(np.load(job["inputs"]))
    targets = np.load(job["targets"])
    maps = adapters.pgc_maps(cls, model, x, targets, args.batch_size, signed=args.signed)
    np.save(job["maps"], np.ascontiguousarray(maps.detach().numpy(), dtype=np.float32))


if __name__ == "__main__":
    main()
