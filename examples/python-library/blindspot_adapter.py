#!/usr/bin/env python3
"""blindspot's file protocol for SharpCAM (docs/external-methods.md of blindspot):

    python blindspot_adapter.py JOB.json

reads the job's TorchScript split model (`features`, `head`), inputs and targets, and writes the
maps where the job says.
"""
import json
import sys

import numpy as np
import torch

from sharpcam import sharpcam


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    model = torch.jit.load(job["model"], map_location="cpu").eval()
    x = torch.from_numpy(np.load(job["inputs"]))
    targets = torch.from_numpy(np.load(job["targets"])).long()
    maps = sharpcam(model.features, model.head, x, targets)
    np.save(job["maps"], np.ascontiguousarray(maps.numpy(), dtype=np.float32))


if __name__ == "__main__":
    main()
