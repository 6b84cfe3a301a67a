#!/usr/bin/env python3
"""Convert the paper's VGG16 checkpoints into weights blindspot loads into builtin:vgg16-masked.

    python python/convert_paper_checkpoint.py params_vgg16_masked.pt vgg16_masked.safetensors
    python python/convert_paper_checkpoint.py params_vgg16_baseline.pt vgg16_baseline.safetensors --baseline

The authors of "CAM-Based Methods Can See Through Walls" distribute PyTorch state_dicts of their
masked VGG16 (torchvision VGG16 without its last max-pool and adaptive pool, conv5_3 replaced by
512->256, classifier[0] = Linear(256*14*14, 4096)) and of a baseline. This script reads such a
state_dict (plain, wrapped in {"state_dict": ...} or {"model": ...}, or with DataParallel's
"module." prefix), checks every tensor against the architecture, re-applies the wall (the
classifier[0] weights of feature rows 5..13 are zero) unless --baseline, and writes a safetensors
file with torchvision's parameter names, which `blindspot ... --model builtin:vgg16-masked
--weights FILE` loads.

    --random-init STATE_DICT.pt  writes a randomly initialised checkpoint of the same architecture
                                 in the authors' format first (for testing without their files).
"""
import argparse
import json
import struct
import sys

import torch
import torch.nn as nn
import torchvision

DEAD_ROWS = slice(5, 14)


class MaskedVGG16(nn.Module):
    def __init__(self, masked=True):
        super().__init__()
        vgg = torchvision.models.vgg16(weights=None)
        layers = list(vgg.features.children())[:-1]
        layers[28] = nn.Conv2d(512, 256, kernel_size=3, padding=1)
        nn.init.kaiming_normal_(layers[28].weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(layers[28].bias)
        self.features = nn.Sequential(*layers)
        self.classifier = vgg.classifier
        self.classifier[0] = nn.Linear(256 * 14 * 14, 4096)
        nn.init.normal_(self.classifier[0].weight, 0, 0.01)
        nn.init.zeros_(self.classifier[0].bias)
        if masked:
            apply_wall(self.state_dict())

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def apply_wall(state):
    with torch.no_grad():
        state["classifier.0.weight"].view(4096, 256, 14, 14)[:, :, DEAD_ROWS, :] = 0


def unwrap(checkpoint):
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(checkpoint, dict) and key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in checkpoint.items()}


def write_safetensors(path, tensors):
    """The safetensors format, written directly: u64 header length, JSON header, raw data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--baseline", action="store_true", help="the unmasked baseline: do not zero the wall")
    parser.add_argument("--random-init", action="store_true", help="first write a random checkpoint to CHECKPOINT")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.random_init:
        torch.manual_seed(args.seed)
        torch.save(MaskedVGG16(masked=not args.baseline).state_dict(), args.checkpoint)
    state = unwrap(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    expected = {k: v.shape for k, v in MaskedVGG16(masked=False).state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k]))
    if missing or unexpected or wrong:
        sys.exit(
            f"error: {args.checkpoint} is not a masked-VGG16 state_dict\n"
            f"  missing: {missing[:5]}\n  unexpected: {unexpected[:5]}\n  wrong shape: {wrong[:5]}\n"
            "  fix: pass params_vgg16_masked.pt or params_vgg16_baseline.pt from the authors' release")
    state = {k: state[k] for k in expected}
    if not args.baseline:
        leak = state["classifier.0.weight"].view(4096, 256, 14, 14)[:, :, DEAD_ROWS, :].abs().max().item()
        if leak != 0:
            print(f"note: the wall's weights were not zero (max |w| = {leak:.3e}); zeroing them", file=sys.stderr)
        apply_wall(state)
    write_safetensors(args.out, state)
    print(f"wrote {args.out} ({len(state)} tensors, {'baseline' if args.baseline else 'masked: feature rows 5..13 cut off'})")


if __name__ == "__main__":
    main()
