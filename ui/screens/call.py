"""Video check-ins on the touch app: the ringing screen (big Answer / Decline, read aloud, a ring
tone) and the call screen (the nurse's face filling the screen, the patient's own picture small,
a large Hang up, mute; how the call ended, until the patient has read it).

`attach_calls(app, calls)` adds both screens to a running app and moves between them as the call
goes. The nurse may ask for a measurement in the call: the app opens that family's guide (the
ordinary measuring flow) while the call goes on; going back to Today then leads to the call.
"""

from __future__ import annotations

import logging
import math
import struct
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.properties import ColorProperty, ObjectProperty
from kivy.uix.widget import Widget

from ui.i18n import tr
from ui.models.call import CallModel, Calls
from ui.widgets import HeimaScreen, load_kv

log = logging.getLogger(__name__)

FRAME_RATE = 30  # how often the screen takes the newest picture of the call


class VideoView(Widget):
    """A call's picture, fitted into the widget (letterboxed); RGB frames go into one texture."""

    texture = ObjectProperty(None, allownone=True)
    bg_colour = ColorProperty((0.1, 0.1, 0.1, 1))
    shown = 0  # the number of the frame on screen

    def show(self, frame: Any) -> None:
        if frame is None or frame.number == self.shown:
            return
        texture = self.texture
        if texture is None or tuple(texture.size) != (frame.width, frame.height):
            texture = Texture.create(size=(frame.width, frame.height), colorfmt="rgb")
            texture.flip_vertical()  # frames come top row first, textures bottom row first
        texture.blit_buffer(frame.rgb, colorfmt="rgb", bufferfmt="ubyte")
        self.shown = frame.number
        self.texture = texture
        self.canvas.ask_update()

    def clear(self) -> None:
        self.texture, self.shown = None, 0

    def fitted(self, texture, pos, size) -> tuple[float, float, float, float]:
        if texture is None or not texture.width or not texture.height:
            return (*pos, 0, 0)
        scale = min(size[0] / texture.width, size[1] / texture.height)
        w, h = texture.width * scale, texture.height * scale
        return (pos[0] + (size[0] - w) / 2, pos[1] + (size[1] - h) / 2, w, h)


class RingingScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)

    def spoken(self) -> str:
        caller = self.model.caller if self.model else ""
        return " ".join(x for x in (tr._("Your nurse is calling") + ".", caller + "." if caller else "", tr._("Press Answer to talk with video, or Decline.")) if x)


class CallScreen(HeimaScreen):
    model = ObjectProperty(None, allownone=True, rebind=True)
    _ticking = None

    def status(self, state: str, reason: str, muted: bool) -> str:
        if state == "connecting":
            return tr._("Connecting …")
        if state == "in-call":
            return tr._("Your microphone is off") if muted else ""
        return {
            "missed": tr._("You missed a video call from your nurse."),
            "cancelled": tr._("Your nurse hung up."),
            "nurse-hung-up": tr._("The call has ended."),
            "hung-up": tr._("The call has ended."),
            "failed": tr._("The call could not go through. You need not do anything."),
        }.get(reason, tr._("The call has ended."))

    def spoken(self) -> str:
        m = self.model
        if m is None:
            return self.title
        if m.state == "in-call":
            return " ".join(x for x in (tr._("Video call") + ".", self.status(m.state, m.reason, m.muted), tr._("Press Hang up to end the call.")) if x)
        return tr._("Video call") + ". " + self.status(m.state, m.reason, m.muted)

    def on_enter(self, *_args) -> None:
        if self._ticking is None:
            self._ticking = Clock.schedule_interval(self._frame, 1 / FRAME_RATE)

    def on_leave(self, *_args) -> None:
        if self._ticking is not None:
            self._ticking.cancel()
            self._ticking = None

    def _frame(self, _dt: float) -> None:
        m = self.model
        if m is None or m.state != "in-call":
            return
        self.ids.remote.show(m.calls.remote_frame())
        self.ids.preview.show(m.calls.local_frame())


class Ringer:
    """The ring tone, looped while the hub rings (SDL's mixer; a hub without sound just shows
    and reads the ringing screen)."""

    def __init__(self) -> None:
        self.ringing = False
        self._sound: Any = None

    def start(self) -> None:
        self.ringing = True
        try:
            if self._sound is None:
                from kivy.core.audio import SoundLoader

                self._sound = SoundLoader.load(str(ring_tone()))
            if self._sound is not None:
                self._sound.loop = True
                self._sound.play()
        except Exception as exc:  # no sound device: the screen and the voice still ring
            log.warning("the ring tone could not be played: %s", type(exc).__name__)

    def stop(self) -> None:
        self.ringing = False
        if self._sound is not None:
            self._sound.stop()


class SilentRinger(Ringer):
    """Records ringing without a sound (tests, the gallery)."""

    def __init__(self) -> None:
        super().__init__()
        self.rang = 0

    def start(self) -> None:
        self.ringing = True
        self.rang += 1

    def stop(self) -> None:
        self.ringing = False


def ring_tone(path: Path | None = None) -> Path:
    """A soft two-tone ring (440 + 480 Hz, as a telephone's) with pauses, written once as WAV."""
    path = path or Path(tempfile.gettempdir()) / "heima-ring.wav"
    if path.exists():
        return path
    rate, frames = 16000, bytearray()
    for n in range(rate * 3):  # 1 s of tone, 2 s of quiet
        t = n / rate
        sample = 0.0 if t >= 1.0 else 0.25 * (math.sin(2 * math.pi * 440 * t) + math.sin(2 * math.pi * 480 * t))
        frames += struct.pack("<h", int(sample * 32767 * 0.8))
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    tmp.replace(path)
    return path


def attach_calls(app: Any, calls: Calls, *, ringer: Ringer | None = None, subscribe: Callable[..., Any] | None = None) -> CallModel:
    """Add the ringing and call screens to `app` (built) and follow `calls`' call on them."""
    ringer = ringer or Ringer()
    model = CallModel(calls, subscribe or app.api.subscribe)
    sm = app.root
    ringing, call = RingingScreen(), CallScreen()
    ringing.model = call.model = model
    sm.add_widget(ringing)
    sm.add_widget(call)
    came_from = {"screen": "today"}

    def say(screen: HeimaScreen) -> None:
        app.session.say(screen.spoken())

    def state_changed(_m: CallModel, state: str) -> None:
        if state == "ringing":
            if sm.current not in ("ringing", "call"):
                came_from["screen"] = sm.current
            sm.current = "ringing"
            ringer.start()
            app.session.say(ringing.spoken(), asked=True)  # a call is read out even with read-aloud off
            return
        ringer.stop()
        if state in ("connecting", "in-call"):
            if sm.current == "ringing" or state == "connecting":
                sm.current = "call"
                say(call)
        elif state == "ended":
            call.ids.remote.clear()
            call.ids.preview.clear()
            if model.reason == "declined":  # the patient chose: back to where she was
                model.seen()
            elif sm.current in ("ringing", "call", "today"):
                sm.current = "call"
                say(call)
        elif state == "idle" and sm.current in ("ringing", "call"):
            app.go(came_from["screen"] if came_from["screen"] in sm.screen_names else "today")

    def asked(_m: CallModel, family: str) -> None:
        app.measure(family)  # that family's guide, over the call (the call goes on)
        app.session.say(tr._("Your nurse asks you to measure now.") + " " + app.screen.spoken())

    def current_changed(_sm: Any, name: str) -> None:
        if name == "today" and model.state in ("connecting", "in-call"):
            Clock.schedule_once(lambda _dt: setattr(sm, "current", "call"))  # while a call is on, home is the call

    model.fbind("state", state_changed)
    model.fbind("on_measure_asked", asked)
    sm.fbind("current", current_changed)

    def stopped(*_args: Any) -> None:
        ringer.stop()
        call.on_leave()
        model.close()

    app.fbind("on_stop", stopped)
    app.call_model, app.call_ringer = model, ringer
    return model


# -- the gallery's example call (no hub, no network: a call that stands still) --------------------------


class StillCalls:
    """A call for the gallery and the audit: it rings, is answered, shows still pictures."""

    caller = "Oppfølgingssenteret"

    def __init__(self) -> None:
        self._listeners: list[Callable[[Any], None]] = []
        self.state, self.muted = "idle", False
        self._face = _portrait(320, 240, (0.35, 0.45, 0.55), (0.94, 0.78, 0.63))
        self._self = _portrait(160, 120, (0.55, 0.5, 0.45), (0.9, 0.72, 0.58))

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def tell(self, state: str, reason: str | None = None) -> None:
        self.state = state
        event = SimpleNamespace(NAME="call-changed", call_id="gallery-call", state=state, reason=reason, muted=self.muted)
        for listener in list(self._listeners):
            listener(event)

    def accept(self) -> None:
        self.tell("connecting")
        self.tell("in-call")

    def decline(self) -> None:
        self.tell("ended", "declined")

    def hang_up(self) -> None:
        self.tell("ended", "hung-up")

    def toggle_mute(self) -> None:
        self.muted = not self.muted
        self.tell(self.state)

    def remote_frame(self) -> Any:
        return self._face if self.state == "in-call" else None

    def local_frame(self) -> Any:
        return self._self if self.state == "in-call" else None


def _portrait(width: int, height: int, backdrop: tuple[float, float, float], skin: tuple[float, float, float]) -> Any:
    """A plain picture of a head and shoulders (the gallery has no camera)."""
    rows = []
    cx, cy, r = width / 2, height * 0.42, height * 0.22
    for y in range(height):
        row = bytearray()
        for x in range(width):
            head = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
            body = y > height * 0.7 and abs(x - cx) < width * 0.3
            colour = skin if head else ((0.2, 0.3, 0.45) if body else backdrop)
            row += bytes(int(c * 255) for c in colour)
        rows.append(bytes(row))
    return SimpleNamespace(width=width, height=height, rgb=b"".join(rows), number=1)


def still_calls(app: Any) -> StillCalls:
    """The app's example call, attached the first time it is asked for (scenes)."""
    calls = getattr(app, "still_calls", None)
    if calls is None:
        calls = app.still_calls = StillCalls()
        attach_calls(app, calls, ringer=SilentRinger(), subscribe=calls.subscribe)
    return calls


async def scene_ringing(app: Any, ctx: dict[str, Any]) -> None:
    calls = still_calls(app)
    app.go("today")
    calls.tell("ringing")
    ctx.setdefault("undo", []).append(lambda: calls.tell("idle"))


async def scene_in_call(app: Any, ctx: dict[str, Any]) -> None:
    calls = still_calls(app)
    app.go("today")
    calls.tell("ringing")
    calls.accept()
    ctx.setdefault("undo", []).append(lambda: (calls.tell("ended", "hung-up"), app.call_model.seen()))


load_kv(__file__)
