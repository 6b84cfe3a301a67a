"""`make wheel`'s last step: gives the wheel maturin built (tagged `linux`) the manylinux tag its
symbols allow, and checks what auditwheel says of the result.

    python audit.py RAW.whl OUT_DIR

auditwheel reads every versioned symbol the extension needs from the C and C++ runtimes
(`sym_tag`: manylinux_2_34 when built on glibc 2.36, manylinux_2_28 in the release workflow's
manylinux_2_28 container) and repairs the wheel to that tag with the torch libraries excluded:
they come from the torch wheel the package requires, as for every torch extension. `auditwheel
show` then lists exactly those libraries as external (no manylinux policy names them) and
nothing else; this script fails when any other library is external, when the tag differs from
the symbols' or when the wheel holds anything but the one extension module."""
import glob
import json
import os
import subprocess
import sys
import zipfile

# What `import torch` has loaded before the extension: torch's own libraries.
TORCH_LIBRARIES = {"libc10.so", "libtorch_cpu.so", "libtorch_python.so", "libtorch.so",
                   "libc10_cuda.so", "libtorch_cuda.so"}
EXCLUDE = ["libtorch*.so", "libc10*.so"]


def fail(message):
    print(f"audit: {message}", file=sys.stderr)
    sys.exit(1)


def auditwheel():
    return os.path.join(os.path.dirname(sys.executable), "auditwheel")


def show(wheel):
    out = subprocess.run([auditwheel(), "show", "--json", wheel], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"auditwheel show {os.path.basename(wheel)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def external(shown):
    found = set(shown["external_libs"])
    others = found - TORCH_LIBRARIES
    if others:
        fail(f"{shown['wheel']} needs libraries outside the manylinux policy and torch: "
             f"{sorted(others)}")
    return found


def main(raw, out):
    tag = show(raw)["sym_tag"]
    if not tag.startswith("manylinux_"):
        fail(f"{os.path.basename(raw)}: its symbols allow no manylinux tag ({tag})")
    os.makedirs(out, exist_ok=True)
    command = [auditwheel(), "repair", "--plat", tag, "-w", out, raw]
    for pattern in EXCLUDE:
        command[2:2] = ["--exclude", pattern]
    repaired = subprocess.run(command, capture_output=True, text=True)
    if repaired.returncode != 0:
        fail(f"auditwheel repair failed:\n{repaired.stderr[-3000:]}")
    wheels = glob.glob(os.path.join(out, "*.whl"))
    if len(wheels) != 1:
        fail(f"expected one repaired wheel in {out}, found {wheels}")
    wheel = wheels[0]
    shown = show(wheel)
    if shown["sym_tag"] != tag or not wheel.endswith(f"-{tag}.whl"):
        fail(f"{os.path.basename(wheel)} is not tagged {tag}, the tag its symbols allow")
    libraries = external(shown)
    inside = [n for n in zipfile.ZipFile(wheel).namelist() if ".so" in os.path.basename(n)]
    if len(inside) != 1 or "libtorch" in inside[0]:
        fail(f"the wheel should hold the extension alone, not {inside}")
    print(f"audit: {os.path.basename(wheel)}: auditwheel show: symbols {shown['sym_tag']}, "
          f"external libraries {sorted(libraries)} (torch's)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: python audit.py RAW.whl OUT_DIR")
    main(sys.argv[1], sys.argv[2])
