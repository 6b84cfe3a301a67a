#!/usr/bin/env python3
"""Runs a captum layer-attribution method on a blindspot job (docs/external-methods.md).

    python adapters/captum.py --method LayerGradCam JOB.json

Pinned versions: python/requirements.txt (torch, captum). Like the pytorch-grad-cam
adapter, the job's TorchScript split model is wrapped as forward(x) = head(cam_layer(features(x)))
with cam_layer an identity module, and captum attributes to that layer. The methods that make
CAM-style maps (one map at the explained layer's resolution, upsampled to the input):

  LayerGradCam               captum's GradCAM: ReLU-free Σ_c mean(∂y/∂A_c) A_c
  LayerGradientXActivation   Σ_c (∂y/∂A_c ⊙ A_c), the channels summed: HiResCAM's map
  LayerActivation            Σ_c A_c, the class-independent activation map

The map is upsampled with captum's own LayerAttribution.interpolate (bilinear, half-pixel
centres); blindspot then applies its ReLU and min–max, as for every external method. captum's
default keeps the map's negative part until after the upsampling; with --relu-attributions the
ReLU comes first, at the layer's resolution, as in GradCAM's paper, pytorch-grad-cam and blindspot
(docs/external-methods.md shows what the order changes). The code is the Python module's
(python/wheel/blindspot/adapters.py, loaded by path): in-process and external, the same maps.
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
    adapters = shared()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", required=True, choices=sorted(adapters.CAPTUM))
    parser.add_argument(
        "--relu-attributions",
        action="store_true",
        help="ReLU at the layer's resolution, before the upsampling (captum: after)",
    )
    parser.add_argument("job")
    args = parser.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    model = torch.jit.load(job["model"], map_location="cpu")
    x = torch.from_numpy(np.load(job["inputs"]))
    targets = torch.from_numpy(np.load(job["targets"])).long()
    maps = adapters.captum_maps(args.method, model, x, targets, args.relu_attributions)
    np.save(job["maps"], np.ascontiguousarray(maps.numpy(), dtype=np.float32))


if __name__ == "__main__":
    main()
