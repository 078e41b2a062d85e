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
