"""Video signalling over the centre's channel: hub.services.video's `Signalling` port on MQTT.

Per hub a pair of topics (docs/centre-protocol.md, "Video signalling"): the centre writes the
nurse's messages (offer, candidate, hangup) to `{root}/{hub}/video/in`; the hub writes its own
(ringing, answer, hangup) to the offer's ResponseTopic under `{root}/{hub}/video/out/`, with the
offer's CorrelationData — request and response, as for commands. The payloads are the typed
messages of hub.domain.video, checked the same way (strict JSON, unknown fields refused).

An offer alone never rings the hub: its call must be admitted by a `video-start` command (checked
for expiry and replay, audited) for the same call id. Whichever of the two arrives first waits
for the other a while (`hold_seconds`); the nurse's messages for a call that is not admitted are
held that long, then dropped. A message whose MQTT message expiry ran out is dropped too, so a
hub coming back online never rings for a call the nurse gave up long ago.

Nothing here logs a message's content (an SDP names addresses): only the rule it broke.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.domain.video import MAX_MESSAGE, Candidate, Hangup, Offer, SignalMessage, SignallingError, parse_signal, signal_json

from sync.remote.protocol import Envelope, Topics

log = logging.getLogger(__name__)

SIGNAL_EXPIRY = 60  # seconds a hub's signalling message stays worth delivering
HOLD_SECONDS = 60.0  # an offer waits this long for its video-start (and the reverse)
MAX_HELD_CALLS = 8  # calls whose messages are held at once; the oldest goes first
MAX_HELD_MESSAGES = 64  # per call (an offer and its trickled candidates)
REMEMBERED_CALLS = 16  # admitted calls kept (a late candidate of an ended call is dropped by the service)

# (topic, payload, correlation data, message expiry in seconds)
Publish = Callable[[str, bytes, bytes | None, int], None]


@dataclass(frozen=True, slots=True)
class Route:
    """Where the hub's messages of one call go: the offer's ResponseTopic and CorrelationData."""

    topic: str
    correlation: bytes | None


@dataclass
class Gate:
    """The pure part: which of the nurse's messages pass to the call service now, which wait for
    their call's video-start, and which are dropped. `now` is a monotonic time the caller passes."""

    hold_seconds: float = HOLD_SECONDS
    _admitted: OrderedDict[str, float] = field(default_factory=OrderedDict)  # call id -> until when it waits for its offer
    _held: OrderedDict[str, list[tuple[float, SignalMessage]]] = field(default_factory=OrderedDict)
    _passed: OrderedDict[str, None] = field(default_factory=OrderedDict)  # calls whose messages pass

    def arrive(self, message: SignalMessage, now: float) -> list[SignalMessage]:
        """What to give the call service now: the message, or what waited for it, or nothing
        (held, or dropped when too much is held)."""
        self._expire(now)
        call_id = message.call_id
        if call_id in self._passed:
            return [message]
        held = self._held.setdefault(call_id, [])
        self._held.move_to_end(call_id)
        if len(held) >= MAX_HELD_MESSAGES:
            log.warning("signalling for a call that was not started: too many messages held; dropped")
            return []
        held.append((now, message))
        while len(self._held) > MAX_HELD_CALLS:
            self._held.popitem(last=False)
        return self._release(call_id) if call_id in self._admitted else []

    def admit(self, call_id: str, now: float) -> list[SignalMessage]:
        """The centre's video-start for `call_id` arrived: release what waited for it, or let
        its offer through when it comes (within `hold_seconds`)."""
        self._expire(now)
        self._admitted[call_id] = now + self.hold_seconds
        return self._release(call_id)

    def _release(self, call_id: str) -> list[SignalMessage]:
        held = [m for _, m in self._held.get(call_id, [])]
        offer = next((m for m in held if isinstance(m, Offer)), None)
        if offer is None:
            return []  # the offer is not here yet
        del self._held[call_id]
        del self._admitted[call_id]
        self._passed[call_id] = None
        while len(self._passed) > REMEMBERED_CALLS:
            self._passed.popitem(last=False)
        return [offer, *(m for m in held if m is not offer)]  # the offer first: it makes the call

    def withdraw(self, call_id: str) -> None:
        """The video-start gave up waiting for the offer: a late offer does not ring."""
        self._admitted.pop(call_id, None)
        self._held.pop(call_id, None)

    def admitted(self, call_id: str) -> bool:
        return call_id in self._passed

    def _expire(self, now: float) -> None:
        for call_id in [c for c, until in self._admitted.items() if until < now]:
            del self._admitted[call_id]
        for call_id in list(self._held):
            kept = [(t, m) for t, m in self._held[call_id] if now - t <= self.hold_seconds]
            if kept:
                self._held[call_id] = kept
            else:
                del self._held[call_id]


FROM_THE_NURSE = (Offer, Candidate, Hangup)


class MqttSignalling:
    """hub.services.video.Signalling over the centre's channel. The channel binds itself
    (`bind`) and hands over what arrives on the hub's signalling-in topic (`received`, on the
    hub's loop); `video-start` admits a call (`admit`)."""

    def __init__(self, *, hold_seconds: float = HOLD_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._gate = Gate(hold_seconds)
        self._clock = clock
        self._queue: asyncio.Queue[SignalMessage | None] = asyncio.Queue()
        self._routes: OrderedDict[str, Route] = OrderedDict()
        self._topics: Topics | None = None
        self._publish: Publish | None = None
        self.dropped = 0  # messages refused or expired (tests, diagnostics)

    def bind(self, topics: Topics, publish: Publish) -> None:
        self._topics, self._publish = topics, publish

    # -- from the centre ----------------------------------------------------------------------

    def received(self, payload: bytes, envelope: Envelope) -> None:
        """One message on the hub's signalling-in topic (called on the hub's loop)."""
        if envelope.message_expiry is not None and envelope.message_expiry <= 0:
            return self._drop("a signalling message arrived after its expiry")
        if len(payload) > MAX_MESSAGE:
            return self._drop("a signalling message was too large")
        try:
            message = parse_signal(payload)
        except SignallingError as exc:
            return self._drop(f"a signalling message was refused: {exc}")
        if not isinstance(message, FROM_THE_NURSE):
            return self._drop(f"a {message.TYPE} message is the hub's to send, not the centre's")
        if isinstance(message, Offer) and self._topics is not None and message.call_id not in self._routes:
            correlation = envelope.correlation if envelope.correlation is None or len(envelope.correlation) <= 64 else None
            self._routes[message.call_id] = Route(self._topics.signal_topic(envelope.response_topic), correlation)
            while len(self._routes) > REMEMBERED_CALLS:
                self._routes.popitem(last=False)
        for passed in self._gate.arrive(message, self._clock()):
            self._queue.put_nowait(passed)

    def admit(self, call_id: str) -> None:
        """The centre's video-start for this call was accepted: its offer may ring the hub."""
        for passed in self._gate.admit(call_id, self._clock()):
            self._queue.put_nowait(passed)

    def withdraw(self, call_id: str) -> None:
        self._gate.withdraw(call_id)

    def _drop(self, why: str) -> None:
        self.dropped += 1
        log.warning("%s; dropped", why)

    # -- the Signalling port ------------------------------------------------------------------

    async def receive(self) -> SignalMessage:
        message = await self._queue.get()
        if message is None:
            self._queue.put_nowait(None)  # every later receive ends too
            raise EOFError("the centre's signalling channel closed")
        return message

    async def send(self, message: SignalMessage) -> None:
        if self._publish is None or self._topics is None:
            raise EOFError("no centre channel to signal over")
        route = self._routes.get(message.call_id) or Route(self._topics.signal_default, None)
        self._publish(route.topic, signal_json(message).encode(), route.correlation, SIGNAL_EXPIRY)

    def close(self) -> None:
        self._queue.put_nowait(None)
