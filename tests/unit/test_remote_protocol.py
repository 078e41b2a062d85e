"""The centre channel's pure core: what a hub accepts, what it refuses and why, and that nothing
a command carries reaches a log or a reply unless it is a code."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sync.remote.backoff import reconnect_delay
from sync.remote.dispatch import Dispatcher
from sync.remote.port import CommandRefused
from sync.remote.protocol import (
    MAX_COMMAND_BYTES,
    Command,
    Envelope,
    Reason,
    Refusal,
    ReplayGuard,
    Status,
    Topics,
    parse_command,
    utc_text,
)
from sync.remote.schemas import COMMANDS, COMMAND_NAMES, REPLY
from sync.remote.settings import ALLOWED_SETTINGS, SettingRefused, check_setting

NOW = datetime(2031, 5, 4, 10, 0, tzinfo=UTC)  # an injected clock: no test reads the wall clock
TOPICS = Topics("hub-0042")
SECRET = "01017012345"  # fødselsnummer-shaped: must never be logged or echoed
VALID_ARGS: dict[str, dict[str, Any] | None] = {
    "video-start": {"call": str(uuid.UUID(int=7)), "ring_seconds": 30},
    "measure-now": {"family": "blood-pressure"},
    "sync-now": None,
    "refresh-plan": None,
    "diagnostics": {},
    "set-config": {"setting": "oximetry.record_continuous", "value": True},
}


def body(*, sent_at: datetime = NOW, ttl: int = 60, args: Any = None, cid: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": cid or str(uuid.uuid4()), "sent_at": utc_text(sent_at), "ttl": ttl}
    if args is not None:
        out["args"] = args
    return out


def parse(name: str, payload: bytes | dict, *, now: datetime = NOW, guard: ReplayGuard | None = None, **env: Any) -> Command | Refusal:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    envelope = Envelope(topic=TOPICS.command(name), response_topic=env.pop("response_topic", TOPICS.reply_prefix + "w1"), **env)
    return parse_command(raw, envelope, topics=TOPICS, now=now, replay=guard if guard is not None else ReplayGuard())


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_each_command_with_valid_arguments_is_accepted(name: str) -> None:
    cmd = parse(name, body(args=VALID_ARGS[name]))
    assert isinstance(cmd, Command) and cmd.name == name and cmd.reply_to == "heima/hub-0042/reply/w1"


def test_oversized_unknown_and_malformed_commands_are_refused_with_their_reason() -> None:
    big = body(args={"family": "weight", "x": "a" * MAX_COMMAND_BYTES})
    assert parse("measure-now", big).reason is Reason.TOO_LARGE
    assert parse("reboot", body()).reason is Reason.UNKNOWN_COMMAND
    assert parse("diagnostics", b"\xff\xfe").reason is Reason.MALFORMED
    assert parse("diagnostics", b"[1, 2]").reason is Reason.MALFORMED
    assert parse("diagnostics", b"[" * 5000).reason is Reason.MALFORMED
    assert parse("measure-now", body(args={"family": "toaster"})).reason is Reason.INVALID
    assert parse("diagnostics", {**body(), "patient": SECRET}).reason is Reason.INVALID
    assert parse("diagnostics", body(cid="not-a-uuid")).reason is Reason.INVALID


def test_a_command_expired_on_the_way_or_from_the_future_is_refused() -> None:
    assert parse("sync-now", body(sent_at=NOW - timedelta(minutes=10), ttl=60)).reason is Reason.EXPIRED
    assert parse("sync-now", body(sent_at=NOW + timedelta(minutes=10))).reason is Reason.FROM_THE_FUTURE
    assert parse("sync-now", body(), message_expiry=0).reason is Reason.EXPIRED
    # A hub whose clock is not yet trusted (a Pi before NTP) does not judge by it.
    raw = json.dumps(body(sent_at=NOW - timedelta(days=3))).encode()
    env = Envelope(topic=TOPICS.command("sync-now"), response_topic=None)
    assert isinstance(parse_command(raw, env, topics=TOPICS, now=NOW, replay=ReplayGuard(), clock_trusted=False), Command)


def test_a_replayed_command_is_refused_and_an_answer_never_goes_to_another_hubs_topic() -> None:
    guard = ReplayGuard()
    first = body()
    assert isinstance(parse("diagnostics", first, guard=guard), Command)
    again = parse("diagnostics", first, guard=guard, now=NOW + timedelta(seconds=30))
    assert again.reason is Reason.REPLAYED and again.id == first["id"]
    foreign = parse("diagnostics", body(), response_topic="heima/hub-0043/reply/w1")
    assert foreign.reason is Reason.BAD_RESPONSE_TOPIC and foreign.reply_to == TOPICS.default_reply


@given(delay=st.integers(min_value=0, max_value=40 * 24 * 3600), ttl=st.integers(min_value=1, max_value=7 * 24 * 3600))
def test_a_command_seen_once_is_never_accepted_again(delay: int, ttl: int) -> None:
    guard = ReplayGuard(capacity=5)
    first = body(ttl=ttl)
    assert isinstance(parse("sync-now", first, guard=guard), Command)
    later = NOW + timedelta(seconds=delay // 2)
    others = [parse("sync-now", body(sent_at=later), guard=guard, now=later) for _ in range(10)]
    # Beyond its capacity the guard refuses new commands rather than forget a fresh one.
    assert all(isinstance(o, Command) or o.reason is Reason.BUSY for o in others)
    again = parse("sync-now", first, guard=guard, now=NOW + timedelta(seconds=delay))
    assert isinstance(again, Refusal) and again.reason in (Reason.REPLAYED, Reason.EXPIRED)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | st.just(SECRET),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | st.just(SECRET), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(COMMAND_NAMES), raw=json_values, use_envelope=st.booleans(), args=json_values)
def test_any_json_is_accepted_only_when_it_fits_the_schema(name: str, raw: Any, use_envelope: bool, args: Any) -> None:
    payload = {**body(), "args": args} if use_envelope else raw
    result = parse(name, payload)
    fits = jsonschema.Draft202012Validator(COMMANDS[name]).is_valid(payload)
    assert isinstance(result, Command) == fits
    if isinstance(result, Refusal):
        assert result.id is None or result.id == payload.get("id")


@given(raw=st.binary(max_size=2 * MAX_COMMAND_BYTES))
def test_any_bytes_are_refused_with_a_reason_never_an_exception(raw: bytes) -> None:
    result = parse("measure-now", raw)
    assert isinstance(result, Refusal) and result.reason in (Reason.MALFORMED, Reason.TOO_LARGE, Reason.INVALID)


def test_topics_of_one_hub() -> None:
    assert TOPICS.command_name("heima/hub-0042/cmd/sync-now") == "sync-now"
    assert TOPICS.command_name("heima/hub-0043/cmd/sync-now") is None
    assert TOPICS.reply_topic("heima/hub-0042/reply/w1/x") == "heima/hub-0042/reply/w1/x"
    assert TOPICS.reply_topic("heima/hub-0042/reply/+") == TOPICS.default_reply
    for bad in ("", "a/b", "hub+", "#", "x" * 65):
        with pytest.raises(ValueError):
            Topics(bad)


def test_only_the_written_allow_list_of_settings_may_change() -> None:
    assert check_setting("oximetry.chunk_minutes", 15) == ("oximetry.chunk_minutes", 15)
    for name in ("destinations", "patient.identifier", "hub.data_dir", "centre.mqtt.host", None, 3):
        with pytest.raises(SettingRefused) as exc:
            check_setting(name, "x")
        assert exc.value.reason == "setting-not-allowed"
    for name, value in (("oximetry.chunk_minutes", True), ("oximetry.chunk_minutes", 0), ("hub.timezone", "../../etc")):
        with pytest.raises(SettingRefused) as exc:
            check_setting(name, value)
        assert exc.value.reason == "invalid-value" and str(value) not in str(exc.value)
    assert "hub.timezone" in ALLOWED_SETTINGS


def test_reconnect_delays_are_jittered_grow_and_stop_growing() -> None:
    highs = [reconnect_delay(n, base=0.5, cap=30, uniform=lambda lo, hi: hi) for n in range(12)]
    lows = [reconnect_delay(n, base=0.5, cap=30, uniform=lambda lo, hi: lo) for n in range(12)]
    assert highs[:4] == [0.5, 1.0, 2.0, 4.0] and max(highs) == 30
    assert all(0 < lo <= 0.05 for lo in lows)  # spread from (almost) now to the ceiling


# --- the dispatcher: refused means nothing was called; nothing carried reaches a log ------------


class RecordingPort:
    """The port as a hub would implement it, recording what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start_video(self, call_id: str, ring_seconds: int) -> None:
        self.calls.append("video")
        raise CommandRefused(Reason.VIDEO_NOT_AVAILABLE)

    def measure_now(self, family: Any, timeout: float) -> Any:
        self.calls.append("measure")

        async def done() -> dict[str, Any]:
            return {"recorded": 1, "kinds": ["body-weight"]}

        return done()

    def sync_now(self) -> Any:
        self.calls.append("sync")

        async def done() -> dict[str, Any]:
            return {"waiting": 0, "failed": 0}

        return done()

    async def refresh_plan(self) -> None:
        self.calls.append("plan")
        raise CommandRefused(Reason.NOT_AVAILABLE)

    async def diagnostics(self) -> dict[str, Any]:
        self.calls.append("diagnostics")
        return {"versions": {"heima": SECRET}}  # does not fit the schema: never sent

    async def change_setting(self, name: str, value: Any) -> str:
        self.calls.append("setting")
        return "next-start"


def run_dispatch(items: list[Command | Refusal]) -> tuple[RecordingPort, list[dict[str, Any]]]:
    port, sent = RecordingPort(), []

    async def go() -> None:
        d = Dispatcher(port, lambda topic, corr, b: sent.append(b), clock=lambda: NOW)
        for item in items:
            await d.handle(item)
        await asyncio.sleep(0)
        await asyncio.gather(*d._running.values())

    asyncio.run(go())
    return port, sent


def test_answers_accepted_then_done_refused_or_failed_with_a_code() -> None:
    names = ["measure-now", "video-start", "refresh-plan", "diagnostics", "set-config"]
    items = [parse(n, body(args=VALID_ARGS[n])) for n in names]
    items.append(parse("set-config", body(args={"setting": "destinations.0.url", "value": "https://evil.example"})))
    port, sent = run_dispatch(items)
    got = [(b["command"], b["status"], b["reason"]) for b in sent]
    assert got == [
        ("measure-now", "accepted", "ok"),
        ("video-start", "refused", "video-not-available"),
        ("refresh-plan", "refused", "not-available"),
        ("diagnostics", "failed", "internal"),  # the result did not fit: not sent
        ("set-config", "done", "ok"),
        ("set-config", "refused", "setting-not-allowed"),
        ("measure-now", "done", "ok"),
    ]
    assert port.calls.count("setting") == 1  # the refused change never reached the hub
    validator = jsonschema.Draft202012Validator(REPLY)
    assert all(validator.is_valid(b) for b in sent)
    assert SECRET not in json.dumps(sent)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from([*COMMAND_NAMES, "reboot", SECRET]), args=json_values, raw=st.binary(max_size=64) | st.just(SECRET.encode()))
def test_nothing_a_command_carries_reaches_a_log_or_a_reply(caplog: pytest.LogCaptureFixture, name: str, args: Any, raw: bytes) -> None:
    assume(name != SECRET or True)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        items = [
            parse(name, {**body(), "args": args, SECRET: SECRET}),
            parse(name, {**body(), "args": args}),
            parse(name, raw),
            parse(name, body(cid=SECRET)),
        ]
        port, sent = run_dispatch(items)
    text = caplog.text + json.dumps(sent)
    assert SECRET not in text
    assert all(b["status"] in {s.value for s in Status} for b in sent)
