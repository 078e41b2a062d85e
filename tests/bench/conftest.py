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
