"""`make test`'s check of the wheel (`make wheel` builds it into target/wheels): at most 50 MB,
no libtorch inside, installed with pip into a fresh virtual environment that sees only torch
(tests/fresh_venv.py) with its `adapters` extra and what its tests import (pytest, numpy), where
the `blindspot` command runs and pytest passes the wheel's own tests (python/wheel/tests), run
from a folder outside the source tree so that they import the installed package."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

import fresh_venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = 50 << 20


def fail(message):
    print(f"python wheel: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    wheels = glob.glob(os.path.join(ROOT, "target", "wheels", "blindspot_saliency-*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel in target/wheels (run `make wheel`), found {wheels}")
    wheel = wheels[0]
    size = os.path.getsize(wheel)
    if size > LIMIT:
        fail(f"{os.path.basename(wheel)} is {size / 2**20:.1f} MB, over 50 MB")
    libraries = [n for n in zipfile.ZipFile(wheel).namelist() if ".so" in os.path.basename(n)]
    if len(libraries) != 1 or "libtorch" in libraries[0]:
        fail(f"the wheel should hold the extension alone, not {libraries}")
    print(f"python wheel: {os.path.basename(wheel)}, {size / 2**20:.1f} MB, {libraries[0]}")
    scratch = tempfile.mkdtemp(prefix="blindspot-wheel-")
    try:
        python = fresh_venv.create(os.path.join(scratch, "venv"))
        fresh_venv.install(python, f"{wheel}[adapters]", "pytest", "numpy")
        command = os.path.join(scratch, "venv", "bin", "blindspot")
        version = subprocess.run([command, "--version"], capture_output=True, text=True,
                                 check=True)
        print(f"python wheel: `blindspot --version` in a fresh venv: {version.stdout.strip()}")
        same_as_the_binary(command, os.path.join(scratch, "commands"))
        shutil.copytree(os.path.join(ROOT, "python", "wheel", "tests"),
                        os.path.join(scratch, "tests"))
        junit = os.path.join(scratch, "junit.xml")
        tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                                f"--junitxml={junit}"], cwd=scratch)
        if tests.returncode != 0:
            fail(f"the wheel's tests failed (pytest exit {tests.returncode})")
        # Every test ran: a dependency missing here would have skipped one silently.
        with open(junit, encoding="utf-8") as f:
            skipped = re.search(r'skipped="(\d+)"', f.read())
        if skipped is None or skipped.group(1) != "0":
            fail(f"the wheel's tests skipped {skipped and skipped.group(1)} tests")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


SUITE = """name = "wheel"
methods = ["gradcam", "eigencam"]
[[checks]]
check = "wall"
model = "builtin:small-vgg"
data = { synthetic = 4 }
looks = 1
[[checks]]
check = "randomization"
model = "builtin:small-vgg"
data = { synthetic = 4 }
looks = 1
draws = 2
layers = 1
[[checks]]
check = "prop-wall"
cases = 2
"""


def same_as_the_binary(command, folder):
    """The wheel's `blindspot` against the binary built from the same source, on the same inputs:
    `run`, `check`, `explain`, `merge`, `prop replay` and a refused input give the same exit
    codes, the same report.json (or maps) and the same standard output."""
    binary = os.path.join(ROOT, "target", "release", "blindspot")
    os.makedirs(folder)
    with open(os.path.join(folder, "suite.toml"), "w") as f:
        f.write(SUITE)
    env = dict(os.environ, BLINDSPOT_QUIET="1")
    subprocess.run([binary, "data", "--synthetic", "2", "--out", "data"], cwd=folder, env=env,
                   check=True, capture_output=True)
    for k in (1, 2):
        subprocess.run([binary, "run", "--suite", "suite.toml", "--shard", f"{k}/2", "--out",
                        f"shard{k}", "--device", "cpu"], cwd=folder, env=env,
                       capture_output=True)
    cases = {
        "run": (["run", "--suite", "suite.toml", "--out", "{out}", "--device", "cpu"],
                "{out}/report.json"),
        "check": (["check", "wall", "--model", "builtin:small-vgg", "--synthetic", "4",
                   "--looks", "1", "--methods", "gradcam,hirescam", "--device", "cpu",
                   "--json", "{out}.json"], "{out}.json"),
        "explain": (["explain", "--model", "builtin:small-vgg", "--input", "data/images.npy",
                     "--method", "gradcam", "--device", "cpu", "--out", "{out}.npy"],
                    "{out}.npy"),
        "merge": (["merge", "shard1/report.json", "shard2/report.json", "--out", "{out}"],
                  "{out}/report.json"),
        "prop replay": (["prop", "replay", "prop:wall:seed=0:case=0:arch=1x8x8/2k1s1p0nr/dense/"
                         "bottom4/10/1", "--method", "gradcam"], None),
        "refused": (["check", "wall", "--model", "builtin:nope", "--synthetic", "2"], None),
    }
    for name, (args, output) in cases.items():
        outcomes = []
        for which, program in (("binary", binary), ("wheel", command)):
            out = f"{name.replace(' ', '-')}-{which}"
            argv = [program] + [a.replace("{out}", out) for a in args]
            ran = subprocess.run(argv, cwd=folder, env=env, capture_output=True)
            written = None
            if output is not None:
                path = os.path.join(folder, output.replace("{out}", out))
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        written = f.read()
                    if path.endswith(".json"):
                        # Every field but the measured times (docs/report-schema.md, `timing`).
                        report = json.loads(written)
                        report.pop("timing", None)
                        written = json.dumps(report, sort_keys=True).encode()
            # What the reports say is compared; where they were written and how long the run
            # and its slowest parts took (`report: OUT  (8s)`, the `time:` lines; longer on a
            # busy machine) are not.
            stdout = re.sub(r"\((\d+)s\)$", "(Ns)", ran.stdout.decode().replace(out, "OUT"),
                            flags=re.M)
            stdout = re.sub(r"^time: .*\n(  .* s  .*\n)*", "time: …\n", stdout, flags=re.M)
            outcomes.append((ran.returncode, written, stdout, ran.stderr.decode()))
        (code, written, stdout, err), (wcode, wwritten, wstdout, werr) = outcomes
        if code != wcode:
            fail(f"`blindspot {name}`: the binary exits {code}, the wheel's command {wcode}:\n"
                 f"{werr}")
        if written != wwritten:
            fail(f"`blindspot {name}`: the wheel's command wrote another "
                 f"{output.split('.')[-1]} than the binary ({len(wwritten or b'')} against "
                 f"{len(written or b'')} bytes)")
        if stdout != wstdout:
            fail(f"`blindspot {name}`: another standard output:\n{wstdout}\nagainst\n{stdout}")
        print(f"python wheel: `blindspot {name}` exits {code} and writes the same as the binary")


if __name__ == "__main__":
    main()
