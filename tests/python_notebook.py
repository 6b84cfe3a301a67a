"""`make test`'s run of the example notebook (examples/notebook/blindspot.ipynb): the wheel
`make wheel` built, installed into a fresh virtual environment that sees only torch
(tests/fresh_venv.py) with a Jupyter kernel (ipykernel), nbclient and tqdm, executes every cell
headless, as `jupyter nbconvert --execute` would. Then the outputs must show what a reader is
promised: no error, the wall report rendered as HTML (the verdict matrix in its frame), each
verdict printed, a result rendered as its table, and the progress bar tqdm drew."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import fresh_venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "examples", "notebook", "blindspot.ipynb")

RUN = """
import sys
import nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}
               ).execute()
nbformat.write(nb, sys.argv[2])
"""


def fail(message):
    print(f"python notebook: {message}", file=sys.stderr)
    sys.exit(1)


def outputs(cell):
    return cell.get("outputs", [])


def main():
    wheels = glob.glob(os.path.join(ROOT, "target", "wheels", "blindspot_saliency-*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel in target/wheels (run `make wheel`), found {wheels}")
    scratch = tempfile.mkdtemp(prefix="blindspot-notebook-")
    try:
        python = fresh_venv.create(os.path.join(scratch, "venv"))
        fresh_venv.install(python, wheels[0], "nbclient", "nbformat", "ipykernel", "tqdm")
        script = os.path.join(scratch, "run.py")
        with open(script, "w") as f:
            f.write(RUN)
        executed = os.path.join(scratch, "executed.ipynb")
        env = {k: v for k, v in os.environ.items()
               if k not in ("BLINDSPOT_PYTHON", "VIRTUAL_ENV", "BLINDSPOT_QUIET")}
        env["HOME"] = scratch  # Jupyter's runtime files, the kernel's history
        ran = subprocess.run([python, script, NOTEBOOK, executed], cwd=scratch, env=env,
                             capture_output=True, text=True)
        if ran.returncode != 0:
            fail(f"the notebook did not run:\n{ran.stderr[-4000:]}")
        with open(executed, encoding="utf-8") as f:
            cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
        check(cells)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def text(output):
    data = output.get("data", {})
    value = data.get("text/html") or data.get("text/plain") or output.get("text", "")
    return "".join(value) if isinstance(value, list) else value


def check(cells):
    for i, cell in enumerate(cells):
        for out in outputs(cell):
            if out["output_type"] == "error":
                fail(f"code cell {i + 1} raised {out['ename']}: {out['evalue']}")
    report = [o for o in outputs(cells[2]) if "text/html" in o.get("data", {})]
    if not report or not text(report[0]).startswith("<iframe srcdoc="):
        fail(f"the wall report did not render as HTML: {outputs(cells[2])}")
    page = text(report[0])
    for word in ("matrix", "GradCAM", "HiResCAM", "squared_cam"):
        if word not in page:
            fail(f"the rendered report does not show {word}")
    bars = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o["text"])
                   for o in outputs(cells[2]) if o["output_type"] == "stream")
    if "wall check" not in bars or "%" not in bars:
        fail(f"no tqdm progress bar in the check's output: {bars[:500]!r}")
    printed = "".join(text(o) for o in outputs(cells[3]))
    for method in ("squared_cam", "gradcam", "hirescam"):
        if method not in printed:
            fail(f"the records do not print {method}: {printed}")
    result = [o for o in outputs(cells[4]) if "text/html" in o.get("data", {})]
    if not result or "<table" not in text(result[0]) or "rule" not in text(result[0]):
        fail(f"the result did not render as its table: {outputs(cells[4])}")
    print(f"python notebook: {len(cells)} code cells ran; the report rendered as HTML "
          f"({len(page)} characters), the progress bar drew, the result as its table")


if __name__ == "__main__":
    main()
