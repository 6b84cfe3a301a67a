"""A fresh virtual environment for the wheel's tests: empty but for torch 2.13.0, which it sees
through a .pth file pointing at the Makefile's venv (installing a second 4-5 GB torch per test
run would be the same files again). It is created without pip of its own, so every package it
imports, pip included, is the pinned one of that venv or one installed into it."""
import os
import subprocess
import sys


def purelib(python):
    return subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()


def create(path):
    """Creates the environment at `path`; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    python = os.path.join(path, "bin", "python")
    with open(os.path.join(purelib(python), "blindspot-torch.pth"), "w") as f:
        f.write(purelib(sys.executable) + "\n")
    return python
