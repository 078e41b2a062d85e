"""Video check-ins with real parts: the nurse is a page in Debian's headless Chromium (fake camera
and microphone), the hub's side is aiortc behind hub.services.video.CallService, the signalling
goes through a loopback WebSocket relay (tests/servers/signalling.py; the MQTT channel carries the
same messages in production), the hub's camera is aiortc's test pattern (this machine has none).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from hub.domain.video import CallState, EndReason, VideoSettings
from hub.services.events import EventBus
from hub.services.video import CallChanged, CallMissed, CallService, MeasurementAsked
from sync.video.peer import AiortcMedia
from tests.servers.chromium import Chromium, Page
from tests.servers.signalling import SignallingRelay, WebSocketSignalling, wait_until

HUB_ID = "hub-test-0001"


@dataclass
class VideoRig:
    calls: CallService
    media: AiortcMedia
    nurse: Page
    events: list[Any]
    relay: SignallingRelay


@contextlib.asynccontextmanager
async def video_rig(
    *, events: EventBus | None = None, lookup=None, timer=None, settings: VideoSettings | None = None
) -> AsyncIterator[VideoRig]:
    bus = events or EventBus()
    seen: list[Any] = []
    bus.subscribe(seen.append)
    settings = settings or VideoSettings(ice_servers=(), ring_seconds=30, connect_seconds=10)
    media = AiortcMedia(settings)
    async with SignallingRelay() as relay, WebSocketSignalling(relay.url("hub", HUB_ID)) as signalling, Chromium() as browser:
        calls = CallService(signalling, media, bus, settings=settings, measurement=lookup, **({"timer": timer} if timer else {}))
        serving = asyncio.ensure_future(calls.run())
        try:
            page = await browser.open(relay.page(HUB_ID))
            yield VideoRig(calls, media, page, seen, relay)
        finally:
            await calls.close()
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving


async def nurse_calls(rig: VideoRig, call_id: str = "call-0001") -> None:
    await rig.nurse.eval(f"nurse.call('{call_id}')")
    await rig.calls.wait_for(CallState.RINGING)
    await rig.nurse.wait("nurse.state === 'ringing'")


async def test_the_nurse_calls_the_patient_answers_and_pictures_flow_both_ways():
    async with video_rig() as rig:
        await nurse_calls(rig)
        assert rig.calls.caller == "Oppfølgingssenteret"
        rig.calls.accept()
        await rig.calls.wait_for(CallState.IN_CALL)
        await rig.nurse.wait("nurse.state === 'in-call'")
        # the hub decodes the nurse's camera; the nurse's page decodes the hub's picture
        await wait_until(lambda: rig.calls.frames_received >= 10, what="10 frames of the nurse's camera at the hub")
        await rig.nurse.wait("nurse.video().then(v => v && v.framesDecoded >= 10)")
        seen_by_nurse = await rig.nurse.eval("nurse.video()")
        assert (seen_by_nurse["width"], seen_by_nurse["height"]) == (640, 480)
        face = rig.calls.remote_frame()
        assert face is not None and face.width > 0 and len(face.rgb) == face.width * face.height * 3
        preview = rig.calls.local_frame()
        assert preview is not None and (preview.width, preview.height) == (640, 480)

        rig.calls.toggle_mute()
        assert rig.calls.call.muted and rig.media.sessions[0]._audio.muted
        rig.calls.hang_up()
        await rig.nurse.wait("nurse.state === 'ended'")
        assert await rig.nurse.eval("nurse.reason") == "hung-up"
        assert (rig.calls.call.state, rig.calls.call.reason) == (CallState.ENDED, EndReason.HUNG_UP)
        states = [e.state for e in rig.events if isinstance(e, CallChanged)]
        assert states == [CallState.RINGING, CallState.CONNECTING, CallState.IN_CALL, CallState.IN_CALL, CallState.ENDED]


async def test_the_patient_declines_and_no_media_is_ever_made():
    async with video_rig() as rig:
        await nurse_calls(rig)
        rig.calls.decline()
        await rig.nurse.wait("nurse.state === 'ended'")
        assert await rig.nurse.eval("nurse.reason") == "declined"
        assert rig.calls.call.reason is EndReason.DECLINED
        assert rig.media.sessions == []  # the camera was never opened for a declined call
        assert not any(isinstance(e, CallMissed) for e in rig.events)


async def test_an_unanswered_call_is_missed_the_nurse_is_told_and_a_missed_call_event_goes_out():
    ring_time_over = asyncio.Event()

    async def ring_timer(seconds: float) -> None:  # the ring's time, as the test decides it passes
        await ring_time_over.wait()

    async with video_rig(timer=ring_timer) as rig:
        await nurse_calls(rig)
        ring_time_over.set()
        await rig.nurse.wait("nurse.state === 'ended'")
        assert await rig.nurse.eval("nurse.reason") == "missed"
        assert rig.calls.call.reason is EndReason.MISSED
        assert [e.call_id for e in rig.events if isinstance(e, CallMissed)] == ["call-0001"]
        assert rig.media.sessions == []


async def test_a_second_caller_is_told_busy_and_the_call_on_goes_on():
    async with video_rig() as rig:
        await nurse_calls(rig)
        await rig.nurse.eval(
            "nurse.send({type: 'offer', call_id: 'call-0002', sdp: 'v=0\\r\\n'})"
        )
        await rig.nurse.wait("nurse.log.includes('hangup:busy')")
        assert (rig.calls.call.state, rig.calls.call.call_id) == (CallState.RINGING, "call-0001")
        # and a message that is not one the hub takes is refused, nothing changes
        await rig.nurse.eval("nurse.send({type: 'offer', call_id: 'x', sdp: 'hello'})")
        await rig.nurse.eval("nurse.send({type: 'hangup', call_id: 'call-0001', reason: 'because'})")
        rig.calls.accept()
        await rig.calls.wait_for(CallState.IN_CALL)


async def test_a_measurement_asked_for_in_the_call_reaches_the_nurse_live_and_the_centre_once(tmp_path, fhir_server):
    """The nurse asks for a pulse oximeter reading; the patient measures with the (emulated)
    oximeter through the hub's ordinary measuring command; the values reach the nurse over the
    call's data channel, and the reference FHIR server once each, through the outbox."""
    from hub.app import start_hub
    from hub.config import DestinationConfig, HubConfig
    from hub.domain.devices import DeviceFamily
    from tests.emulated import emulated_oximeter

    config = HubConfig(
        data_dir=tmp_path / "hub", serial="HUB-VIDEO-1",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
    )
    async with emulated_oximeter() as rig_radio:
        hub = await start_hub(config, link=rig_radio.link_manager())
        try:
            async with video_rig(events=hub.events, lookup=hub.api.measurement) as rig:
                await nurse_calls(rig)
                rig.calls.accept()
                await rig.calls.wait_for(CallState.IN_CALL)
                await rig.nurse.wait("nurse.channel && nurse.channel.readyState === 'open'")
                await rig.nurse.eval("nurse.ask('pulse-oximeter', 'ask-1')")
                await wait_until(lambda: any(isinstance(e, MeasurementAsked) for e in rig.events), what="the nurse's request")
                [asked] = [e for e in rig.events if isinstance(e, MeasurementAsked)]
                assert asked.family is DeviceFamily.PULSE_OXIMETER

                async def patient_measures():  # what the guide tells the patient to do
                    await rig_radio.oximeter.wait_until(lambda: rig_radio.oximeter.spot_check_indicating)
                    await rig_radio.oximeter.take_live_spot_check(94, 77)

                measuring = asyncio.ensure_future(patient_measures())
                await hub.api.measure_now(timeout=10, family=asked.family)
                await measuring
                shared = await rig.nurse.wait("nurse.measurements.length >= 2 && nurse.measurements")
                assert len(shared) == 2
                by_kind = {m["kind"]: m for m in shared}
                assert by_kind["oxygen-saturation"]["value"] == 94 and by_kind["oxygen-saturation"]["unit"] == "%"
                assert by_kind["pulse-rate"]["value"] == 77
                assert {m["request_id"] for m in shared} == {"ask-1"}
            async with asyncio.timeout(10):
                while any(c.get("pending", 0) for c in (await hub.store.outbox_counts()).values()):
                    await asyncio.sleep(0.05)
            observations = fhir_server.observations()
            assert len(observations) == 2
            assert {o["identifier"][0]["value"] for o in observations} == {f"urn:uuid:{m['id']}" for m in shared}
        finally:
            await hub.stop()
