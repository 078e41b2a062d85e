"""A configured hub takes the nurse's calls over the centre's MQTT channel, with real parts: Debian's
Mosquitto (mTLS + the ACL of docs/centre-protocol.md), the centre as a paho client relaying
between MQTT and the nurse's page in headless Chromium, the hub as `heima run` composes it
(start_hub with [centre.mqtt] and [video]; the touch app from the runner), aiortc media."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from hub.app import run_app, start_hub
from hub.config import CentreMqttConfig, HubConfig
from hub.domain.video import CallState, VideoSettings
from hub.services.events import CallChanged
from tests.servers.chromium import Chromium
from tests.servers.mosquitto import MosquittoBroker
from tests.servers.mosquitto_centre import Centre, tls_client
from tests.servers.nurse_desk import NurseDesk
from tests.servers.signalling import SignallingRelay, wait_until

HUB, OTHER = "hub-0001", "hub-0002"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"  # enough to ring; never answered here


@pytest.fixture
def broker(tmp_path: Path):
    b = MosquittoBroker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def video_hub_config(broker: MosquittoBroker, data_dir: Path, hub_id: str = HUB, *, video: bool = True, ring: float = 30) -> HubConfig:
    ident = broker.hub_identity(hub_id)
    mqtt_cfg = CentreMqttConfig(
        host="localhost", hub_id=hub_id, client_cert=ident.cert, client_key=ident.key, ca_file=broker.ca.cert_path, port=broker.port, keepalive=30
    )
    settings = VideoSettings(ice_servers=(), ring_seconds=ring, connect_seconds=10) if video else None
    return HubConfig(data_dir=data_dir, serial=hub_id, centre_mqtt=mqtt_cfg, video=settings)


def signals(centre: Centre, call: str) -> list[str]:
    """What the hub sent the centre for this call, as type[:reason]. QoS 1 is at-least-once: a
    message the broker or client sent again (a PUBACK late on a loaded machine) is the same
    message, so repeats in a row count once — the order and the set of messages are what matter."""
    said = [b["type"] + (":" + b["reason"] if "reason" in b else "") for _, b, _ in centre.signals if b.get("call_id") == call]
    return [s for i, s in enumerate(said) if i == 0 or said[i - 1] != s]


class NothingInRange:
    """A Bluetooth link with no device in range (this test is about the call)."""

    registry = ()

    def use_history(self, history: Any) -> None:
        pass

    async def read_once(self, sink: Any, *, timeout: float, prefer: Any = None) -> None:
        await asyncio.sleep(timeout)
        raise TimeoutError

    async def run(self, sink: Any) -> None:
        await asyncio.Event().wait()


async def test_the_nurse_calls_through_the_centre_the_touch_app_rings_is_answered_and_pictures_flow_both_ways(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    from tests.ui.conftest import find, tap
    from ui.scenes import next_frame
    from ui.screens.call import SilentRinger
    from ui.speech import RecordingSpeaker

    call = str(uuid.uuid4())
    centre = await Centre(broker).connect()
    ringer = SilentRinger()
    seen: dict[str, Any] = {}

    async def patient(app: Any, hub: Any) -> None:
        async def screen(name: str) -> None:
            await wait_until(lambda: app.root.current == name, timeout=30, what=f"the {name} screen")
            await next_frame(2)

        async with SignallingRelay() as relay, NurseDesk(centre, relay, HUB) as desk, Chromium() as browser:
            await centre.wait_for(lambda: centre.presence[HUB])
            nurse = await browser.open(relay.page(HUB))
            await nurse.eval(f"nurse.call('{call}')")
            await screen("ringing")  # the hub rings: screen, voice, ring tone
            assert ringer.ringing
            await centre.wait_for(lambda: [r for r in desk.start_replies(call) if r["status"] == "accepted"])
            await nurse.wait("nurse.state === 'ringing'")
            await tap(find(app.root, action="call-answer"), app)
            await hub.calls.wait_for(CallState.IN_CALL, timeout=30)
            await nurse.wait("nurse.state === 'in-call'")
            await wait_until(lambda: hub.calls.frames_received >= 10, timeout=30, what="the nurse's camera at the hub")
            await nurse.wait("nurse.video().then(v => v && v.framesDecoded >= 10)")
            seen["at_nurse"] = await nurse.eval("nurse.video()")
            view = app.root.get_screen("call")
            await wait_until(lambda: view.ids.remote.texture is not None, timeout=30, what="the nurse's face on the screen")
            await centre.wait_for(lambda: [e for e in centre.events if e[1] == "hub-state" and e[2]["state"] == "in-call"])
            await tap(find(app.root, action="call-hang-up"), app)
            await nurse.wait("nurse.state === 'ended'")
            seen["reason"] = await nurse.eval("nurse.reason")

    def ready(app: Any, hub: Any) -> None:
        async def work() -> None:
            try:
                async with asyncio.timeout(120):
                    await patient(app, hub)
            except BaseException as exc:
                seen["error"] = exc
            finally:
                app.stop()

        seen["task"] = asyncio.ensure_future(work())

    try:
        await run_app(video_hub_config(broker, tmp_path / "data"), link=NothingInRange(), speaker=RecordingSpeaker(), ringer=ringer, ready=ready)
        if "error" in seen:
            raise seen["error"]
    finally:
        centre.close()
    assert (seen["at_nurse"]["width"], seen["at_nurse"]["height"]) == (640, 480) and seen["at_nurse"]["framesDecoded"] >= 10
    assert seen["reason"] == "hung-up"
    assert signals(centre, call) == ["ringing", "answer", "hangup:hung-up"]
    # nothing of the call (no SDP, no address) reaches the centre's events: ids and states only
    assert [e[1] for e in centre.events if e[0] == HUB and e[1] != "hub-state"] == []


async def test_an_unanswered_call_is_missed_and_the_centre_hears_a_missed_call_event(broker: MosquittoBroker, tmp_path: Path) -> None:
    call = str(uuid.uuid4())
    centre = await Centre(broker).connect()
    hub = await start_hub(video_hub_config(broker, tmp_path / "data", ring=600))  # the centre's ring time wins
    try:
        await centre.wait_for(lambda: centre.presence[HUB])
        centre.signal(HUB, json.dumps({"type": "offer", "call_id": call, "sdp": SDP, "caller": "Oppfølgingssenteret"}).encode(), correlation=b"call-1")
        started = await centre.ask(HUB, "video-start", {"call": call, "ring_seconds": 5}, final=False)
        assert [r["status"] for r in started] == ["accepted"]
        assert hub.calls.call.state is CallState.RINGING
        missed = await centre.wait_for(lambda: [e for e in centre.events if e[1] == "missed-call"])  # the hub's own ring timer
        assert missed == [(HUB, "missed-call", {"call": call, "hub_time": missed[0][2]["hub_time"]})]
        assert signals(centre, call) == ["ringing", "hangup:missed"]
        assert {corr for _, b, corr in centre.signals if b.get("call_id") == call} == {b"call-1"}  # the offer's correlation data
        assert not [e for e in centre.events if e[1] == "hub-state" and e[2]["state"] == "in-call"]
    finally:
        await hub.stop()
        centre.close()


async def test_an_offer_alone_never_rings_its_video_start_does_and_a_hub_without_video_refuses(broker: MosquittoBroker, tmp_path: Path) -> None:
    call = str(uuid.uuid4())
    centre = await Centre(broker).connect()
    hub = await start_hub(video_hub_config(broker, tmp_path / "data"))
    plain = await start_hub(video_hub_config(broker, tmp_path / "plain", OTHER, video=False))
    changes: list[Any] = []
    hub.events.subscribe(lambda e: changes.append(e) if isinstance(e, CallChanged) else None)
    try:
        await centre.wait_for(lambda: centre.presence[HUB] and centre.presence[OTHER])
        centre.signal(HUB, json.dumps({"type": "offer", "call_id": call, "sdp": SDP}).encode())
        assert (await centre.ask(HUB, "diagnostics"))[-1]["status"] == "done"  # the offer came before this answer
        assert changes == [] and hub.calls.call.state is CallState.IDLE and signals(centre, call) == []

        assert [r["status"] for r in await centre.ask(HUB, "video-start", {"call": call}, final=False)] == ["accepted"]
        assert [(c.call_id, c.state) for c in changes] == [(call, CallState.RINGING)]
        # a second call while this one rings: refused busy, the call on goes on
        assert (await centre.ask(HUB, "video-start", {"call": str(uuid.uuid4())}))[-1]["reason"] == "busy"
        assert hub.calls.call.call_id == call and hub.calls.call.state is CallState.RINGING

        # the nurse gives up: the hub stops ringing
        centre.signal(HUB, json.dumps({"type": "hangup", "call_id": call, "reason": "cancelled"}).encode())
        await hub.calls.wait_for(CallState.ENDED)
        assert hub.calls.call.reason.value == "cancelled"

        assert (await centre.ask(OTHER, "video-start", {"call": str(uuid.uuid4())}))[-1]["reason"] == "video-not-available"
    finally:
        await plain.stop()
        await hub.stop()
        centre.close()


async def test_another_hub_can_neither_read_nor_write_this_hubs_call_signalling(broker: MosquittoBroker, tmp_path: Path) -> None:
    call = str(uuid.uuid4())
    centre = await Centre(broker).connect()
    hub = await start_hub(video_hub_config(broker, tmp_path / "data"))
    intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=OTHER, protocol=mqtt.MQTTv5)
    tls_client(intruder, str(broker.ca.cert_path), broker.hub_identity(OTHER))  # a real hub's identity, another hub
    seen: list[str] = []
    acks: dict[int, Any] = {}
    subscribed = asyncio.Event()
    loop = asyncio.get_running_loop()
    intruder.on_message = lambda c, u, msg: seen.append(msg.topic)
    intruder.on_publish = lambda c, u, mid, rc, props: acks.__setitem__(mid, rc)
    intruder.on_subscribe = lambda *a: loop.call_soon_threadsafe(subscribed.set)
    changes: list[Any] = []
    hub.events.subscribe(lambda e: changes.append(e) if isinstance(e, CallChanged) else None)
    try:
        await centre.wait_for(lambda: centre.presence[HUB])
        intruder.connect("localhost", broker.port)
        intruder.loop_start()
        intruder.subscribe([(f"heima/{HUB}/video/in", 1), (f"heima/{HUB}/video/out/#", 1), ("heima/+/video/#", 1)])
        await asyncio.wait_for(subscribed.wait(), 30)
        forged = json.dumps({"type": "offer", "call_id": call, "sdp": SDP}).encode()
        mids = [intruder.publish(t, forged, qos=1).mid for t in (f"heima/{HUB}/video/in", f"heima/{HUB}/video/out/w1")]
        await wait_until(lambda: len(acks) == 2, timeout=30, what="the broker's PUBACKs")
        assert [acks[m].value for m in mids] == [135, 135]  # not authorised

        # The real call: the centre's offer and video-start ring the hub; the intruder sees none of it.
        centre.signal(HUB, json.dumps({"type": "offer", "call_id": call, "sdp": SDP}).encode())
        assert [r["status"] for r in await centre.ask(HUB, "video-start", {"call": call}, final=False)] == ["accepted"]
        await centre.wait_for(lambda: signals(centre, call) == ["ringing"])
        assert (await centre.ask(HUB, "diagnostics"))[-1]["status"] == "done"  # one more round trip through the broker
        assert seen == []
        assert [(c.call_id, c.state) for c in changes] == [(call, CallState.RINGING)]  # the forged offer changed nothing
    finally:
        with contextlib.suppress(Exception):
            intruder.disconnect()
            intruder.loop_stop()
        await hub.stop()
        centre.close()
