"""blindspot's pytest plugin (the `pytest11` entry point; it loads with pytest and imports
nothing heavy until a test uses blindspot).

A gate is a plain test function:

    def test_my_cam_does_not_see_through_walls():
        report = blindspot.check("wall", method=my_cam, model="builtin:stack-masked",
                                 synthetic=32, expect_pass=True)
        report.require()      # AssertionError with the statistic, interval and rule

For every report a test makes, the plugin adds one user property per result to the test
(`blindspot wall my_cam` = "fail: mean …, interval […], rule …"), so pytest's JUnit XML
(`--junitxml`) carries the verdicts, and with `--blindspot-out DIR` it writes each report's
output folder (report.html, report.json, badges/, …) to DIR/TEST-HASH/ (the test's id as a
file name, then 8 hex digits of its SHA-256: ids that read alike never share a folder).
"""
import hashlib
import os
import re

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("blindspot")
    group.addoption(
        "--blindspot-out",
        metavar="DIR",
        default=None,
        help="write each blindspot report a test makes to DIR/TEST-NAME/ (report.html, "
        "report.json, junit.xml, badges/)",
    )


def _folder(nodeid, index, count):
    """A test's id as one folder name: its letters, digits, `.`, `-` and `_` (at most 80 of them),
    then 8 hex digits of the id's SHA-256, so that two ids that read alike (`a/b`, `a:b`) never
    share a folder and a long id never makes a name too long for the file system."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._")[:80] or "test"
    name = f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"
    return f"{name}-{index + 1}" if count > 1 else name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    from . import _observers

    reports = []
    _observers.observers.append(reports.append)
    try:
        yield
    finally:
        _observers.observers.remove(reports.append)
        for report in reports:
            for r in report.results:
                config = f" [{r.configuration}]" if r.configuration else ""
                item.user_properties.append((
                    f"blindspot {r.check} {r.method}{config}",
                    f"{r.verdict}: {r.statistic} mean {r.mean:.6g}, interval "
                    f"[{r.interval[0]:.6g}, {r.interval[1]:.6g}] ({r.interval_method}), "
                    f"n = {r.n}; rule: {r.rule}",
                ))
        out = item.config.getoption("blindspot_out")
        if out and reports:
            for i, report in enumerate(reports):
                report.write(os.path.join(out, _folder(item.nodeid, i, len(reports))))
