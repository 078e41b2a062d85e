"""A return killed with kill -9 at several points loses nothing and is finished by running it
again: the real `heima return` in a subprocess, stopped at a checkpoint (return_runner.py injects
the stop point: it says so on stdout and waits), killed, then run again to the end. Every measurement is then in
the centre's folder and in the export; nothing of the patient's is left on the hub."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.store.keys import key_path

from .hubs import PIN, leftovers, make_hub, observation_ids

ROOT = Path(__file__).resolve().parents[3]


def heima(args: list[str], *, stop_at: str | None = None) -> subprocess.Popen[str]:
    """`heima return` in a process of its own; with `stop_at`, through the tests' runner that stops there."""
    command = ["-m", "tests.unit.technician.return_runner", stop_at, *args] if stop_at else ["-m", "hub.cli", *args]
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(PIN + "\n")
    proc.stdin.close()
    return proc


def kill_at(args: list[str], checkpoint: str) -> None:
    proc = heima(args, stop_at=checkpoint)
    assert proc.stdout is not None
    for line in proc.stdout:  # waits for the checkpoint's line: an event, not a time
        if line.strip() == f"return: stopped at {checkpoint}":
            break
    else:
        pytest.fail(f"the return ended before {checkpoint}: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


# The checkpoints in hub.services.returning, in order: after delivery, after the export, after the
# journal, after the store's key (destroyed first), after the store's file, after the secrets,
# after the configuration (the last target), after the wipe record.
CHECKPOINTS = ["delivered", "exported", "journal-written", "key-destroyed", "wiped-0", "wiped-5", "wiped-13", "record-written"]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_kill_9_during_return_loses_nothing_and_the_return_can_be_finished(tmp_path: Path, checkpoint: str) -> None:
    hub = make_hub(tmp_path, unreachable=True, measurements=5)
    export = tmp_path / "stick"
    export.mkdir()
    args = hub.cli("return", "--export", str(export / "hub"), "--yes")
    kill_at(args, checkpoint)
    # Whatever was left half-done, nothing is lost yet: every measurement is on the hub, or sent, or exported.
    key = key_path(hub.data / "heima.db")
    if checkpoint in CHECKPOINTS[: CHECKPOINTS.index("key-destroyed")]:
        assert key.exists()  # the store is still readable: nothing of it is lost
    else:
        assert not key.exists()  # destroyed before any file of the store is deleted
    if (hub.data / "heima.db").exists() and key.exists():
        assert "heima.db" in leftovers(hub)
    else:
        assert observation_ids(hub.inbox) | observation_ids(export) >= set(hub.ids)
    finished = heima(args)
    assert finished.stdout is not None and finished.stderr is not None
    finished.stdout.read()
    err = finished.stderr.read()
    assert finished.wait(timeout=120) == 0, err
    assert observation_ids(hub.inbox) == set(hub.ids)  # delivered to the reachable destination
    assert observation_ids(export) == set(hub.ids)  # exported for the unreachable one
    assert leftovers(hub) == [] and not key.exists()
    record = json.loads((hub.data / "wipe-record.json").read_text())
    assert record["measurements_stored"] == 5
    assert not (hub.data / "return-journal.json").exists()


def test_production_code_carries_no_test_switch() -> None:
    """The stop points come from the tests' runner, never from an environment variable the
    shipped code reads."""
    shipped = [p for package in ("hub", "drivers", "sync", "ui") for p in (ROOT / package).rglob("*.py")]
    assert shipped
    assert [str(p.relative_to(ROOT)) for p in shipped if "HEIMA_TEST_" in p.read_text(encoding="utf-8")] == []
