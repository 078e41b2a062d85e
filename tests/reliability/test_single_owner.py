"""One process owns a data folder: never twice, never stuck.

Two `heima sync` started at once on the same data folder, delivering to Pasientens måledata
(kind nhn-pmd: batch bundles, no conditional create — the server keeps whatever it is sent) on
the reference FHIR server. Without an owner both read the same 30 due rows and the server ends
with 60 Observations. A gate in front of the server holds every request until either both
processes have a request in flight or one of them has exited, so the overlap the old code
needed is certain rather than lucky, and nothing here waits on a clock to decide the outcome.

The outbox holds two kinds: beside the readings, devices of the inventory wait for a folder
destination (Pasientens måledata takes Observations only: no Device is ever queued for it). The
owner delivers both, once.

And an owner killed with kill -9 leaves no stale lock: the kernel drops it with the process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.app import start_hub
from hub.config import load_config
from hub.services.outgoing import OutgoingService
from hub.store import Store
from tests.reliability.support import inventory_device
from tests.reliability.test_kill9 import Launcher
from tests.servers.token_server import PlainProxy
from tests.unit.hub.factories import spo2

ROOT = Path(__file__).resolve().parents[2]
FNR = "13116900216"  # a synthetic test fødselsnummer: must never appear in what the hub prints
READINGS = 30
DEVICES = 3


class GatedProxy(PlainProxy):
    """Forwards to the server, but only once the test opens the gate; counts who is waiting."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.gate = threading.Event()
        self.waiting = 0
        self.changed = threading.Condition()

    def _resource(self, method, url, path, headers, body):  # noqa: ANN001, ANN202
        with self.changed:
            self.waiting += 1
            self.changed.notify_all()
        self.gate.wait(120)
        return super()._resource(method, url, path, headers, body)


@pytest.fixture
def gate(fhir_server) -> Iterator[GatedProxy]:
    fhir_server.reset()
    with GatedProxy(upstream=fhir_server.base_url) as proxy:
        yield proxy
        proxy.gate.set()


def _config_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "heima.toml"
    path.write_text(
        f"""
[hub]
data_dir = "{tmp_path / 'data'}"

[patient]
identifier = "{FNR}"

[organisation]
identifier = "974633574"
system = "urn:oid:2.16.578.1.12.4.1.4.101"
display = "Oppfølgingssenteret"

[[destinations]]
name = "pmd"
kind = "nhn-pmd"
url = "{url}"
kommunenummer = "0301"

[[destinations]]
name = "usb"
kind = "directory"
path = "{tmp_path / 'usb'}"
"""
    )
    return path


async def _queue_readings(config_path: Path) -> list[str]:
    """The readings, and between them the devices of the inventory; the devices' ids."""
    hub = await start_hub(load_config(config_path), deliver=False)
    inventory = OutgoingService(hub.store, destinations_for=hub.consent.destinations_for_resource)
    devices = []
    try:
        start = datetime.now(UTC) - timedelta(hours=1)  # due now, whatever the date
        for i in range(READINGS):
            outcome = await hub.service.record_reading(spo2(90 + i % 10, received_at=start + timedelta(seconds=i)))
            assert outcome.created
            if i % (READINGS // DEVICES) == 0:
                devices.append(str((await inventory.share_device(inventory_device("owner", i))).id))
        for device in devices:  # routing: the folder takes a Device, Pasientens måledata does not
            assert [s.destination for s in await hub.store.delivery_states(device)] == ["usb"]
    finally:
        await hub.stop()
    return devices


def _heima(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _says_already_running(stderr: str, *, owner_pid: int | None) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("heima: the hub is already running on "), stderr
    assert "Traceback" not in stderr and FNR not in stderr
    pid = re.search(r"\(pid (\d+)\)", lines[0])
    if owner_pid is not None and pid is not None:  # the pid, when the owner had written it yet
        assert int(pid.group(1)) == owner_pid


async def test_two_heima_sync_at_once_deliver_each_reading_once(tmp_path, fhir_server, gate):
    config = _config_file(tmp_path, gate.fhir_base)
    devices = await _queue_readings(config)

    first, second = _heima("--config", str(config), "sync"), _heima("--config", str(config), "sync")
    deadline = time.monotonic() + 60
    with gate.changed:
        # both have a request at the server, or one has given up: then let the server answer
        while gate.waiting < 2 and first.poll() is None and second.poll() is None:
            assert time.monotonic() < deadline, "neither sync reached the server"
            gate.changed.wait(0.05)
    gate.gate.set()
    outcomes = {p.pid: (p.wait(60), *p.communicate()) for p in (first, second)}

    identifiers = Counter(o["identifier"][0]["value"] for o in fhir_server.observations())
    assert sum(identifiers.values()) == READINGS, f"{sum(identifiers.values())} Observations for {READINGS} readings"
    assert set(identifiers.values()) == {1}
    codes = sorted(code for code, _, _ in outcomes.values())
    assert codes[0] == 0 and codes[1] != 0, outcomes
    [(winner, _)] = [(pid, o) for pid, o in outcomes.items() if o[0] == 0]
    [loser] = [o for o in outcomes.values() if o[0] != 0]
    _says_already_running(loser[2], owner_pid=winner)
    store = await Store.open(tmp_path / "data" / "heima.db")
    try:  # both kinds delivered by the owner, each once, none waiting
        assert {d: [(s.destination, s.state) for s in await store.delivery_states(d)] for d in devices} == {
            d: [("usb", "delivered")] for d in devices
        }
        assert await store.outbox_counts() == {"pmd": {"delivered": READINGS}, "usb": {"delivered": READINGS + DEVICES}}
    finally:
        await store.close()


def test_an_owner_killed_with_kill_9_leaves_the_folder_free(tmp_path, fhir_server):
    """`heima run` (the hub's start_hub, recording and delivering) owns the folder; `heima sync`
    beside it is refused with the owner's pid (`heima status` reads beside it); after kill -9 of
    the owner `heima sync` runs at once."""
    data = tmp_path / "data"
    launcher = Launcher(data, fhir_server.base_url, tmp_path / "logs")
    try:
        hub = launcher.start(1)
        assert hub.wait_ready(30), hub.stderr
        beside = _heima("sync", "--data-dir", str(data))
        code, _, err = beside.wait(60), *beside.communicate()
        assert code != 0
        _says_already_running(err, owner_pid=hub.pid)
        assert f"(pid {hub.pid})" in err  # READY is said after the store (and its lock) is open
        status = _heima("status", "--data-dir", str(data))  # a reader needs no lock
        code, out, err = status.wait(60), *status.communicate()
        assert code == 0 and "measurement(s)" in out, out + err
        hub.kill()
        config = tmp_path / "after.toml"  # the hub's centre again: its rows are not stranded
        config.write_text(f'[patient]\nidentifier = "{FNR}"\n')
        after = _heima("--config", str(config), "sync", "--data-dir", str(data), "--centre", fhir_server.base_url)
        code, out, err = after.wait(60), *after.communicate()
        assert code == 0 and "already running" not in err, out + err
    finally:
        launcher.close()
