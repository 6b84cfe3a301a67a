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
    parser.add_argument("--signed", action="store_true",
                        help="the method's map before pytorch-grad-cam's ReLU and scaling (the signed "
                        "projection of EigenCAM and EigenGradCAM), resized to the input: what a method "
                        "declared sign_ambiguous must return, since the negation of a map after a ReLU "
                        "is empty")
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
        maps = signed(cam, x, targets) if args.signed else cam(input_tensor=x, targets=targets)
    np.save(job["maps"], np.ascontiguousarray(maps, dtype=np.float32))


def signed(cam, x, targets):
    """The map pytorch-grad-cam computes before its ReLU and scaling (`get_cam_image`, as its
    `compute_cam_per_layer` calls it), bilinearly resized to the input."""
    outputs = cam.activations_and_grads(x)
    if cam.uses_gradients:
        cam.model.zero_grad()
        loss = sum(target(output) for target, output in zip(targets, outputs))
        loss.backward(retain_graph=True)
    activations = cam.activations_and_grads.activations[0].cpu().data.numpy()
    grads = (cam.activations_and_grads.gradients[0].cpu().data.numpy()
             if cam.uses_gradients else None)
    raw = cam.get_cam_image(x, cam.target_layers[0], targets, activations, grads, False)
    raw = torch.from_numpy(np.asarray(raw, dtype=np.float32)).unsqueeze(1)
    size = tuple(x.shape[-2:])
    return torch.nn.functional.interpolate(raw, size=size, mode="bilinear",
                                           align_corners=False)[:, 0].numpy()


if __name__ == "__main__":
    main()
