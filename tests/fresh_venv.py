"""A fresh virtual environment for the wheel's tests, the workflow's and the notebook's: it sees
torch 2.13.0 and nothing else — not pytest, numpy, grad-cam or anything the Makefile's venv
holds — so a dependency a user's steps forget to install fails `make test` as it would fail
them. torch (with the packages it requires, by its metadata) is seen through a .pth file that
points at a folder of links to those packages in the Makefile's venv: installing a second 4-5 GB
torch per test would be the same files again, and pip, seeing it installed, leaves it alone.
The environment has its own pip (ensurepip, no download). What a test installs besides comes
from the package index (pip's cache, filled when the Makefile's venv was installed) pinned to
the Makefile venv's versions (`constraints`)."""
import importlib.metadata as metadata
import os
import re
import subprocess
import sys


def purelib(python):
    return subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()


def _marker_holds(requirement):
    """Whether a Requires-Dist line applies here (its extra-free environment marker)."""
    if ";" not in requirement:
        return True
    marker = requirement.split(";", 1)[1]
    if "extra" in marker:
        return False
    from pip._vendor.packaging.markers import Marker

    return Marker(marker).evaluate()


def _closure(name):
    """torch and every distribution it requires here, recursively."""
    seen, todo = {}, [name]
    while todo:
        wanted = re.split(r"[\s<>=!~;\[(]", todo.pop(), maxsplit=1)[0]
        key = wanted.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(wanted)
        seen[key] = dist
        todo += [r for r in (dist.requires or []) if _marker_holds(r)]
    return list(seen.values())


def _torch_only(folder):
    """`folder`, holding links to torch's files and its requirements' (top-level entries of
    each distribution's RECORD: packages, modules, .dist-info folders, shared libraries)."""
    os.makedirs(folder, exist_ok=True)
    site = purelib(sys.executable)
    for dist in _closure("torch"):
        for entry in {str(f).split("/", 1)[0] for f in dist.files or []}:
            if entry in ("..", "") or entry.endswith(".pth") or entry == "__pycache__":
                continue
            link, target = os.path.join(folder, entry), os.path.join(site, entry)
            if os.path.exists(target) and not os.path.lexists(link):
                os.symlink(target, link)
    return folder


def create(path):
    """Creates the environment at `path`; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    python = os.path.join(path, "bin", "python")
    with open(os.path.join(purelib(python), "blindspot-torch.pth"), "w") as f:
        f.write(_torch_only(os.path.join(path, "torch-only")) + "\n")
    return python


def constraints(path):
    """A pip constraints file at `path` pinning every package of the Makefile's venv at its
    version there; returns the path."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    with open(path, "w") as f:
        f.write("\n".join(l for l in frozen.splitlines() if "==" in l) + "\n")
    return path


def install(python, *args):
    """pip install `args` into the environment, pinned by `constraints`."""
    pins = constraints(os.path.join(os.path.dirname(os.path.dirname(python)), "pins.txt"))
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", pins, *args], check=True)
