"""`make test`'s check of the Python distribution `make wheel` put in target/wheels, as the
package index and the release workflow (.github/workflows/release.yml) take it:

- exactly one wheel and one sdist, named for the distribution `blindspot-saliency` at the
  crate's version;
- the wheel: tagged `cp310-abi3-manylinux_*_x86_64` (one wheel for every CPython from 3.10, the
  stable ABI) in its file name and its WHEEL file alike, with the metadata a user's pip reads
  (Requires-Python >= 3.10, torch==2.13.0, the `adapters` extra, the `blindspot` command);
- the sdist: holds the wheel's crate and the main crate's packaged files (Cargo.toml's
  `include`), the files the wheel's build reads, and nothing of the tests or fixtures;
- the release workflow: builds with `make wheel` in a manylinux container, uploads
  target/wheels, tests on two CPythons and publishes on a tag through trusted publishing.
(auditwheel's verdict and `twine check --strict` ran in `make wheel` itself.)"""
import glob
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = os.path.join(ROOT, "target", "wheels")


def fail(message):
    print(f"python release: {message}", file=sys.stderr)
    sys.exit(1)


def crate_version():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["package"]["version"]


def check_wheel(wheel, version):
    name = os.path.basename(wheel)
    tag = re.fullmatch(rf"blindspot_saliency-{re.escape(version)}-cp310-abi3-"
                       r"(manylinux_2_\d+_x86_64)\.whl", name)
    if not tag:
        fail(f"{name} is not blindspot_saliency-{version}-cp310-abi3-manylinux_*_x86_64.whl")
    with zipfile.ZipFile(wheel) as z:
        info = f"blindspot_saliency-{version}.dist-info"
        wheel_file = z.read(f"{info}/WHEEL").decode()
        metadata = z.read(f"{info}/METADATA").decode()
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        extension = [n for n in z.namelist() if n.endswith(".so")]
        if extension != ["blindspot/_blindspot.abi3.so"]:
            fail(f"{name} holds {extension}, not the one abi3 extension module")
    if f"Tag: cp310-abi3-{tag.group(1)}" not in wheel_file:
        fail(f"the WHEEL file does not say the file name's tag:\n{wheel_file}")
    for line in ("Name: blindspot-saliency", "Requires-Python: >=3.10",
                 "Requires-Dist: torch==2.13.0", "Provides-Extra: adapters"):
        if line not in metadata:
            fail(f"the wheel's METADATA lacks `{line}`")
    if "blindspot=blindspot._cli:main" not in entry_points.replace(" ", ""):
        fail(f"the wheel does not install the `blindspot` command: {entry_points}")


def check_sdist(sdist, version):
    root = f"blindspot_saliency-{version}/"
    with tarfile.open(sdist) as t:
        names = {n[len(root):] for n in t.getnames() if n.startswith(root)}
    packaged = subprocess.run(["cargo", "package", "--list", "--allow-dirty", "--quiet"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    needed = {p for p in packaged.split() if not p.startswith((".cargo_vcs", "Cargo.toml.orig"))}
    missing = sorted(needed - names)
    if missing:
        fail(f"the sdist lacks files of the packaged crate: {missing[:10]}")
    for path in ("pyproject.toml", "python/wheel/Cargo.toml", "python/wheel/src/lib.rs",
                 "blindspot/__init__.py", "README.md"):
        if path not in names:
            fail(f"the sdist lacks {path}")
    leaked = sorted(n for n in names if n.startswith(("tests/", "fixtures/plain", "docs/")))
    if leaked:
        fail(f"the sdist carries the repository's tests or fixtures: {leaked[:10]}")
    return len(names)


def check_workflow():
    path = os.path.join(ROOT, ".github", "workflows", "release.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for needle, what in (("quay.io/pypa/manylinux_2_28_x86_64", "a manylinux container"),
                         ("make wheel", "the same `make wheel`"),
                         ("path: target/wheels/", "target/wheels as the artifact"),
                         ('python: ["3.10", "3.13"]', "tests on two CPythons"),
                         ("make publish-check", "the crate's dry run"),
                         ("pypa/gh-action-pypi-publish", "PyPI's publishing action"),
                         ("id-token: write", "trusted publishing (an OIDC token)"),
                         ("startsWith(github.ref, 'refs/tags/v')", "publishing on a tag")):
        if needle not in text:
            fail(f"the release workflow lacks {what} (`{needle}`)")


def main():
    version = crate_version()
    found = sorted(os.listdir(WHEELS)) if os.path.isdir(WHEELS) else []
    wheels = [f for f in found if f.endswith(".whl")]
    sdists = [f for f in found if f.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1 or len(found) != 2:
        fail(f"target/wheels should hold one wheel and one sdist (run `make wheel`), not {found}")
    check_wheel(os.path.join(WHEELS, wheels[0]), version)
    files = check_sdist(os.path.join(WHEELS, sdists[0]), version)
    check_workflow()
    print(f"python release: {wheels[0]} and {sdists[0]} ({files} files); the release workflow "
          f"builds, tests and publishes them")


if __name__ == "__main__":
    main()
