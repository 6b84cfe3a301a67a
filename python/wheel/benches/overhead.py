"""What a Python method costs per batch, in-process against the file protocol and against the
built-in method, on the same check and model (docs/performance.md):

    python python/wheel/benches/overhead.py [--repeats 10] [--file-repeats 3]

with the wheel installed (`make wheel`, then pip install target/wheels/blindspot-*.whl). The
check is the wall check on builtin:stack-masked with 64 STACK-SYNTH images and one look, run in
8 batches of 8 and in 1 batch of 64. The methods: blindspot's built-in GradCAM (Rust); GradCAM
written in Python on the split model, in-process and as a file-protocol adapter that runs the
same function; and a cheap map (the inputs' channel mean) that isolates the cost of the crossing.
Per method and batching: the median over the repeats (fewer for the file protocol, whose runs
take seconds) of one check's wall time, after one warm-up. From the two batchings, per batch =
(T8 - T1) / 7 and per check = T1 - per batch: the cost of each further batch, and the fixed
cost of a check (for a Python method, rebuilding the model once; for the file protocol,
exporting it through a Python process). Prints a Markdown table. A benchmark: it reports and
never fails on speed.
"""
import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time

import torch

import blindspot

# The literal GradCAM of the wheel's tests: the same function in every row that runs GradCAM.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_blindspot import literal_gradcam  # noqa: E402

CHECK = dict(model="builtin:stack-masked", synthetic=64, looks=1)


def channel_mean(model, inputs, targets):
    return inputs.mean(dim=1)


ADAPTER = '''
import json, sys
import numpy as np, torch
sys.path.insert(0, {here!r})
sys.path.insert(0, {tests!r})
from overhead import {function}
job = json.load(open(sys.argv[1]))
model = torch.jit.load(job["model"], map_location="cpu").eval()
x = torch.from_numpy(np.load(job["inputs"]))
t = torch.from_numpy(np.load(job["targets"])).long()
np.save(job["maps"], {function}(model, x, t).detach().numpy().astype(np.float32))
'''


def timed(repeats, batch_size, **kwargs):
    blindspot.check("wall", **CHECK, batch_size=batch_size, **kwargs)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        blindspot.check("wall", **CHECK, batch_size=batch_size, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--file-repeats", type=int, default=3)
    args = parser.parse_args()
    batches = []

    def counted(model, inputs, targets):
        batches.append(inputs.shape[0])
        return channel_mean(model, inputs, targets)

    blindspot.check("wall", methods={"counted": counted}, **CHECK, batch_size=8)
    if batches != [8] * 8:
        sys.exit(f"expected 8 batches of 8, the method saw {batches}")
    here = os.path.dirname(os.path.abspath(__file__))
    scratch = tempfile.mkdtemp(prefix="blindspot-overhead-")
    rows = []
    try:
        adapters = {}
        for function in ("literal_gradcam", "channel_mean"):
            path = os.path.join(scratch, f"{function}.py")
            with open(path, "w") as f:
                f.write(ADAPTER.format(here=here, tests=os.path.join(here, "..", "tests"),
                                       function=function))
            adapters[function] = f"{shlex.quote(sys.executable)} {shlex.quote(path)} {{job}}"
        runs = [
            ("built-in GradCAM (Rust)", dict(method="gradcam")),
            ("GradCAM in Python, in-process", dict(methods={"py-gradcam": literal_gradcam})),
            ("GradCAM in Python, file protocol",
             dict(methods="none", external=f"file-gradcam={adapters['literal_gradcam']}")),
            ("channel mean in Python, in-process", dict(methods={"py-mean": channel_mean})),
            ("channel mean in Python, file protocol",
             dict(methods="none", external=f"file-mean={adapters['channel_mean']}")),
        ]
        for label, kwargs in runs:
            repeats = args.file_repeats if "external" in kwargs else args.repeats
            t8, times8 = timed(repeats, 8, **kwargs)
            t1, times1 = timed(repeats, 64, **kwargs)
            per_batch = (t8 - t1) / 7
            rows.append((label, t8, times8, t1, times1, per_batch, t1 - per_batch))
            print(f"{label}: median {t8:.3f} s (8 batches), {t1:.3f} s (1)", file=sys.stderr)
    finally:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wall check, {CHECK['model']}, {CHECK['synthetic']} images, one look; median of "
          f"{args.repeats} runs ({args.file_repeats} for the file protocol) after a warm-up; "
          f"torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    print("| method | 8 batches of 8 | 1 batch of 64 | per batch | per check |")
    print("|---|---|---|---|---|")
    for label, t8, times8, t1, times1, per_batch, fixed in rows:
        print(f"| {label} | {t8:.3f} s | {t1:.3f} s | {per_batch * 1000:.1f} ms | "
              f"{fixed * 1000:.0f} ms |")
    print("\nEvery run (s):")
    for label, t8, times8, t1, times1, per_batch, fixed in rows:
        print(f"- {label}: 8 batches {', '.join(f'{t:.3f}' for t in times8)}; 1 batch "
              f"{', '.join(f'{t:.3f}' for t in times1)}")


if __name__ == "__main__":
    main()
