"""A video check-in, pure: the call's states, the signalling messages between the nurse's end and
the hub, the messages on the call's data channel, and the video settings.

The nurse starts every call (patients never call in): her offer makes the hub ring; the patient
accepts or declines, or nobody answers in time (missed). Nothing here does I/O or reads a clock:
the service (hub/services/video.py) feeds events in and carries messages out.

    idle ─offer→ ringing ─accept→ connecting ─connected→ in-call ─hang up→ ended
                    │ decline / timeout / cancelled / failed      │ failed, nurse hung up
                    └──────────────────→ ended ←───────────────────┘

Messages are JSON objects with a "type"; every field is checked and unknown fields are refused,
so a malformed or hostile message is a `SignallingError` (its text never echoes the message: an
SDP names addresses, a measurement message carries a value).
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind

# -- the call's states ------------------------------------------------------------------------------


class CallState(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    CONNECTING = "connecting"
    IN_CALL = "in-call"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    DECLINED = "declined"  # the patient said no
    MISSED = "missed"  # nobody answered before the ring timed out
    CANCELLED = "cancelled"  # the nurse gave up before it was answered
    HUNG_UP = "hung-up"  # the patient hung up
    NURSE_HUNG_UP = "nurse-hung-up"
    FAILED = "failed"  # the connection could not be made, or broke
    BUSY = "busy"  # another call is on (told to the second caller; the call on is unchanged)


class CallTransitionError(ValueError):
    """An event that does not belong in the call's state (a late message, a double tap)."""


@dataclass(frozen=True, slots=True)
class Call:
    state: CallState = CallState.IDLE
    call_id: str | None = None
    reason: EndReason | None = None  # why it ended (ENDED only)
    muted: bool = False

    @property
    def active(self) -> bool:
        """Ringing, connecting or in the call: a second caller is told busy."""
        return self.state in (CallState.RINGING, CallState.CONNECTING, CallState.IN_CALL)


# Events the service feeds the machine (the nurse's messages, the patient's taps, timers, media).
@dataclass(frozen=True, slots=True)
class Incoming:
    call_id: str


@dataclass(frozen=True, slots=True)
class Accept:
    pass


@dataclass(frozen=True, slots=True)
class Decline:
    pass


@dataclass(frozen=True, slots=True)
class RingTimedOut:
    pass


@dataclass(frozen=True, slots=True)
class MediaConnected:
    pass


@dataclass(frozen=True, slots=True)
class PatientHungUp:
    pass


@dataclass(frozen=True, slots=True)
class NurseHungUp:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    pass


@dataclass(frozen=True, slots=True)
class ToggleMute:
    pass


CallEvent = Incoming | Accept | Decline | RingTimedOut | MediaConnected | PatientHungUp | NurseHungUp | Failed | ToggleMute

S = CallState


def _ended(call: Call, reason: EndReason) -> Call:
    return Call(CallState.ENDED, call.call_id, reason, muted=False)


def advance(call: Call, event: CallEvent) -> Call:
    """The call after `event`; CallTransitionError when the event has no place in this state."""
    state = call.state
    match event:
        case Incoming(call_id) if not call.active:
            return Call(S.RINGING, call_id)
        case Accept() if state is S.RINGING:
            return replace(call, state=S.CONNECTING)
        case Decline() if state is S.RINGING:
            return _ended(call, EndReason.DECLINED)
        case RingTimedOut() if state is S.RINGING:
            return _ended(call, EndReason.MISSED)
        case MediaConnected() if state is S.CONNECTING:
            return replace(call, state=S.IN_CALL)
        case PatientHungUp() if state in (S.CONNECTING, S.IN_CALL):
            return _ended(call, EndReason.HUNG_UP)
        case NurseHungUp() if state is S.RINGING:
            return _ended(call, EndReason.CANCELLED)
        case NurseHungUp() if state in (S.CONNECTING, S.IN_CALL):
            return _ended(call, EndReason.NURSE_HUNG_UP)
        case Failed() if call.active:
            return _ended(call, EndReason.FAILED)
        case ToggleMute() if state in (S.CONNECTING, S.IN_CALL):
            return replace(call, muted=not call.muted)
    raise CallTransitionError(f"{type(event).__name__} does not apply to a call that is {state.value}")


# -- messages -------------------------------------------------------------------------------------------


class SignallingError(ValueError):
    """A message that is not one Heima takes; the text says which rule it broke, never its content."""


MAX_MESSAGE = 100_000  # bytes of JSON: an SDP with a few media sections is ~5–10 kB
_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")


def _obj(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_MESSAGE:
            raise SignallingError(f"message longer than {MAX_MESSAGE} bytes")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise SignallingError("message is not UTF-8") from None
    if not isinstance(text, str):
        raise SignallingError("message is not text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE:
        raise SignallingError(f"message longer than {MAX_MESSAGE} bytes")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise SignallingError("message is not JSON") from None
    if not isinstance(data, dict):
        raise SignallingError("message is not a JSON object")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(name)  # NaN/Infinity are not JSON


def _fields(data: Mapping[str, Any], required: set[str], optional: frozenset[str] | set[str] = frozenset()) -> None:
    kind = data.get("type")
    missing = required - data.keys()
    if missing:
        raise SignallingError(f"{kind} message lacks {', '.join(sorted(missing))}")
    extra = data.keys() - required - optional - {"type"}
    if extra:
        allowed = ", ".join(sorted(required | set(optional)))
        raise SignallingError(f"{kind} message has {len(extra)} unknown field(s); it may have: {allowed}")


def _text(data: Mapping[str, Any], key: str, *, limit: int, pattern: re.Pattern[str] | None = None, empty: bool = False) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise SignallingError(f"{data.get('type')}.{key} must be text")
    if len(value) > limit:
        raise SignallingError(f"{data.get('type')}.{key} is longer than {limit} characters")
    if not value and not empty:
        raise SignallingError(f"{data.get('type')}.{key} is empty")
    if pattern is not None and not pattern.match(value):
        raise SignallingError(f"{data.get('type')}.{key} has characters or a length it may not have")
    return value


def _call_id(data: Mapping[str, Any]) -> str:
    return _text(data, "call_id", limit=64, pattern=_CALL_ID)


def _sdp(data: Mapping[str, Any]) -> str:
    sdp = _text(data, "sdp", limit=MAX_MESSAGE)
    if not sdp.startswith("v=0"):
        raise SignallingError(f"{data.get('type')}.sdp is not a session description (it must begin v=0)")
    return sdp


@dataclass(frozen=True, slots=True)
class Offer:
    """The nurse calls: her session description. The hub rings when this arrives."""

    TYPE: ClassVar[str] = "offer"
    call_id: str
    sdp: str
    caller: str | None = None  # who calls, as the centre wants it shown ("Oppfølgingssenteret")


@dataclass(frozen=True, slots=True)
class Ringing:
    """The hub rings (its answer to an offer)."""

    TYPE: ClassVar[str] = "ringing"
    call_id: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The patient accepted: the hub's session description, with all its candidates in it."""

    TYPE: ClassVar[str] = "answer"
    call_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ICE candidate, trickled (an empty candidate: no more candidates)."""

    TYPE: ClassVar[str] = "candidate"
    call_id: str
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    """The call is over, or will not happen, and why (either end)."""

    TYPE: ClassVar[str] = "hangup"
    call_id: str
    reason: EndReason


SignalMessage = Offer | Ringing | Answer | Candidate | Hangup


def parse_signal(text: str | bytes) -> SignalMessage:
    """One signalling message from its JSON; SignallingError says what is wrong with it."""
    data = _obj(text)
    kind = data.get("type")
    if kind == "offer":
        _fields(data, {"call_id", "sdp"}, {"caller"})
        caller = data.get("caller")
        if caller is not None:
            caller = _text(data, "caller", limit=80, pattern=_PRINTABLE)
        return Offer(_call_id(data), _sdp(data), caller)
    if kind == "ringing":
        _fields(data, {"call_id"})
        return Ringing(_call_id(data))
    if kind == "answer":
        _fields(data, {"call_id", "sdp"})
        return Answer(_call_id(data), _sdp(data))
    if kind == "candidate":
        _fields(data, {"call_id", "candidate"}, {"sdp_mid", "sdp_mline_index"})
        candidate = _text(data, "candidate", limit=2048, pattern=_PRINTABLE, empty=True)
        if candidate and not candidate.removeprefix("a=").startswith("candidate:"):
            raise SignallingError("candidate.candidate is not an ICE candidate (it must begin candidate:)")
        mid = data.get("sdp_mid")
        if mid is not None:
            mid = _text(data, "sdp_mid", limit=64, pattern=_PRINTABLE, empty=True)
        index = data.get("sdp_mline_index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 64):
            raise SignallingError("candidate.sdp_mline_index must be a whole number from 0 to 63")
        return Candidate(_call_id(data), candidate, mid, index)
    if kind == "hangup":
        _fields(data, {"call_id", "reason"})
        try:
            reason = EndReason(data["reason"])
        except (ValueError, TypeError):
            raise SignallingError(f"hangup.reason must be one of {', '.join(r.value for r in EndReason)}") from None
        return Hangup(_call_id(data), reason)
    raise SignallingError(f"unknown message type; known: offer, ringing, answer, candidate, hangup")


def signal_json(message: SignalMessage) -> str:
    """The JSON of a message (what parse_signal reads back to an equal message)."""
    data: dict[str, Any] = {"type": message.TYPE}
    for f in fields(message):
        value = getattr(message, f.name)
        if value is not None:
            data[f.name] = value.value if isinstance(value, enum.Enum) else value
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- the call's data channel ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasureRequest:
    """The nurse asks for a measurement now, of one device family."""

    TYPE: ClassVar[str] = "measure-request"
    request_id: str
    family: DeviceFamily


@dataclass(frozen=True, slots=True)
class SharedComponent:
    kind: MeasurementKind
    value: float | None
    unit: str


@dataclass(frozen=True, slots=True)
class SharedMeasurement:
    """A value recorded during the call, for the nurse (she is entitled to it in the call; the
    centre gets it through the outbox as any other value)."""

    TYPE: ClassVar[str] = "measurement"
    request_id: str | None
    id: str
    kind: MeasurementKind
    value: float | None
    unit: str
    components: tuple[SharedComponent, ...] = field(default=())


DataMessage = MeasureRequest | SharedMeasurement


def _number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SignallingError(f"{where}.{key} must be a finite number or null")
    return float(value)


def _kind(data: Mapping[str, Any], where: str) -> MeasurementKind:
    try:
        return MeasurementKind(data["kind"])
    except (ValueError, TypeError):
        raise SignallingError(f"{where}.kind is not a measurement kind Heima knows") from None


def parse_data(text: str | bytes) -> DataMessage:
    data = _obj(text)
    kind = data.get("type")
    if kind == "measure-request":
        _fields(data, {"request_id", "family"})
        request_id = _text(data, "request_id", limit=64, pattern=_REQUEST_ID)
        try:
            family = DeviceFamily(data["family"])
        except (ValueError, TypeError):
            raise SignallingError(f"measure-request.family must be one of {', '.join(f.value for f in DeviceFamily)}") from None
        return MeasureRequest(request_id, family)
    if kind == "measurement":
        _fields(data, {"id", "kind", "value", "unit"}, {"request_id", "components"})
        request_id = data.get("request_id")
        if request_id is not None:
            request_id = _text(data, "request_id", limit=64, pattern=_REQUEST_ID)
        components = data.get("components", [])
        if not isinstance(components, list) or len(components) > 8:
            raise SignallingError("measurement.components must be a list of at most 8")
        parts = []
        for c in components:
            if not isinstance(c, dict):
                raise SignallingError("measurement.components must hold objects")
            _fields({**c, "type": "component"}, {"kind", "value", "unit"})
            parts.append(SharedComponent(_kind(c, "component"), _number(c, "value", "component"), _text({**c, "type": "component"}, "unit", limit=32, pattern=_PRINTABLE)))
        return SharedMeasurement(
            request_id,
            _text(data, "id", limit=64, pattern=_REQUEST_ID),
            _kind(data, "measurement"),
            _number(data, "value", "measurement"),
            _text(data, "unit", limit=32, pattern=_PRINTABLE),
            tuple(parts),
        )
    raise SignallingError("unknown data-channel message type; known: measure-request, measurement")


def data_json(message: DataMessage) -> str:
    if isinstance(message, MeasureRequest):
        return json.dumps({"type": message.TYPE, "request_id": message.request_id, "family": message.family.value}, separators=(",", ":"))
    data: dict[str, Any] = {"type": message.TYPE, "id": message.id, "kind": message.kind.value, "value": message.value, "unit": message.unit}
    if message.request_id is not None:
        data["request_id"] = message.request_id
    if message.components:
        data["components"] = [{"kind": c.kind.value, "value": c.value, "unit": c.unit} for c in message.components]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- frames and settings ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class VideoFrame:
    """One decoded picture, RGB 8-bit, top row first; `number` counts frames since the call began."""

    width: int
    height: int
    rgb: bytes
    number: int


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN/TURN server the centre runs (from the configuration; there is no public default)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class VideoSettings:
    ice_servers: tuple[IceServer, ...] = ()  # none: host candidates only (a LAN, the tests' loopback)
    ring_seconds: float = 45.0  # then the call is missed
    connect_seconds: float = 15.0  # accepted, but no media by then: failed
    camera: str | None = None  # a V4L2 device ("/dev/video0"); None: a test pattern (no camera)


_ICE_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s]+$")


def parse_video_settings(table: Mapping[str, Any]) -> VideoSettings:
    """The `[video]` table of heima.toml; ValueError says which key is wrong and how to fix it."""
    known = {"ice_servers", "ring_seconds", "connect_seconds", "camera"}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"[video] has unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    servers = []
    for n, entry in enumerate(table.get("ice_servers", []), 1):
        if not isinstance(entry, Mapping) or "urls" not in entry:
            raise ValueError(f"[video] ice_servers entry {n} needs urls = [\"turn:turn.centre.example:3478\"]")
        urls = entry["urls"]
        urls = (urls,) if isinstance(urls, str) else tuple(urls)
        if not urls or not all(isinstance(u, str) and _ICE_URL.match(u) for u in urls):
            raise ValueError(f"[video] ice_servers entry {n}: each url must begin stun:, stuns:, turn: or turns:")
        servers.append(IceServer(urls, entry.get("username"), entry.get("credential")))
    ring = table.get("ring_seconds", 45.0)
    connect = table.get("connect_seconds", 15.0)
    for key, value in (("ring_seconds", ring), ("connect_seconds", connect)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 5 <= value <= 600:
            raise ValueError(f"[video] {key} must be a number of seconds from 5 to 600")
    camera = table.get("camera")
    if camera is not None and not (isinstance(camera, str) and camera):
        raise ValueError("[video] camera must be a device path such as \"/dev/video0\"")
    return VideoSettings(tuple(servers), float(ring), float(connect), camera)
