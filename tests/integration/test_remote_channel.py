"""The centre's MQTT channel against a real Mosquitto (Debian's package) with mutual TLS and the
ACL from docs/centre-protocol.md: the hub as `heima` runs it, the centre as a paho client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest

from hub.api import MeasurementKind
from hub.app import start_hub
from hub.config import CentreMqttConfig, HubConfig, load_config
from sync.remote.schemas import DIAGNOSTICS, EVENTS, PRESENCE, REPLY
from tests.servers.mosquitto import CertificateAuthority, MosquittoBroker
from tests.servers.mosquitto_centre import Centre, tls_client

HUB, OTHER = "hub-0001", "hub-0002"


@pytest.fixture
def broker(tmp_path: Path):
    b = MosquittoBroker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def hub_config(broker: MosquittoBroker, data_dir: Path, hub_id: str = HUB, keepalive: int = 30) -> HubConfig:
    ident = broker.hub_identity(hub_id)
    mqtt_cfg = CentreMqttConfig(
        host="localhost", hub_id=hub_id, client_cert=ident.cert, client_key=ident.key, ca_file=broker.ca.cert_path, port=broker.port, keepalive=keepalive
    )
    return HubConfig(data_dir=data_dir, serial=hub_id, centre_mqtt=mqtt_cfg)


async def until(predicate, timeout: float = 30.0) -> None:
    """Wait for a state another thread (paho's) sets."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def online_count(centre: Centre, hub_id: str) -> int:
    return sum(1 for _, p in centre.presence[hub_id] if p["state"] == "online")


async def test_the_centre_commands_a_hub_and_hears_its_answers_and_events(broker: MosquittoBroker, tmp_path: Path) -> None:
    centre = await Centre(broker).connect()
    config = hub_config(broker, tmp_path / "data")
    hub = await start_hub(config)
    try:
        await centre.wait_for(lambda: online_count(centre, HUB))
        assert jsonschema.Draft202012Validator(PRESENCE).is_valid(centre.presence[HUB][-1][1])

        diag = await centre.ask(HUB, "diagnostics")
        assert [r["status"] for r in diag] == ["done"]
        jsonschema.validate(diag[0]["result"], DIAGNOSTICS)
        assert all(jsonschema.Draft202012Validator(REPLY).is_valid(r) for r in diag)

        # A value the patient types in: the centre hears its id and kind, never the value.
        views = await hub.api.record_manual(MeasurementKind.BODY_WEIGHT, 81.4, "kg")
        event = await centre.wait_for(lambda: [e for e in centre.events if e[1] == "measurement-recorded"])
        assert event[0][2]["measurement_id"] == views.id and event[0][2]["kind"] == "body-weight"
        assert "81.4" not in json.dumps(event)
        jsonschema.validate(event[0][2], EVENTS["measurement-recorded"])

        sync = await centre.ask(HUB, "sync-now")
        assert [r["status"] for r in sync] == ["accepted", "done"] and sync[-1]["result"]["waiting"] == 0

        assert (await centre.ask(HUB, "measure-now", {"family": "weight"}))[-1]["reason"] == "no-link"
        assert (await centre.ask(HUB, "video-start", {"call": "0f8fad5b-d9cb-469f-a165-70867728950e"}))[-1]["reason"] == "video-not-available"
        assert (await centre.ask(HUB, "refresh-plan"))[-1]["reason"] == "not-available"
        assert (await centre.ask(HUB, "set-config", {"setting": "destinations", "value": []}))[-1]["reason"] == "setting-not-allowed"
        changed = await centre.ask(HUB, "set-config", {"setting": "hub.timezone", "value": "America/Nuuk"})
        assert changed[-1]["status"] == "done" and changed[-1]["result"] == {"applies": "next-start"}
    finally:
        await hub.stop()
    await centre.wait_for(lambda: centre.presence[HUB][-1][1]["reason"] == "shutdown")
    hub = await start_hub(config, deliver=False)  # the next start takes the centre's setting
    try:
        assert hub.config.timezone == "America/Nuuk"
    finally:
        await hub.stop()
        centre.close()


def raw_hub_client(broker: MosquittoBroker, hub_id: str) -> mqtt.Client:
    """A hub's own certificate in a plain paho client: what a tampered hub could try."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=hub_id, protocol=mqtt.MQTTv5)
    tls_client(client, str(broker.ca.cert_path), broker.hub_identity(hub_id))
    return client


async def test_a_hub_can_neither_read_nor_write_another_hubs_topics(broker: MosquittoBroker, tmp_path: Path) -> None:
    centre = await Centre(broker).connect()
    victim = await start_hub(hub_config(broker, tmp_path / "victim", OTHER))
    intruder = raw_hub_client(broker, HUB)
    seen: list[str] = []
    acks: dict[int, object] = {}
    intruder.on_message = lambda c, u, msg: seen.append(msg.topic)
    intruder.on_publish = lambda c, u, mid, rc, props: acks.__setitem__(mid, rc)
    try:
        await centre.wait_for(lambda: online_count(centre, OTHER))
        intruder.connect("localhost", broker.port)
        intruder.loop_start()
        for topic in (f"heima/{OTHER}/cmd/+", f"heima/{OTHER}/reply/#", "heima/+/presence", "heima/#"):
            intruder.subscribe(topic, qos=1)
        mids = [intruder.publish(t, b'{"state":"offline"}', qos=1).mid for t in (f"heima/{OTHER}/presence", f"heima/{OTHER}/reply/w1", f"heima/{OTHER}/cmd/diagnostics", f"heima/{OTHER}/event/hub-state")]
        own = intruder.publish(f"heima/{HUB}/event/hub-state", b"{}", qos=1).mid
        await until(lambda: len(acks) == 5)
        assert [acks[m].value for m in mids] == [135, 135, 135, 135]  # not authorised
        assert not acks[own].is_failure  # its own topic is fine ("no subscribers" counts as success)

        # The centre's command to the other hub reaches that hub only, and is answered by it.
        answer = await centre.ask(OTHER, "diagnostics")
        assert answer[-1]["status"] == "done"
        assert not any(OTHER in t for t in seen)
        assert all(p["state"] == "online" for _, p in centre.presence[OTHER])  # the forged presence never arrived
    finally:
        intruder.disconnect()
        intruder.loop_stop()
        await victim.stop()
        centre.close()


def connects(broker: MosquittoBroker, client: mqtt.Client, timeout: float = 3.0) -> bool:
    """True only when the broker answered CONNACK success (TLS 1.3 shows a refused client
    certificate as no CONNACK at all, not as a connect error)."""
    result: list[bool] = []
    client.on_connect = lambda c, u, f, rc, p: result.append(not rc.is_failure)
    try:
        client.connect("localhost", broker.port)
    except (OSError, ssl.SSLError):
        return False
    deadline = time.monotonic() + timeout
    while not result and time.monotonic() < deadline:
        if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
            break
    client.disconnect()
    return bool(result and result[0])


async def test_only_certificates_from_the_centres_ca_get_in(broker: MosquittoBroker, tmp_path: Path) -> None:
    good = raw_hub_client(broker, HUB)
    assert connects(broker, good)

    rogue_ca = CertificateAuthority(tmp_path / "rogue")
    forged = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=HUB, protocol=mqtt.MQTTv5)
    tls_client(forged, str(broker.ca.cert_path), rogue_ca.issue(HUB))  # same CN, another CA
    assert not connects(broker, forged)

    no_cert = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=HUB, protocol=mqtt.MQTTv5)
    tls_client(no_cert, str(broker.ca.cert_path), None)
    assert not connects(broker, no_cert)


def write_hub_toml(config: HubConfig, path: Path) -> Path:
    m = config.centre_mqtt
    assert m is not None
    path.write_text(
        f"""[hub]
data_dir = "{config.data_dir}"
serial = "{m.hub_id}"

[centre.mqtt]
host = "{m.host}"
port = {m.port}
hub_id = "{m.hub_id}"
client_cert = "{m.client_cert}"
client_key = "{m.client_key}"
ca_file = "{m.ca_file}"
keepalive = {m.keepalive}
"""
    )
    return path


async def test_kill_9_of_the_hub_the_centre_hears_the_will_at_once(broker: MosquittoBroker, tmp_path: Path) -> None:
    keepalive = 2
    toml = write_hub_toml(hub_config(broker, tmp_path / "data", keepalive=keepalive), tmp_path / "heima.toml")
    assert load_config(toml).centre_mqtt is not None
    centre = await Centre(broker).connect()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(toml), "run", "--headless"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await centre.wait_for(lambda: online_count(centre, HUB), timeout=30)
        killed_at = asyncio.get_running_loop().time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lost = await centre.wait_for(lambda: [at for at, p in centre.presence[HUB] if p["reason"] == "lost"], timeout=3 * keepalive)
        assert lost[0] - killed_at < 1.5 * keepalive
        assert centre.presence[HUB][-1][1] == {"state": "offline", "reason": "lost", "since": None, "protocol": 1}
    finally:
        if proc.poll() is None:
            proc.kill()
        centre.close()


@pytest.mark.parametrize("hard", [False, True], ids=["clean-restart", "killed-state-lost"])
async def test_after_a_broker_restart_the_hub_is_back_and_answers(broker: MosquittoBroker, tmp_path: Path, hard: bool) -> None:
    centre = await Centre(broker).connect()
    hub = await start_hub(hub_config(broker, tmp_path / "data"))
    try:
        await centre.wait_for(lambda: online_count(centre, HUB))
        centre.close()
        broker.restart(hard=hard)
        centre = await Centre(broker).connect()
        # Presence is retained: the first "online" may be the old one; a new connect says "since" later.
        first_since = centre.presence[HUB][0][1]["since"] if centre.presence[HUB] else None
        await centre.wait_for(lambda: any(p["since"] != first_since and p["state"] == "online" for _, p in centre.presence[HUB]), timeout=30)
        answer = await centre.ask(HUB, "diagnostics")  # resubscribed: commands reach it again
        assert answer[-1]["status"] == "done"
    finally:
        await hub.stop()
        centre.close()


async def test_a_command_sent_while_the_hub_was_away_arrives_unless_it_expired(broker: MosquittoBroker, tmp_path: Path) -> None:
    config = hub_config(broker, tmp_path / "data")
    centre = await Centre(broker).connect()
    hub = await start_hub(config)  # the first connect makes the hub's persistent session
    await centre.wait_for(lambda: online_count(centre, HUB))
    await hub.stop()
    await centre.wait_for(lambda: centre.presence[HUB][-1][1]["state"] == "offline")

    expired = centre.send(HUB, "diagnostics", ttl=1, expiry=1)
    waiting = centre.send(HUB, "diagnostics", ttl=600)
    # The broker's message expiry must run out for the first (not an outcome wait). Mosquitto
    # keeps expiry in whole seconds and drops a message only once its clock is past the second it
    # expires in, so a 1 s expiry can live up to 2 s: wait past that (1.5 s let one through on a
    # loaded machine).
    time.sleep(2.5)

    hub = await start_hub(config)
    try:
        await centre.wait_for(lambda: any(r["status"] == "done" for r in centre.replies[waiting]), timeout=30)
        await centre.ask(HUB, "diagnostics")  # one more round trip: anything queued came before it
        assert centre.replies[expired] == []
    finally:
        await hub.stop()
        centre.close()
