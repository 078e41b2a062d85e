"""The suite does not depend on the day it runs: the unit tests pass with the clock a year ahead.

A test that compares something stamped by the wall clock with a fixed date passes on the day it
was written and fails later (two did: they asked the store for rows due "2026-11-22" while the
rows were stamped with the real time). Running the unit tests under Debian's `faketime` a year
and three years ahead finds such a test the day it is written, not the day it starts failing.

faketime moves the monotonic clock too, and then a timed wait between threads (`join(0.05)`,
`Event.wait(t)`) never returns: Python waits on the real monotonic clock for a deadline computed
from the faked one. Unit tests wait on what happened, never on a clock; a run that hangs anyway
fails here after half an hour with its output, instead of holding the whole suite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _faketime() -> str:
    path = shutil.which("faketime")
    assert path, "faketime is missing: `make setup` installs it (Debian package faketime)"
    return path


@pytest.mark.parametrize("ahead_days", [365, 3 * 365 + 40])
def test_the_unit_tests_pass_with_the_clock_ahead(ahead_days, tmp_path):
    faketime = _faketime()
    probe = subprocess.run(
        [faketime, "-f", f"+{ahead_days}d", sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True, text=True, check=True,
    )
    seen = datetime.fromtimestamp(float(probe.stdout), UTC)
    assert (seen - datetime.now(UTC)).days >= ahead_days - 1, "faketime did not move the clock"

    try:
        run = subprocess.run(
            [faketime, "-f", f"+{ahead_days}d", sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             "-o", "addopts=-m 'not bench'", str(ROOT / "tests" / "unit")],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the unit tests hung {ahead_days} days ahead (a timed wait between threads?):\n{(hung.stdout or b'')[-4000:]!r}")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
