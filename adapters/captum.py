#!/usr/bin/env python3
"""Runs a captum layer-attribution method on a blindspot job (docs/external-methods.md).

    python adapters/captum.py --method LayerGradCam JOB.json

Pinned versions: torch 2.13.0, captum 0.9.0 (python/requirements.txt). Like the pytorch-grad-cam
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
(docs/external-methods.md shows what the order changes).
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
from captum.attr import (  # noqa: E402
    LayerActivation,
    LayerAttribution,
    LayerGradCam,
    LayerGradientXActivation,
)

METHODS = {
    "LayerGradCam": LayerGradCam,
    "LayerGradientXActivation": LayerGradientXActivation,
    "LayerActivation": LayerActivation,
}


class Wrapped(torch.nn.Module):
    def __init__(self, split):
        super().__init__()
        self.split = split
        self.cam_layer = torch.nn.Identity()

    def forward(self, x):
        return self.split.head(self.cam_layer(self.split.features(x)))


def attribute(name, model, x, targets, relu):
    method = METHODS[name](model, model.cam_layer)
    if name == "LayerGradCam":
        return method.attribute(x, target=targets, relu_attributions=relu)
    if name == "LayerActivation":
        maps = method.attribute(x)
    else:
        maps = method.attribute(x, target=targets)
    # [N, C, h, w] → [N, 1, h, w]: LayerGradCam sums the channels itself, the others do not.
    maps = maps.sum(dim=1, keepdim=True)
    return torch.relu(maps) if relu else maps


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", required=True, choices=sorted(METHODS))
    parser.add_argument(
        "--relu-attributions",
        action="store_true",
        help="ReLU at the layer's resolution, before the upsampling (captum: after)",
    )
    parser.add_argument("job")
    args = parser.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    model = Wrapped(torch.jit.load(job["model"], map_location="cpu")).eval()
    x = torch.from_numpy(np.load(job["inputs"]))
    targets = torch.from_numpy(np.load(job["targets"])).long()
    maps = attribute(args.method, model, x, targets, args.relu_attributions).detach()
    maps = LayerAttribution.interpolate(maps, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    np.save(job["maps"], np.ascontiguousarray(maps[:, 0].numpy(), dtype=np.float32))


if __name__ == "__main__":
    main()
