"""Benchmarks: each measures Heima against a baseline in the same run and reports a ratio.

Results are collected in `RESULTS` and printed as one table at the end of `make bench`, and
written to build/bench.json so a closing note can quote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS: list[dict] = []


@pytest.fixture
def report():
    def add(name: str, value: str, target: str, met: bool | None, detail: str = "") -> None:
        RESULTS.append({"benchmark": name, "result": value, "target": target, "met": met, "detail": detail})

    return add


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    w = terminalreporter
    w.section("Heima benchmarks")
    rows = [("benchmark", "result", "target", "met", "detail")] + [
        (r["benchmark"], r["result"], r["target"], {True: "yes", False: "NO", None: "-"}[r["met"]], r["detail"]) for r in RESULTS
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    for n, row in enumerate(rows):
        w.write_line(" | ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            w.write_line("-+-".join("-" * x for x in widths))
    out = Path("build/bench.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=1))


# `heima` run as its own process, reporting its own peak RSS when it exits. Not the rusage of the
# child: Linux keeps ru_maxrss across exec, so a child forked from a large pytest process reports
# the parent's size. VmHWM belongs to the process's memory map, which exec replaces.
_PEAK_RSS_PROBE = (
    "import atexit, runpy, sys\n"
    "def report():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('HEIMA-PEAK-RSS-KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(report)\n"
    "sys.argv = ['heima', *sys.argv[1:]]\n"
    "runpy.run_module('hub.cli', run_name='__main__')\n"
)


def heima_peak_rss(*args: str) -> tuple[float, str]:
    """Run `heima ARGS` in a fresh Python process: (its peak RSS in MB, its output)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PEAK_RSS_PROBE, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    marks = [line for line in done.stderr.splitlines() if line.startswith("HEIMA-PEAK-RSS-KB ")]
    assert marks, "the probe did not report its peak RSS"
    return int(marks[-1].split()[1]) / 1024, done.stdout + done.stderr
