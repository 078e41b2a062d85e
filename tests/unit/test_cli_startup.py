"""`heima --help` and `heima --version` answer at once: building the argument parser loads none of
the composition root's parts (the store, sync, the drivers, the UI), and `hub.app`'s names are
still there when a command uses them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("hub.app.wiring", "hub.app.runners", "hub.app.export", "hub.app.technician", "hub.store", "sync", "drivers", "ui", "kivy", "sqlite_utils", "bleak", "httpx")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint('\\n'.join(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_the_help_loads_nothing_of_the_hub_it_does_not_need() -> None:
    loaded = _loaded_after("from hub.cli import build_parser\nbuild_parser().format_help()")
    assert sorted(m for m in loaded if m in HEAVY or m.split(".")[0] in ("sync", "drivers", "ui", "kivy")) == []


def test_help_and_version_answer() -> None:
    helped = subprocess.run([sys.executable, "-m", "hub.cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0 and "return" in helped.stdout and "enrol" in helped.stdout
    version = subprocess.run([sys.executable, "-m", "hub.cli", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("heima ")


def test_the_roots_names_are_there_when_used() -> None:
    import hub.app

    assert callable(hub.app.start_hub) and callable(hub.app.export.export) and issubclass(hub.app.StoreError, Exception)
    from hub.app import GALLERY_NOW, technician

    assert GALLERY_NOW is not None and callable(technician.main)
