"""Loads the native module after checking that the installed torch is the one it was built for:
the extension is linked against the libtorch of the torch its package pins (pyproject.toml's
`torch==`, read back from the installed metadata) and uses the libtorch inside that torch. The
pin is exact because libtorch's C++ ABI changes between torch releases: a wheel built against
one torch would crash, or silently misbehave, against another. Other torch versions use
blindspot's command line and its file protocol (docs/external-methods.md), where the method runs
in a Python process of its own, with its own torch."""
from importlib.metadata import PackageNotFoundError, requires

try:
    REQUIRED = next(r.split("==", 1)[1].strip() for r in requires("blindspot-saliency") or []
                    if r.replace(" ", "").startswith("torch=="))
except (PackageNotFoundError, StopIteration):
    REQUIRED = "2.13.0"  # a source tree: python/requirements.txt's pin (a test keeps them equal)

try:
    import torch
except ImportError as e:
    raise ImportError(
        f"blindspot needs torch=={REQUIRED}, and torch cannot be imported here ({e})\n"
        f"  fix: pip install torch=={REQUIRED}"
    ) from None

_found = torch.__version__.split("+")[0]
if _found != REQUIRED:
    raise ImportError(
        f"blindspot was built against torch {REQUIRED} (its libtorch, whose C++ ABI changes "
        f"between torch releases), but this environment has torch {torch.__version__} "
        f"({torch.__file__})\n"
        f"  fix: pip install torch=={REQUIRED}; or keep torch {_found} and gate the method with "
        f"blindspot's command line through the file protocol (docs/external-methods.md: the "
        f"method runs in its own Python process with this torch; docs/python.md, \"The torch "
        f"pin\")"
    )

import os  # noqa: E402
import sys  # noqa: E402

# Helpers blindspot runs in a Python process of their own (exporting a built-in model for an
# external method) use this interpreter, which has the torch just checked, unless told otherwise.
os.environ.setdefault("BLINDSPOT_PYTHON", sys.executable)

from . import _blindspot as native  # noqa: E402

__all__ = ["native"]
