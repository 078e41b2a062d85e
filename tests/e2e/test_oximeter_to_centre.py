"""The whole walk: an emulated pulse oximeter → the hub → the reference FHIR server, exactly once.

Real parts all the way: bleak over a Bumble virtual radio with real ATT/GATT/SMP, the hub's
SQLite store, the outbox worker, Medplum's FHIR engine. Faults are the server's (scripted) and
the hub process's own death (kill -9).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from contextlib import closing
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig
from hub.store import StoreError
from hub.store.errors import SqliteError
from hub.store.schema import open_connection
from tests.emulated import emulated_oximeter

LOINC = "http://loinc.org"


def config_for(tmp_path, fhir_server) -> HubConfig:
    return HubConfig(
        data_dir=tmp_path / "hub",
        serial="HUB-E2E-1",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )


async def wait_until_sent(hub, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            counts = await hub.store.outbox_counts()
            if counts and all(c.get("pending", 0) == 0 for c in counts.values()):
                return counts
            await asyncio.sleep(0.05)


def loinc_codes(observation: dict) -> set[str]:
    return {c["code"] for c in observation["code"]["coding"] if c["system"] == LOINC}


async def test_a_live_reading_arrives_at_the_centre_once_with_the_right_codes(tmp_path, fhir_server):
    hub = await start_hub(config_for(tmp_path, fhir_server))
    try:
        async with emulated_oximeter() as rig:

            async def patient_measures():
                # the hub is listening for spot-checks: the patient's measurement reaches it live
                await rig.oximeter.wait_until(lambda: rig.oximeter.spot_check_indicating)
                await rig.oximeter.take_live_spot_check(96, 71)

            asyncio.get_running_loop().create_task(patient_measures())
            await rig.link_manager().read_once(hub.record, timeout=10)
        await wait_until_sent(hub)
        stored = await hub.store.measurements()
        assert len(stored) == 2
        observations = fhir_server.observations()
        assert len(observations) == 2
        by_code = {frozenset(loinc_codes(o)): o for o in observations}
        spo2 = next(o for codes, o in by_code.items() if "2708-6" in codes)
        pulse = next(o for codes, o in by_code.items() if "8867-4" in codes)
        assert spo2["valueQuantity"]["value"] == 96 and spo2["valueQuantity"]["code"] == "%"
        assert pulse["valueQuantity"]["value"] == 71 and pulse["valueQuantity"]["code"] == "/min"
        assert {o["identifier"][0]["value"] for o in observations} == {m.urn for m in stored}
        assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in observations)
    finally:
        await hub.stop()


async def test_a_special_value_reaches_the_centre_as_absent_never_as_a_number(tmp_path, fhir_server):
    from drivers.gatt.ieee11073 import SpecialValue

    hub = await start_hub(config_for(tmp_path, fhir_server))
    try:
        async with emulated_oximeter(records=[(SpecialValue.NAN, 72)]) as rig:
            await rig.link_manager().read_once(hub.record, timeout=10)
        await wait_until_sent(hub)
        [spo2] = [o for o in fhir_server.observations() if "2708-6" in loinc_codes(o)]
        assert "valueQuantity" not in spo2
        assert spo2["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    finally:
        await hub.stop()


async def test_stored_readings_sent_again_by_the_device_stay_one_measurement(tmp_path, fhir_server):
    hub = await start_hub(config_for(tmp_path, fhir_server))
    try:
        async with emulated_oximeter(records=[(95, 70), (97, 66)]) as rig:
            link = rig.link_manager(cooldown=0.0)
            await link.read_once(hub.record, timeout=10)
            await rig.oximeter.start_advertising()  # the patient switches it on again
            await link.read_once(hub.record, timeout=10)  # ...and it sends its memory again
        await wait_until_sent(hub)
        assert len(await hub.store.measurements()) == 4  # 2 records × (SpO2, pulse)
        assert len(fhir_server.observations()) == 4
    finally:
        await hub.stop()


async def test_a_response_lost_after_the_server_committed_leaves_one_observation(tmp_path, fhir_server):
    fhir_server.fault("drop-after-commit", count=1)
    config = config_for(tmp_path, fhir_server)
    hub = await start_hub(config, deliver=False)
    try:
        async with emulated_oximeter(records=[(94, 80)]) as rig:
            await rig.link_manager().read_once(hub.record, timeout=10)
        first = await hub.deliver_now()
        assert first["centre"].delivered == 0 and first["centre"].retried == 2
        assert len(fhir_server.observations()) == 2  # committed, but the hub never heard
        for w in hub.workers:
            w.clock = lambda: datetime.now().astimezone() + timedelta(hours=1)
        again = await hub.deliver_now()
        assert again["centre"].delivered == 2
        assert len(fhir_server.observations()) == 2
    finally:
        await hub.stop()


@pytest.mark.parametrize("status", [503, 429])
async def test_a_busy_server_is_waited_for_as_it_asks(tmp_path, fhir_server, status):
    fhir_server.fault("status", status=status, retryAfter=1, count=1)
    hub = await start_hub(config_for(tmp_path, fhir_server))
    try:
        async with emulated_oximeter(records=[(98, 60)]) as rig:
            await rig.link_manager().read_once(hub.record, timeout=10)
        started = time.monotonic()
        await wait_until_sent(hub, timeout=10)
        assert len(fhir_server.observations()) == 2
        assert fhir_server.stats()["faults"] == 1
        del started
    finally:
        await hub.stop()


# --- the hub process killed between commit and send ------------------------------------------


def _run_demo_until_committed(data_dir, centre: str) -> subprocess.Popen:
    """Start `heima demo --centre` and return once its database holds two committed measurements."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--headless", "--data-dir", str(data_dir), "--centre", centre],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    db = data_dir / "heima.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with closing(open_connection(db, timeout=1)) as conn:
                    if conn.execute("SELECT count(*) FROM outbox").fetchone()[0] >= 2:
                        return proc
            except (SqliteError, StoreError):  # not created yet, or its first transaction not yet committed
                pass
        if proc.poll() is not None:
            raise AssertionError(f"the demo ended early: {proc.stdout.read().decode()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the demo never committed its reading")


def _sync(data_dir, centre: str) -> str:
    config = data_dir / "heima.toml"  # a centre is sent to only with the patient configured
    config.write_text('[patient]\nidentifier = "13116900216"\n')
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), "sync", "--data-dir", str(data_dir), "--centre", centre],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _until(condition, *, timeout: float = 15.0, what: str) -> None:
    """Wait for a state of the server (not for an amount of time); the timeout bounds a broken run."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def _committed_ids(data_dir) -> set[str]:
    with closing(open_connection(data_dir / "heima.db")) as conn:
        return {f"urn:uuid:{r[0]}" for r in conn.execute("SELECT id FROM measurements")}


def test_killed_after_commit_before_the_server_heard_anything(tmp_path, fhir_server):
    # A centre that accepts the connection and never answers: the hub is stuck mid-send.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/fhir/R4"
        proc = _run_demo_until_committed(tmp_path, silent_url)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    committed = _committed_ids(tmp_path)
    assert len(committed) == 2 and fhir_server.observations() == []
    _sync(tmp_path, fhir_server.base_url)
    assert sorted(o["identifier"][0]["value"] for o in fhir_server.observations()) == sorted(committed)


def test_killed_while_the_server_is_committing_what_it_sent(tmp_path, fhir_server):
    fhir_server.fault("delay", ms=1500, count=1)
    proc = _run_demo_until_committed(tmp_path, fhir_server.base_url)
    # the request is at the server, which holds it (the scripted delay) before committing
    _until(lambda: fhir_server.stats()["faults"] >= 1, what="the hub's request reaching the server")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _until(fhir_server.observations, what="the server committing for a hub that is gone")
    committed = _committed_ids(tmp_path)
    _sync(tmp_path, fhir_server.base_url)
    observations = fhir_server.observations()
    assert sorted(o["identifier"][0]["value"] for o in observations) == sorted(committed)
