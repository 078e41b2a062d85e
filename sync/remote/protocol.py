"""The channel's pure core: topic names, reading and checking a command, building a reply.

Nothing here does I/O or reads a clock: the caller passes `now`. A command that is malformed,
too large, unknown, expired, from the future or already seen becomes a `Refusal` with a coded
reason; no text a command carries is ever put in an exception, a log line or a reply.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.remote.schemas import COMMAND_NAMES, COMMANDS, REPLY, UTC_TIME

PROTOCOL_VERSION = 1
DEFAULT_ROOT = "heima"
MAX_COMMAND_BYTES = 8 * 1024  # the largest command is a few hundred bytes
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # also the client certificate's CN
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@functools.cache
def _validator(schema_name: str):
    """The command's (or, for "", the reply's) schema validator, made when first needed: jsonschema
    is ~4 MB of RSS that a hub without a centre's channel never uses."""
    import jsonschema

    return jsonschema.Draft202012Validator(COMMANDS[schema_name] if schema_name else REPLY)


_UTC_TIME = re.compile(UTC_TIME)


class Status(enum.StrEnum):
    ACCEPTED = "accepted"  # checked and started; done or failed follows
    REFUSED = "refused"  # not done, and nothing changed
    DONE = "done"
    FAILED = "failed"  # started, did not succeed


class Reason(enum.StrEnum):
    OK = "ok"
    TOO_LARGE = "too-large"
    MALFORMED = "malformed"  # not a JSON object
    UNKNOWN_COMMAND = "unknown-command"
    INVALID = "invalid"  # does not match the command's schema
    EXPIRED = "expired"
    FROM_THE_FUTURE = "from-the-future"  # sent_at ahead of the hub's clock by more than the skew
    REPLAYED = "replayed"
    BAD_RESPONSE_TOPIC = "bad-response-topic"
    BUSY = "busy"  # the same kind of work is already running
    NOT_AVAILABLE = "not-available"  # this hub cannot do that yet (refresh-plan today)
    VIDEO_NOT_AVAILABLE = "video-not-available"
    NO_OFFER = "no-offer"  # video-start: the call's offer did not arrive on the signalling topic in time
    NO_LINK = "no-link"  # no Bluetooth link on this hub
    NO_DEVICE = "no-device"  # no device of that family answered in time
    SETTING_NOT_ALLOWED = "setting-not-allowed"
    INVALID_VALUE = "invalid-value"
    INTERNAL = "internal"  # a fault on the hub (its log has the exception type)


class Topics:
    """Every topic of one hub. `root` lets a centre run several fleets on one broker."""

    def __init__(self, hub_id: str, root: str = DEFAULT_ROOT) -> None:
        if not HUB_ID.match(hub_id):
            raise ValueError("a hub id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if not _SEGMENT.match(root):
            raise ValueError("the topic root is one segment of letters, digits, '.', '_' or '-'")
        self.hub_id = hub_id
        self.root = root
        self.base = f"{root}/{hub_id}"
        self.presence = f"{self.base}/presence"
        self.commands = f"{self.base}/cmd/+"  # the hub's subscription
        self.reply_prefix = f"{self.base}/reply/"
        self.default_reply = f"{self.base}/reply/default"
        # Video signalling: the centre writes the nurse's messages to `signal_in`; the hub answers
        # under `signal_out_prefix` (the offer's ResponseTopic, else `signal_default`).
        self.signal_in = f"{self.base}/video/in"
        self.signal_out_prefix = f"{self.base}/video/out/"
        self.signal_default = f"{self.base}/video/out/default"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def event(self, name: str) -> str:
        return f"{self.base}/event/{name}"

    def command_name(self, topic: str) -> str | None:
        """The command a topic names when it is one of this hub's command topics (any name)."""
        prefix = f"{self.base}/cmd/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name and "/" not in name else None

    def reply_topic(self, requested: str | None) -> str:
        """Where to answer: the centre's ResponseTopic when it is one of this hub's reply topics
        (the broker lets a hub write there and nowhere else), else the default reply topic."""
        if requested and requested.startswith(self.reply_prefix) and _is_plain_topic(requested[len(self.reply_prefix) :]):
            return requested
        return self.default_reply

    def signal_topic(self, requested: str | None) -> str:
        """Where the hub's messages of a call go: the offer's ResponseTopic when it is one of this
        hub's signalling-out topics, else the default one."""
        if requested and requested.startswith(self.signal_out_prefix) and _is_plain_topic(requested[len(self.signal_out_prefix) :]):
            return requested
        return self.signal_default


def _is_plain_topic(rest: str) -> bool:
    return bool(rest) and all(_SEGMENT.match(part) for part in rest.split("/")) and rest.count("/") < 4


@dataclass(frozen=True, slots=True)
class Envelope:
    """What MQTT carried besides the payload (MQTT 5 properties)."""

    topic: str
    response_topic: str | None = None
    correlation: bytes | None = None
    message_expiry: int | None = None  # seconds left, as the broker passed it on


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    id: str
    sent_at: datetime
    ttl: int
    args: dict[str, Any]
    reply_to: str
    correlation: bytes | None

    @property
    def expires_at(self) -> datetime:
        return self.sent_at + timedelta(seconds=self.ttl)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    reply_to: str
    correlation: bytes | None
    name: str | None = None  # known command names only
    id: str | None = None  # only once the id matched its pattern


@dataclass
class ReplayGuard:
    """The ids of commands accepted, each kept until the command could no longer pass the
    freshness checks anyway. An id is never forgotten early: when `capacity` ids are all still
    fresh, new commands are refused busy (only the centre can send commands; it sends few)."""

    capacity: int = 10_000
    _seen: dict[str, datetime] = field(default_factory=dict)

    def seen(self, command_id: str, now: datetime) -> bool:
        until = self._seen.get(command_id)
        return until is not None and until >= now

    def full(self, now: datetime) -> bool:
        if len(self._seen) >= self.capacity:
            self._seen = {k: until for k, until in self._seen.items() if until >= now}
        return len(self._seen) >= self.capacity

    def remember(self, command_id: str, until: datetime) -> None:
        self._seen[command_id] = until

    def __len__(self) -> int:
        return len(self._seen)


def utc_text(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_command(
    payload: bytes,
    envelope: Envelope,
    *,
    topics: Topics,
    now: datetime,
    replay: ReplayGuard,
    skew: timedelta = timedelta(minutes=2),
    clock_trusted: bool = True,
) -> Command | Refusal:
    """A checked command, or why it is refused. A command is remembered (for replay checks)
    only when it is accepted here.

    `skew`: how far the centre's and the hub's clocks may disagree. `clock_trusted` False (a Pi
    before NTP): the hub does not judge times by its own clock; the broker's message expiry
    still drops what expired on the way."""
    reply_to = topics.reply_topic(envelope.response_topic)
    correlation = envelope.correlation if envelope.correlation is None or len(envelope.correlation) <= 64 else None

    def refuse(reason: Reason, name: str | None = None, cid: str | None = None) -> Refusal:
        return Refusal(reason, reply_to, correlation, name, cid)

    name = topics.command_name(envelope.topic)
    known = name if name in COMMAND_NAMES else None
    if len(payload) > MAX_COMMAND_BYTES:
        return refuse(Reason.TOO_LARGE, known)
    if name is None or known is None:
        return refuse(Reason.UNKNOWN_COMMAND)
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return refuse(Reason.MALFORMED, known)
    if not isinstance(body, dict):
        return refuse(Reason.MALFORMED, known)
    cid = body.get("id") if isinstance(body.get("id"), str) and _looks_like_uuid(body["id"]) else None
    if not _validator(known).is_valid(body):
        return refuse(Reason.INVALID, known, cid)
    if envelope.response_topic is not None and reply_to != envelope.response_topic:
        return refuse(Reason.BAD_RESPONSE_TOPIC, known, cid)
    try:
        sent_at = datetime.fromisoformat(body["sent_at"]).astimezone(UTC)
        ttl = int(body["ttl"])
        sent_at + timedelta(seconds=ttl) + 2 * skew  # noqa: B018  (a date at the end of time)
    except (ValueError, OverflowError):
        return refuse(Reason.INVALID, known, cid)
    if envelope.message_expiry is not None and envelope.message_expiry <= 0:
        return refuse(Reason.EXPIRED, known, cid)
    if clock_trusted:
        if now > sent_at + timedelta(seconds=ttl) + skew:
            return refuse(Reason.EXPIRED, known, cid)
        if sent_at > now + skew:
            return refuse(Reason.FROM_THE_FUTURE, known, cid)
    if replay.seen(body["id"], now):
        return refuse(Reason.REPLAYED, known, cid)
    if replay.full(now):
        return refuse(Reason.BUSY, known, cid)
    # Remember the id for as long as this command could still pass the checks above (an
    # untrusted clock judges no times: then as long as its time to live from now).
    start = max(now, sent_at) if clock_trusted else now
    replay.remember(body["id"], start + timedelta(seconds=ttl) + 2 * skew)
    return Command(known, body["id"], sent_at, ttl, dict(body.get("args", {})), reply_to, correlation)


def _looks_like_uuid(text: str) -> bool:
    return len(text) == 36 and re.fullmatch(COMMANDS["sync-now"]["properties"]["id"]["pattern"], text) is not None


def reply_body(
    *,
    command_id: str | None,
    name: str | None,
    status: Status,
    reason: Reason,
    now: datetime,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": command_id, "command": name, "status": status.value, "reason": reason.value, "hub_time": utc_text(now)}
    if result is not None:
        body["result"] = result
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def reply_is_valid(body: dict[str, Any]) -> bool:
    return _validator("").is_valid(body)


def presence_body(state: str, reason: str, since: datetime | None) -> dict[str, Any]:
    return {"state": state, "reason": reason, "since": utc_text(since) if since else None, "protocol": PROTOCOL_VERSION}


def is_utc_text(text: str) -> bool:
    return bool(_UTC_TIME.match(text))
