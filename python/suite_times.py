#!/usr/bin/env python3
"""`make bench-suite`: where the default suite's time goes. Runs `blindspot run` REPS times
(default 3) into a scratch folder and prints, from each report.json's `timing`
(docs/report-schema.md), the median seconds per check and per (check, method) over the runs,
with each check's time outside its methods as `shared`, and the run's wall time.

    python suite_times.py BLINDSPOT [REPS] [-- ARGS for blindspot run]
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    binary, reps = args[0], int(args[1]) if len(args) > 1 else 3
    checks, methods, walls = {}, {}, []
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-suite-") as scratch:
        for rep in range(reps):
            out = Path(scratch) / f"run-{rep}"
            start = time.monotonic()
            done = subprocess.run([binary, "run", "--out", str(out), *extra],
                                  stdout=subprocess.DEVNULL)
            walls.append(time.monotonic() - start)
            if done.returncode not in (0, 1):  # 1: a verdict other than expected
                print(f"blindspot run exited {done.returncode}", file=sys.stderr)
                return 1
            timing = json.loads((out / "report.json").read_text())["timing"]
            for check in timing["checks"]:
                key = (check["index"], check["check"])
                checks.setdefault(key, []).append(check["seconds"])
                inside = 0.0
                for method in check["methods"]:
                    methods.setdefault(key + (method["method"],), []).append(method["seconds"])
                    inside += method["seconds"]
                methods.setdefault(key + ("shared",), []).append(check["seconds"] - inside)
            print(f"run {rep + 1}/{reps}: {walls[-1]:.1f} s", file=sys.stderr)
    median = statistics.median
    print(f"blindspot run: median {median(walls):.1f} s over {reps} runs "
          f"({', '.join(f'{w:.1f}' for w in walls)})")
    print(f"{'check':<22} {'median s':>9}   slowest methods (median s)")
    for key, seconds in sorted(checks.items()):
        parts = sorted(((median(v), m[2]) for m, v in methods.items() if m[:2] == key),
                       reverse=True)
        listed = ", ".join(f"{name} {s:.2f}" for s, name in parts if s >= 0.005)
        print(f"{key[1]:<22} {median(seconds):>9.2f}   {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
