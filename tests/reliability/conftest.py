"""The reliability proofs (issue 4, item 5): counts collected by each test, printed as one table
at the end of the run and written to build/reliability.json, so a closing note can quote them.

Scale: HEIMA_RELIABILITY_SCALE (default 1.0) multiplies every count (faulted deliveries, kill -9
cycles, power cuts); the defaults meet the issue's numbers. HEIMA_RELIABILITY_SEED (default 4)
seeds every random plan, so a failure is replayed by running again with the same seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.reliability.support import RESULTS, scale, seed

REPORT = Path(__file__).resolve().parents[2] / "build" / "reliability.json"


@pytest.fixture
def vfs():
    """The power-cut VFS (tests/reliability/powercut.py), gone with the test's connections after it."""
    from tests.reliability.powercut import PowerCutVFS, close_everything  # apsw only where a test cuts power

    v = PowerCutVFS("heima-powercut")
    yield v
    close_everything()
    v.unregister()


@pytest.fixture
def record_result(request):
    """record_result(name, target=, result=, met=, **counts): one row of the summary."""
    started = time.monotonic()

    def add(name: str, *, target: str, result: str, met: bool, **counts) -> None:
        RESULTS.append(
            {
                "proof": name,
                "test": request.node.nodeid,
                "met": met,
                "target": target,
                "result": result,
                "seconds": round(time.monotonic() - started, 1),
                "counts": counts,
            }
        )

    return add


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    w = terminalreporter
    w.section(f"Heima reliability (scale {scale():g}, seed {seed()})")
    rows = [("proof", "result", "met", "s")] + [
        (r["proof"], r["result"], "yes" if r["met"] else "NO", str(r["seconds"])) for r in RESULTS
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        w.write_line(" | ".join(c.ljust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            w.write_line("-+-".join("-" * x for x in widths))
    w.write_line("")
    for r in RESULTS:
        w.write_line(f"{'ok ' if r['met'] else 'NO '} {r['proof']}  [{r['seconds']} s]  target: {r['target']}")
        for key, value in r["counts"].items():
            w.write_line(f"      {key:<38} {value}")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps({"scale": scale(), "seed": seed(), "results": RESULTS}, indent=1, default=str))
    w.write_line(f"(written to {REPORT.relative_to(REPORT.parents[1])})")
