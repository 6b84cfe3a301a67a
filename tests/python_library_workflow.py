"""examples/python-library's CI workflow, its commands run as written, in the layout its steps
check out: the library at the workspace's root and blindspot in blindspot/ beside it (a link to
this checkout, already built). `uses:` steps (checkout, cache, artifact upload) are what this
layout stands for; every `run:` step runs with bash -e in its working directory, with HOME
pointing at a folder whose ~/.cache/blindspot is this machine's (the venv the steps name). Then
the artifact folder must hold the report and the badge the example's README promises.

It runs after `cargo test` in `make test` (its `make -C blindspot build` shares the target
folder, which cargo holds while tests run).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "python-library")
WORKFLOW = os.path.join(EXAMPLE, ".github", "workflows", "blindspot.yml")


def fail(message):
    print(f"python-library workflow: {message}", file=sys.stderr)
    sys.exit(1)


def steps(text):
    """The steps of the workflow's one job: a dict per step (uses, run, working-directory,
    with.path); the few YAML forms this workflow uses, and an error for any other."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == "steps:"), None)
    if start is None:
        fail("no steps: in the workflow")
    found, step, indent, i = [], None, None, start + 1
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.strip().startswith("#"):
            i += 1
            continue
        depth = len(line) - len(line.lstrip())
        item = re.match(r"(\s*)- (.*)", line)
        if item and (indent is None or depth == indent):
            indent, step = depth, {}
            found.append(step)
            line, depth = " " * (depth + 2) + item.group(2), depth + 2
        elif indent is not None and depth <= indent:
            break
        key = re.match(r"\s*([\w-]+):\s*(.*)", line)
        if not key:
            fail(f"cannot read line {i + 1}: {line}")
        name, value = key.groups()
        if value == "|":
            body, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > depth):
                body.append(lines[i].strip())
                i += 1
            step[name] = "\n".join(body).strip() + "\n"
            continue
        step[name] = value.strip()
        i += 1
    return found


def main():
    with open(WORKFLOW, encoding="utf-8") as f:
        found = steps(f.read())
    runs = [s for s in found if "run" in s]
    uploads = [s for s in found if s.get("uses", "").startswith("actions/upload-artifact")]
    if len(runs) < 2 or len(uploads) != 1:
        fail(f"expected run steps and one upload, found {found}")
    venv = os.environ.get("VIRTUAL_ENV", "")
    if os.path.basename(venv) != "torch-2.13.0":
        fail(f"run from `make test` (VIRTUAL_ENV is `{venv}`, not the Makefile's venv)")
    real_home = os.path.expanduser("~")
    workspace = tempfile.mkdtemp(prefix="blindspot-workflow-")
    try:
        shutil.copytree(EXAMPLE, workspace, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("sanity", "__pycache__"))
        os.symlink(ROOT, os.path.join(workspace, "blindspot"))
        home = os.path.join(workspace, ".home")
        os.makedirs(os.path.join(home, ".cache"))
        os.symlink(os.path.dirname(venv), os.path.join(home, ".cache", "blindspot"))
        env = dict(os.environ, HOME=home, GITHUB_WORKSPACE=workspace,
                   CARGO_HOME=os.environ.get("CARGO_HOME", os.path.join(real_home, ".cargo")),
                   RUSTUP_HOME=os.environ.get("RUSTUP_HOME",
                                              os.path.join(real_home, ".rustup")))
        for key in ("BLINDSPOT_PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
            env.pop(key, None)
        for step in runs:
            cwd = os.path.join(workspace, step.get("working-directory", "."))
            run = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env,
                                 capture_output=True, text=True)
            if run.returncode != 0:
                fail(f"step `{step.get('name', step['run'].strip())}` exit {run.returncode} in "
                     f"{cwd}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
            print(f"python-library workflow: step `{step.get('name', step['run'].strip())}` ok")
        artifact = os.path.join(workspace, uploads[0]["path"])
        for name in ("report.html", "report.json", "junit.xml", "badges/sharpcam-wall.json",
                     "badges/sharpcam-randomization.svg", "badges/gradcam-wall.svg"):
            if not os.path.isfile(os.path.join(artifact, name)):
                fail(f"the artifact {uploads[0]['path']} has no {name}")
        with open(os.path.join(artifact, "badges", "sharpcam-wall.json")) as f:
            badge = json.load(f)
        if badge.get("schemaVersion") != 1 or not badge.get("message", "").endswith("fail"):
            fail(f"sharpcam's wall badge: {badge}")
        print(f"python-library workflow: artifact {uploads[0]['path']} holds the report")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
