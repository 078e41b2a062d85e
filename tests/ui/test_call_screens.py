"""The video call on the touch app, with real parts: the nurse is headless Chromium, the hub's
side is aiortc behind the call service, the app runs on the test's loop and the patient's finger
goes through Kivy's input path. The hub rings (screen, voice, ring tone), Answer shows the nurse's
face, Hang up ends the call at the nurse's end; a missed call is shown until it has been read;
the nurse's request for a measurement opens that family's guide while the call goes on."""

from __future__ import annotations

import asyncio
import contextlib

from hub.domain.video import CallState, VideoSettings
from hub.services.video import CallService
from sync.video.peer import AiortcMedia
from tests.servers.chromium import Chromium
from tests.servers.signalling import SignallingRelay, WebSocketSignalling, wait_until
from tests.ui.conftest import find, tap, texts
from ui.app import HeimaApp, drive
from ui.scenes import next_frame
from ui.screens.call import SilentRinger
from ui.speech import RecordingSpeaker

HUB_ID = "hub-ui-0001"


@contextlib.asynccontextmanager
async def call_rig(hub, timer=None):
    settings = VideoSettings(ring_seconds=30, connect_seconds=10)
    async with SignallingRelay() as relay, WebSocketSignalling(relay.url("hub", HUB_ID)) as signalling, Chromium() as browser:
        calls = CallService(signalling, AiortcMedia(settings), hub.events, settings=settings, measurement=hub.api.measurement, **({"timer": timer} if timer else {}))
        serving = asyncio.ensure_future(calls.run())
        try:
            yield calls, await browser.open(relay.page(HUB_ID))
        finally:
            await calls.close()
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving


async def run(hub, calls, work):
    speaker, ringer = RecordingSpeaker(), SilentRinger()
    app = HeimaApp(hub.api, speaker=speaker, calls=calls, ringer=ringer)

    async def bounded(a):
        async with asyncio.timeout(60):
            return await work(a, speaker, ringer)

    return await drive(app, bounded)


async def until_screen(app, name: str) -> None:
    await wait_until(lambda: app.root.current == name, what=f"the {name} screen")
    await next_frame(2)


async def test_the_nurse_calls_the_patient_answers_sees_her_and_hangs_up(example):
    hub, _ids = example
    async with call_rig(hub) as (calls, nurse):

        async def work(app, speaker, ringer):
            await nurse.eval("nurse.call('call-ui-1')")
            await until_screen(app, "ringing")
            assert ringer.ringing
            assert "Sykepleieren ringer" in speaker.said[-1][1] and "Oppfølgingssenteret" in texts(app.root)
            await tap(find(app.root, action="call-answer"), app)
            await until_screen(app, "call")
            assert not ringer.ringing
            await calls.wait_for(CallState.IN_CALL)
            screen = app.root.get_screen("call")
            await wait_until(lambda: screen.ids.remote.texture is not None and screen.ids.preview.texture is not None, what="both pictures on screen")
            face = screen.ids.remote
            assert face.width > app.root.width * 0.8  # the nurse's face takes the screen's width
            assert screen.ids.preview.width < face.width / 3
            await tap(find(app.root, action="call-mute"), app)
            assert calls.call.muted and "Mikrofonen din er av" in texts(app.root)
            await tap(find(app.root, action="call-hang-up"), app)
            await nurse.wait("nurse.state === 'ended'")
            assert await nurse.eval("nurse.reason") == "hung-up"

        await run(hub, calls, work)


async def test_a_missed_call_is_shown_until_the_patient_has_read_it(example):
    hub, _ids = example
    ring_over = asyncio.Event()

    async def ring_timer(_seconds):
        await ring_over.wait()

    async with call_rig(hub, timer=ring_timer) as (calls, nurse):

        async def work(app, speaker, ringer):
            await nurse.eval("nurse.call('call-ui-2')")
            await until_screen(app, "ringing")
            ring_over.set()
            await nurse.wait("nurse.reason === 'missed'")
            await until_screen(app, "call")
            assert not ringer.ringing
            assert "tapt videoanrop" in texts(app.root)
            await tap(find(app.root, action="call-done"), app)
            await until_screen(app, "today")

        await run(hub, calls, work)


async def test_the_nurse_asks_for_a_measurement_and_the_guide_opens_over_the_call(example):
    hub, _ids = example
    async with call_rig(hub) as (calls, nurse):

        async def work(app, speaker, ringer):
            await nurse.eval("nurse.call('call-ui-3')")
            await until_screen(app, "ringing")
            await tap(find(app.root, action="call-answer"), app)
            await calls.wait_for(CallState.IN_CALL)
            await nurse.wait("nurse.channel && nurse.channel.readyState === 'open'")
            await nurse.eval("nurse.ask('blood-pressure')")
            await until_screen(app, "measure")
            assert app.measure_model.family == "blood-pressure"
            assert calls.call.state is CallState.IN_CALL  # the call goes on under the guide
            app.go("today")  # home, while a call is on, is the call
            await until_screen(app, "call")

        await run(hub, calls, work)
