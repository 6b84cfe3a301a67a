"""`make test`'s check of the wheel (`make wheel` builds it into target/wheels): at most 50 MB,
no libtorch inside, installed with pip into a fresh virtual environment (tests/fresh_venv.py),
where the `blindspot` command runs and pytest passes the wheel's own tests
(python/wheel/tests), run from a folder outside the source tree so that they import the
installed package."""
import glob
import os
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
    wheels = glob.glob(os.path.join(ROOT, "target", "wheels", "blindspot-*.whl"))
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
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index",
                        "--disable-pip-version-check", wheel], check=True)
        command = os.path.join(scratch, "venv", "bin", "blindspot")
        version = subprocess.run([command, "--version"], capture_output=True, text=True,
                                 check=True)
        print(f"python wheel: `blindspot --version` in a fresh venv: {version.stdout.strip()}")
        shutil.copytree(os.path.join(ROOT, "python", "wheel", "tests"),
                        os.path.join(scratch, "tests"))
        tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                               cwd=scratch)
        if tests.returncode != 0:
            fail(f"the wheel's tests failed (pytest exit {tests.returncode})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
