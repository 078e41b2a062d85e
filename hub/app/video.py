"""Video check-ins wired to the centre's channel: the call service (hub.services.video) on aiortc
media (sync.video) and MQTT signalling (sync.remote.signalling); the `video-start` command; the
call's events for the centre (docs/video-check-ins.md, docs/centre-protocol.md).

Only a hub with both [video] and [centre.mqtt] takes calls: the nurse's call arrives over that
channel, and nothing else may start one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.domain.video import CallState
from hub.services.events import CallChanged, CallMissed
from hub.services.video import CallService
from sync.remote.port import CommandRefused
from sync.remote.protocol import Reason, utc_text
from sync.remote.signalling import MqttSignalling

if TYPE_CHECKING:
    from hub.app import Hub
    from sync.remote.channel import RemoteChannel

log = logging.getLogger(__name__)
OFFER_WAIT = 30.0  # seconds a video-start waits for its call's offer before it is refused no-offer


def start_calls(hub: Hub) -> tuple[MqttSignalling, CallService]:
    """The hub's call service, serving signalling that the centre's channel will carry (a task of
    the running hub); the touch app shows its calls."""
    from sync.video.peer import AiortcMedia  # aiortc and PyAV load only on a hub that takes calls

    settings = hub.config.video
    assert settings is not None
    signalling = MqttSignalling()
    calls = CallService(signalling, AiortcMedia(settings), hub.events, settings=settings, measurement=hub.api.measurement)
    hub._tasks.append(asyncio.create_task(calls.run(), name="video-calls"))
    return signalling, calls


async def start_video(hub: Hub, call_id: str, ring_seconds: int | None, *, offer_wait: float = OFFER_WAIT) -> None:
    """The centre's video-start: admit the call and return once the hub rings for it. Refused
    video-not-available without [video], busy while a call is on, no-offer when its offer does
    not come in `offer_wait` seconds."""
    calls, signalling = hub.calls, hub.signalling
    if calls is None or signalling is None:
        raise CommandRefused(Reason.VIDEO_NOT_AVAILABLE)
    if calls.call.active:
        raise CommandRefused(Reason.BUSY)
    rang = asyncio.Event()

    def follow(event: Any) -> None:
        if isinstance(event, CallChanged) and event.call_id == call_id:
            rang.set()

    stop = hub.events.subscribe(follow)
    try:
        if ring_seconds is not None:  # else the hub's own [video] ring_seconds
            calls.ring_for(call_id, ring_seconds)
        signalling.admit(call_id)
        try:
            async with asyncio.timeout(offer_wait):
                await rang.wait()
        except TimeoutError:
            signalling.withdraw(call_id)  # a late offer does not ring: the centre heard no-offer
            raise CommandRefused(Reason.NO_OFFER) from None
    finally:
        stop()


def forward_call_events(hub: Hub, channel: RemoteChannel, clock: Callable[[], datetime]) -> Callable[[], None]:
    """A missed call (its id, nothing else) and the hub's in-call state, to the centre."""
    in_call: set[str] = set()

    def on_event(event: Any) -> None:
        now = utc_text(clock())
        if isinstance(event, CallMissed):
            channel.publish_event("missed-call", {"call": event.call_id, "hub_time": now})
        elif isinstance(event, CallChanged):
            if event.state is CallState.CONNECTING and event.call_id not in in_call:
                in_call.add(event.call_id)
                channel.publish_event("hub-state", {"state": "in-call", "hub_time": now})
            elif event.state is CallState.ENDED and event.call_id in in_call:
                in_call.discard(event.call_id)
                channel.publish_event("hub-state", {"state": "idle", "hub_time": now})

    return hub.events.subscribe(on_event)
