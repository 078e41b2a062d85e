"""The codecs and the drivers' protocol logic are pure: importing any of them pulls in no radio,
no event loop, no database, no network, and nothing of ours beyond the pure layers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import drivers

PURE_PACKAGES = ("gatt", "frames", "protocol")
ALLOWED_OURS = ("drivers.gatt", "drivers.frames", "drivers.protocol", "hub.domain")
OURS = ("drivers", "hub", "sync", "ui")
FORBIDDEN_THIRD_PARTY = ("bleak", "bumble", "asyncio", "sqlite3", "sqlite_utils", "httpx", "paho", "kivy")

PURE_MODULES = sorted(
    f"drivers.{package}.{path.stem}" if path.stem != "__init__" else f"drivers.{package}"
    for package in PURE_PACKAGES
    for path in (Path(drivers.__file__).parent / package).glob("*.py")
)


def test_the_pure_packages_are_there():
    assert {"drivers.frames.nonin", "drivers.frames.jumper", "drivers.frames.berrymed"} <= set(PURE_MODULES)
    assert {"drivers.protocol.glucose", "drivers.protocol.glucose_clock", "drivers.protocol.oximeter_stability"} <= set(
        PURE_MODULES
    )


@pytest.mark.parametrize("module", PURE_MODULES)
def test_a_pure_module_imports_nothing_impure(module):
    # A fresh interpreter: what this test process has imported already must not hide anything.
    probe = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)
    ours = [m for m in loaded if m.split(".")[0] in OURS and m not in OURS and not m.startswith(ALLOWED_OURS)]
    outside = [m for m in loaded if m.split(".")[0] in FORBIDDEN_THIRD_PARTY]
    assert ours == [] and outside == []
