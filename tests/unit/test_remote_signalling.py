"""Video signalling over the centre's channel (sync/remote/signalling.py), its pure part and the
port: an offer rings the hub only with its video-start, in either order, within the hold time;
the hub's messages go to the offer's ResponseTopic (under the hub's own video/out/) with its
correlation data; expired, malformed and hub-side messages are dropped and never delivered."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.video import Candidate, EndReason, Hangup, Offer, Ringing, parse_signal
from sync.remote.protocol import Envelope, Topics
from sync.remote.signalling import Gate, MqttSignalling

TOPICS = Topics("hub-0001")
OFFER = Offer("call-0001", "v=0\r\n", "Oppfølgingssenteret")
CAND = Candidate("call-0001", "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "0", 0)


def test_an_offer_waits_for_its_video_start_and_its_candidates_follow_it() -> None:
    gate = Gate(hold_seconds=60)
    assert gate.arrive(CAND, now=0) == []  # a candidate may overtake the offer on the way
    assert gate.arrive(OFFER, now=1) == []
    assert gate.admit("call-0001", now=2) == [OFFER, CAND]  # the offer first: it makes the call
    assert gate.arrive(Hangup("call-0001", EndReason.CANCELLED), now=3) == [Hangup("call-0001", EndReason.CANCELLED)]


def test_a_video_start_may_come_first_and_lets_its_offer_through() -> None:
    gate = Gate(hold_seconds=60)
    assert gate.admit("call-0001", now=0) == []
    assert gate.arrive(OFFER, now=10) == [OFFER]
    assert gate.arrive(CAND, now=11) == [CAND]


def test_what_waited_longer_than_the_hold_time_is_gone() -> None:
    gate = Gate(hold_seconds=60)
    gate.arrive(OFFER, now=0)
    assert gate.admit("call-0001", now=61) == []  # the nurse's offer is stale: no ring
    gate = Gate(hold_seconds=60)
    gate.admit("call-0001", now=0)
    assert gate.arrive(OFFER, now=61) == []  # the centre's video-start gave up


def test_a_withdrawn_call_does_not_ring_when_its_offer_comes_late() -> None:
    gate = Gate(hold_seconds=60)
    gate.admit("call-0001", now=0)
    gate.withdraw("call-0001")
    assert gate.arrive(OFFER, now=1) == []


def test_a_flood_of_unstarted_calls_is_bounded() -> None:
    gate = Gate(hold_seconds=60)
    for n in range(1000):
        gate.arrive(Offer(f"call-{n:05d}", "v=0\r\n"), now=0)
        gate.arrive(Candidate("call-flood", "", None, None), now=0)
    assert len(gate._held) <= 8 and all(len(v) <= 64 for v in gate._held.values())


def envelope(**kw: object) -> Envelope:
    return Envelope(topic=TOPICS.signal_in, **kw)  # type: ignore[arg-type]


async def test_the_hubs_messages_go_to_the_offers_response_topic_with_its_correlation_data() -> None:
    sent: list[tuple[str, bytes, bytes | None, int]] = []
    sig = MqttSignalling()
    sig.bind(TOPICS, lambda *a: sent.append(a))
    sig.received(b'{"type":"offer","call_id":"call-0001","sdp":"v=0\\r\\n"}', envelope(response_topic="heima/hub-0001/video/out/w7", correlation=b"c1"))
    sig.admit("call-0001")
    assert await sig.receive() == Offer("call-0001", "v=0\r\n")
    await sig.send(Ringing("call-0001"))
    await sig.send(Ringing("call-0002"))  # a call the hub knows no route for: the default topic
    assert [(t, parse_signal(p), c, e) for t, p, c, e in sent] == [
        ("heima/hub-0001/video/out/w7", Ringing("call-0001"), b"c1", 60),
        ("heima/hub-0001/video/out/default", Ringing("call-0002"), None, 60),
    ]


@pytest.mark.parametrize("topic", ["heima/hub-0002/video/out/w7", "heima/hub-0001/reply/w7", "heima/hub-0001/video/out/#", None])
async def test_a_response_topic_outside_the_hubs_own_video_out_is_not_used(topic: str | None) -> None:
    sent: list[tuple[str, bytes, bytes | None, int]] = []
    sig = MqttSignalling()
    sig.bind(TOPICS, lambda *a: sent.append(a))
    sig.received(b'{"type":"offer","call_id":"call-0001","sdp":"v=0\\r\\n"}', envelope(response_topic=topic))
    await sig.send(Ringing("call-0001"))
    assert sent[0][0] == "heima/hub-0001/video/out/default"


async def test_expired_malformed_and_hub_side_messages_are_dropped_by_rule_not_content(caplog: pytest.LogCaptureFixture) -> None:
    sig = MqttSignalling()
    sig.bind(TOPICS, lambda *a: None)
    sig.admit("call-0001")
    caplog.set_level(logging.INFO)
    secret_sdp = "v=0\r\nc=IN IP4 198.51.100.23\r\n"
    sig.received(json.dumps({"type": "offer", "call_id": "call-0001", "sdp": secret_sdp}).encode(), envelope(message_expiry=0))
    sig.received(json.dumps({"type": "answer", "call_id": "call-0001", "sdp": secret_sdp}).encode(), envelope())
    sig.received(json.dumps({"type": "offer", "call_id": "call-0001", "sdp": secret_sdp, "x": 1}).encode(), envelope())
    sig.received(b"\xff" * 10, envelope())
    sig.received(b"{" * 200_000, envelope())
    assert sig.dropped == 5
    assert "198.51.100.23" not in caplog.text
    sig.close()
    with pytest.raises(EOFError):
        await sig.receive()  # nothing was delivered before the end


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_on_the_signalling_topic_never_raise_and_never_ring_a_hub_that_did_not_start_the_call(payload: bytes) -> None:
    async def run() -> None:
        sig = MqttSignalling()
        sig.bind(TOPICS, lambda *a: None)
        sig.received(payload, envelope())
        assert sig._queue.empty()

    asyncio.run(run())
