"""The README's Rust gate, exactly as written: builds the crate whose files README.md gives
(Cargo.toml, src/lib.rs, tests/sanity.rs, each marked `<!-- readme-crate: PATH -->`) in a fresh
folder and runs its gate with `cargo test --release`, with nothing else: no build script, no
LD_LIBRARY_PATH. The one change is blindspot's dependency line, pointed at this checkout instead
of the README's `../blindspot`. Also checks that both gates, Python's and Rust's, begin within
the README's first 60 lines.
It runs after `cargo test` in `make test` (cargo holds the target folder while tests run, and
this build shares it, so nothing is compiled twice).

Checks: the crate builds and links; `--list` names only trials the method decides (none of the
checks about GradCAM); the whole gate runs, every trial getting the verdict the README asserts.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"<!-- readme-crate: (\S+) -->\n```\w*\n(.*?)```", re.S)


def fail(message):
    print(f"readme crate: {message}", file=sys.stderr)
    sys.exit(1)


def cargo(folder, *args):
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
    env.pop("LD_LIBRARY_PATH", None)
    start = time.time()
    run = subprocess.run(["cargo", *args], cwd=folder, env=env, capture_output=True, text=True)
    return run, time.time() - start


def main():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    files = dict(BLOCK.findall(readme))
    # The front door: both gates, Python's and Rust's, begin on the README's first screen.
    first_screen = "\n".join(readme.splitlines()[:60])
    for start in ("blindspot.check(", "<!-- readme-crate: Cargo.toml -->"):
        if start not in first_screen:
            fail(f"the README's first 60 lines lack `{start}`: a gate left the front door")
    if sorted(files) != ["Cargo.toml", "src/lib.rs", "tests/sanity.rs"]:
        fail(f"README.md gives {sorted(files)}, not Cargo.toml, src/lib.rs and tests/sanity.rs")
    lines = files["Cargo.toml"].splitlines()
    ours = [i for i, line in enumerate(lines) if line.startswith("blindspot = ")]
    if len(ours) != 1:
        fail("the README's Cargo.toml must have one `blindspot = …` line")
    lines[ours[0]] = f'blindspot = {{ path = "{ROOT}" }}'
    files["Cargo.toml"] = "\n".join(lines) + "\n"
    name = re.search(r'SanityHarness::new\(\w+::(\w+)\)', files["tests/sanity.rs"])
    method = re.search(r'fn name\(&self\) -> &str \{\s*"([^"]+)"', files["src/lib.rs"])
    if not name or not method:
        fail("the README's gate or method is not where this test looks for it")
    method = method.group(1)
    folder = tempfile.mkdtemp(prefix="blindspot-readme-crate-")
    try:
        for path, text in files.items():
            os.makedirs(os.path.join(folder, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(folder, path), "w", encoding="utf-8") as f:
                f.write(text)
        # The checkout's versions of every dependency, so the shared build is reused.
        shutil.copy(os.path.join(ROOT, "Cargo.lock"), folder)
        listed, took = cargo(folder, "test", "--release", "--test", "sanity", "--", "--list")
        if listed.returncode != 0:
            fail(f"`cargo test -- --list` exit {listed.returncode}\n{listed.stderr[-3000:]}")
        trials = [l[: -len(": test")] for l in listed.stdout.splitlines() if l.endswith(": test")]
        print(f"readme crate: built and listed {len(trials)} trials in {took:.0f} s")
        if not trials or any(not t.endswith("::" + method) for t in trials):
            fail(f"trials not named after {method}: {trials}")
        about_gradcam = ("::theorem::", "::prop-theorem::", "::prop-positivity::")
        if any(a in t for t in trials for a in about_gradcam):
            fail(f"trials about GradCAM listed for {method}: {trials}")
        if "left out" not in listed.stderr:
            fail(f"the gate does not say which checks it left out:\n{listed.stderr[-2000:]}")
        ran, took = cargo(folder, "test", "--release", "--test", "sanity")
        if ran.returncode != 0 or f"{len(trials)} passed" not in ran.stdout:
            fail(f"the gate: exit {ran.returncode}\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}")
        print(f"readme crate: all {len(trials)} trials got the verdicts the README asserts "
              f"({took:.0f} s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
