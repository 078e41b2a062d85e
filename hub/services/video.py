"""Video check-ins: the nurse calls, the hub rings, the patient answers (or not).

The service runs the pure call machine (hub.domain.video) against two ports: the signalling
channel (`Signalling`: the MQTT channel to the centre in production, a loopback relay in tests)
and the media (`Media`: a WebRTC peer connection, sync/video on aiortc). It tells the screen and
the remote channel what happens through typed events on the hub's bus (CallChanged, CallMissed,
MeasurementAsked), never with an SDP or a value in them.

During the call the nurse may ask for a measurement of one family (a data-channel message): the
screen shows that family's guide and the patient measures as always; each value recorded while
the call is on is sent to the nurse over the data channel, and reaches the centre through the
outbox as any other value (the recording service stores it once; this only reads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from hub.domain.devices import DeviceFamily
from hub.domain.video import (
    Accept,
    Answer,
    Call,
    CallEvent,
    CallState,
    CallTransitionError,
    Candidate,
    Decline,
    EndReason,
    Failed,
    Hangup,
    Incoming,
    MeasureRequest,
    MediaConnected,
    NurseHungUp,
    Offer,
    PatientHungUp,
    RingTimedOut,
    Ringing,
    SharedComponent,
    SharedMeasurement,
    SignalMessage,
    SignallingError,
    ToggleMute,
    VideoFrame,
    VideoSettings,
    advance,
    data_json,
    parse_data,
)
from hub.services.events import CallChanged, CallMissed, EventBus, MeasurementAsked, MeasurementRecorded

log = logging.getLogger(__name__)


class Signalling(Protocol):
    """Messages to and from the nurse's end. `receive` raises EOFError once the channel closed."""

    async def send(self, message: SignalMessage) -> None: ...

    async def receive(self) -> SignalMessage: ...


class MediaSession(Protocol):
    """One call's media (a WebRTC peer connection): the hub's camera and microphone out, the
    nurse's picture and voice in, and a data channel the nurse opens."""

    frames_received: int

    async def answer(self, offer_sdp: str) -> str:
        """The hub's answer to the nurse's offer, with all its ICE candidates in it."""
        ...

    async def add_candidate(self, candidate: Candidate) -> None: ...

    def set_muted(self, muted: bool) -> None: ...

    def send_data(self, text: str) -> bool:
        """False when the data channel is not open (the message is not sent)."""
        ...

    def remote_frame(self) -> VideoFrame | None: ...

    def local_frame(self) -> VideoFrame | None: ...

    async def close(self) -> None: ...


class Media(Protocol):
    """Makes a call's media; the callbacks run on the hub's loop."""

    def __call__(
        self, *, connected: Callable[[], None], failed: Callable[[], None], data: Callable[[str], None]
    ) -> MediaSession: ...


# What the service tells (typed events on the hub's bus): CallChanged, CallMissed and
# MeasurementAsked live in hub.services.events with every other event (imported above).


Lookup = Callable[[str], Awaitable[Any]]  # hub.api.HubApi.measurement: a MeasurementView or None
Timer = Callable[[float], Awaitable[None]]


class CallService:
    def __init__(
        self,
        signalling: Signalling,
        media: Media,
        events: EventBus,
        *,
        settings: VideoSettings = VideoSettings(),
        measurement: Lookup | None = None,
        timer: Timer = asyncio.sleep,
    ) -> None:
        self._signalling = signalling
        self._media = media
        self._events = events
        self.settings = settings
        self._lookup = measurement
        self._timer = timer
        self.call = Call()
        self.caller: str | None = None
        self.asked: DeviceFamily | None = None  # the family the nurse asked for in this call
        self._request_id: str | None = None
        self._offer: Offer | None = None
        self._session: MediaSession | None = None
        self._early: list[Candidate] = []  # the nurse's candidates before the patient answered
        self._ring_for: dict[str, float] = {}  # the centre's ring time for a call it started (video-start)
        self._timeout: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Condition()
        self._unsubscribe = events.subscribe(self._on_hub_event)

    # -- the signalling side -----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the signalling channel until it closes (a call on then ends as failed)."""
        try:
            while True:
                try:
                    message = await self._signalling.receive()
                except SignallingError as exc:  # one bad message: refused, the channel goes on
                    log.warning("a signalling message was refused: %s", exc)
                    continue
                await self._on_message(message)
        except EOFError:
            log.info("the signalling channel closed")
            if self.call.active:
                await self._end(Failed(), tell=None)
        finally:
            self._unsubscribe()

    async def _on_message(self, message: SignalMessage) -> None:
        if isinstance(message, Offer):
            if self.call.active:  # one call at a time; the one on is not disturbed
                if message.call_id != self.call.call_id:
                    await self._send(Hangup(message.call_id, EndReason.BUSY))
                return
            self._offer, self.caller, self._early = message, message.caller, []
            self.asked = self._request_id = None
            self._step(Incoming(message.call_id))
            await self._send(Ringing(message.call_id))
            ring = self._ring_for.pop(message.call_id, self.settings.ring_seconds)
            self._timeout = self._spawn(self._ring_out(message.call_id, ring, RingTimedOut()))
            return
        if message.call_id != self.call.call_id or not self.call.active:
            log.info("a %s message for a call that is not on was ignored", message.TYPE)
            return
        if isinstance(message, Candidate):
            if self._session is None:
                self._early.append(message)
            else:
                await self._add_candidate(message)
        elif isinstance(message, Hangup):
            await self._end(Failed() if message.reason is EndReason.FAILED else NurseHungUp(), tell=None)
        else:
            log.info("a %s message from the nurse's end was ignored", message.TYPE)

    async def _ring_out(self, call_id: str, seconds: float, event: CallEvent) -> None:
        await self._timer(seconds)
        if self.call.call_id == call_id and self.call.active:
            missed = isinstance(event, RingTimedOut)
            await self._end(event, tell=EndReason.MISSED if missed else EndReason.FAILED)
            if missed:
                self._events.publish(CallMissed(call_id))

    def ring_for(self, call_id: str, seconds: float) -> None:
        """Ring this long for `call_id` when its offer comes (the centre's video-start says)."""
        self._ring_for = {call_id: float(seconds)}  # only the call about to ring matters

    # -- what the patient does (buttons call these; each returns at once) ------------------------------

    def accept(self) -> None:
        if self.call.state is CallState.RINGING:
            self._spawn(self._accept())

    def decline(self) -> None:
        if self.call.state is CallState.RINGING:
            self._spawn(self._end(Decline(), tell=EndReason.DECLINED))

    def hang_up(self) -> None:
        if self.call.state in (CallState.CONNECTING, CallState.IN_CALL):
            self._spawn(self._end(PatientHungUp(), tell=EndReason.HUNG_UP))

    def toggle_mute(self) -> None:
        if self.call.state in (CallState.CONNECTING, CallState.IN_CALL):
            self._step(ToggleMute())
            if self._session is not None:
                self._session.set_muted(self.call.muted)

    async def _accept(self) -> None:
        offer, call_id = self._offer, self.call.call_id
        assert offer is not None and call_id is not None
        self._cancel_timeout()
        self._step(Accept())
        session = self._media(
            connected=lambda: self._on_media(call_id, MediaConnected()),
            failed=lambda: self._on_media(call_id, Failed()),
            data=lambda text: self._on_data(call_id, text),
        )
        self._session = session
        self._timeout = self._spawn(self._ring_out(call_id, self.settings.connect_seconds, Failed()))
        try:
            sdp = await session.answer(offer.sdp)
            for candidate in self._early:
                await self._add_candidate(candidate)
            self._early = []
        except Exception as exc:  # a broken offer or no media: the call fails, the hub goes on
            log.warning("the call could not be answered: %s", type(exc).__name__)
            if self.call.call_id == call_id and self.call.active:
                await self._end(Failed(), tell=EndReason.FAILED)
            return
        if self.call.call_id == call_id and self.call.active:
            await self._send(Answer(call_id, sdp))

    async def _add_candidate(self, candidate: Candidate) -> None:
        assert self._session is not None
        try:
            await self._session.add_candidate(candidate)
        except Exception as exc:
            log.info("a remote ICE candidate was not usable: %s", type(exc).__name__)

    def _on_media(self, call_id: str, event: CallEvent) -> None:
        if self.call.call_id != call_id or not self.call.active:
            return
        if isinstance(event, MediaConnected):
            if self.call.state is CallState.CONNECTING:
                self._cancel_timeout()
                self._step(event)
        else:
            self._spawn(self._end(event, tell=EndReason.FAILED))

    # -- in the call: "take a measurement now" ---------------------------------------------------------

    def _on_data(self, call_id: str, text: str) -> None:
        if self.call.call_id != call_id or self.call.state is not CallState.IN_CALL:
            return
        try:
            message = parse_data(text)
        except SignallingError as exc:
            log.warning("a data-channel message was refused: %s", exc)
            return
        if isinstance(message, MeasureRequest):
            self.asked, self._request_id = message.family, message.request_id
            self._events.publish(MeasurementAsked(call_id, message.family))

    def _on_hub_event(self, event: object) -> None:
        # A value the patient recorded in the call after the nurse asked: hers to see, now.
        if isinstance(event, MeasurementRecorded) and event.created and self.asked is not None:
            if self.call.state is CallState.IN_CALL and self._lookup is not None:
                self._spawn(self._share(self.call.call_id, event.measurement_id))

    async def _share(self, call_id: str | None, measurement_id: str) -> None:
        assert self._lookup is not None
        view = await self._lookup(measurement_id)
        if view is None or self.call.call_id != call_id or self._session is None:
            return
        message = SharedMeasurement(
            self._request_id,
            str(view.id),
            view.kind,
            view.value,
            view.unit,
            tuple(SharedComponent(c.kind, c.value, c.unit) for c in view.components),
        )
        if not self._session.send_data(data_json(message)):
            log.warning("a value recorded in the call could not be shown to the nurse (data channel closed)")

    # -- frames for the screen ----------------------------------------------------------------------------

    def remote_frame(self) -> VideoFrame | None:
        return self._session.remote_frame() if self._session is not None else None

    def local_frame(self) -> VideoFrame | None:
        return self._session.local_frame() if self._session is not None else None

    @property
    def frames_received(self) -> int:
        return self._session.frames_received if self._session is not None else 0

    # -- plumbing ---------------------------------------------------------------------------------------------

    async def wait_for(self, *states: CallState, timeout: float = 10.0) -> Call:
        """Until the call is in one of `states` (tests, the bench)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.call.state in states)
            return self.call

    def _step(self, event: CallEvent) -> None:
        self.call = advance(self.call, event)
        assert self.call.call_id is not None
        log.info("video call %s: %s%s", self.call.call_id, self.call.state.value, f" ({self.call.reason.value})" if self.call.reason else "")
        self._events.publish(CallChanged(self.call.call_id, self.call.state, self.call.reason, self.call.muted))
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _end(self, event: CallEvent, *, tell: EndReason | None) -> None:
        call_id = self.call.call_id
        try:
            self._step(event)
        except CallTransitionError:
            return  # ended already (two ends hung up at once)
        self._cancel_timeout()
        session, self._session = self._session, None
        self.asked = self._request_id = None
        if tell is not None and call_id is not None:
            await self._send(Hangup(call_id, tell))
        if session is not None:
            await session.close()

    def _cancel_timeout(self) -> None:
        if self._timeout is not None and self._timeout is not asyncio.current_task():
            self._timeout.cancel()
        self._timeout = None

    async def _send(self, message: SignalMessage) -> None:
        try:
            await self._signalling.send(message)
        except (OSError, EOFError) as exc:
            log.warning("a %s message could not be sent: %s", message.TYPE, type(exc).__name__)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("video call task failed", exc_info=task.exception())

    async def close(self) -> None:
        """End a call that is on (as hung up) and stop every task."""
        if self.call.active:
            await self._end(PatientHungUp() if self.call.state is not CallState.RINGING else Decline(), tell=EndReason.HUNG_UP)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._unsubscribe()
