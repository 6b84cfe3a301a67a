"""examples/python-library's CI workflow, its commands run as written, on the wheel `make
wheel` has just built. The library is the workspace's root; the `uses:` steps stand for what
they would do: the checkout is the copy, `download-artifact` puts target/wheels' wheel into the
folder it names, and the cache restores a fresh virtual environment that holds torch 2.13.0
(tests/fresh_venv.py) where the workflow keeps its environment. Every `run:` step runs with
bash -e in its working directory, with HOME pointing at a folder of its own. Then the artifact
folder must hold the JUnit file with both gates passed and each gate's report with its badge.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import fresh_venv

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
    downloads = [s for s in found if s.get("uses", "").startswith("actions/download-artifact")]
    caches = [s for s in found if s.get("uses", "").startswith("actions/cache")]
    if len(runs) < 2 or len(uploads) != 1 or len(downloads) != 1 or len(caches) != 1:
        fail(f"expected run steps, one download, one cache and one upload, found {found}")
    wheels = glob.glob(os.path.join(ROOT, "target", "wheels", "blindspot_saliency-*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel in target/wheels (run `make wheel`), found {wheels}")
    workspace = tempfile.mkdtemp(prefix="blindspot-workflow-")
    try:
        shutil.copytree(EXAMPLE, workspace, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("sanity", "__pycache__", ".pytest_cache"))
        os.makedirs(os.path.join(workspace, downloads[0]["path"]))
        shutil.copy(wheels[0], os.path.join(workspace, downloads[0]["path"]))
        home = os.path.join(workspace, ".home")
        cached = caches[0]["path"]
        if not cached.startswith("~/"):
            fail(f"the cache step's path `{cached}` is not under ~/")
        fresh_venv.create(os.path.join(home, cached[2:]))
        env = dict(os.environ, HOME=home, GITHUB_WORKSPACE=workspace)
        for key in ("VIRTUAL_ENV", "BLINDSPOT_PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
                    "PYTHONPATH"):
            env.pop(key, None)
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                      if not p.startswith(os.path.dirname(sys.executable)))
        for step in runs:
            cwd = os.path.join(workspace, step.get("working-directory", "."))
            run = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env,
                                 capture_output=True, text=True)
            if run.returncode != 0:
                fail(f"step `{step.get('name', step['run'].strip())}` exit {run.returncode} in "
                     f"{cwd}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
            print(f"python-library workflow: step `{step.get('name', step['run'].strip())}` ok")
        artifact = os.path.join(workspace, uploads[0]["path"])
        with open(os.path.join(artifact, "junit.xml"), encoding="utf-8") as f:
            junit = f.read()
        if 'tests="2"' not in junit or 'failures="0"' not in junit or 'errors="0"' not in junit:
            fail(f"junit.xml does not show both gates passed: {junit[:500]}")
        if 'name="blindspot wall sharpcam"' not in junit:
            fail("junit.xml does not carry the wall verdict of sharpcam")
        wall = os.path.join(artifact, "test_sanity.py_test_wall_sharpcam_sees_through_walls_like_"
                            "gradcam-c09bba86")
        for name in ("report.html", "report.json", "badges/sharpcam-wall.json",
                     "badges/gradcam-wall.svg"):
            if not os.path.isfile(os.path.join(wall, name)):
                fail(f"the artifact has no {os.path.relpath(os.path.join(wall, name), artifact)}")
        with open(os.path.join(wall, "badges", "sharpcam-wall.json")) as f:
            badge = json.load(f)
        if badge.get("schemaVersion") != 1 or not badge.get("message", "").endswith("fail"):
            fail(f"sharpcam's wall badge: {badge}")
        print(f"python-library workflow: artifact {uploads[0]['path']} holds the reports")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
