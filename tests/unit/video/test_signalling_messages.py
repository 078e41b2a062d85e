"""Signalling and data-channel messages (hub/domain/video.py): what a nurse's end may send the
hub, parsed strictly. Hypothesis: every message survives JSON and back; any other input is a
SignallingError, never another exception, and its text never echoes what the message carried."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind
from hub.domain.video import (
    Answer,
    Candidate,
    EndReason,
    Hangup,
    MeasureRequest,
    Offer,
    Ringing,
    SharedComponent,
    SharedMeasurement,
    SignallingError,
    VideoSettings,
    data_json,
    parse_data,
    parse_signal,
    parse_video_settings,
    signal_json,
)

call_ids = st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z")
printable = st.text(st.characters(min_codepoint=0x20, blacklist_characters="\x7f", blacklist_categories=("Cs",)), max_size=80)
sdps = st.text(max_size=400).map(lambda s: "v=0\r\n" + s)
candidates = st.one_of(st.just(""), printable.map(lambda s: ("candidate:" + s)[:2048]))
signals = st.one_of(
    st.builds(Offer, call_ids, sdps, st.none() | printable.filter(bool)),
    st.builds(Ringing, call_ids),
    st.builds(Answer, call_ids, sdps),
    st.builds(Candidate, call_ids, candidates, st.none() | printable.map(lambda s: s[:64]), st.none() | st.integers(0, 63)),
    st.builds(Hangup, call_ids, st.sampled_from(EndReason)),
)
values = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32).map(float)
units = printable.map(lambda s: s[:32]).filter(bool)
datas = st.one_of(
    st.builds(MeasureRequest, st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"), st.sampled_from(DeviceFamily)),
    st.builds(
        SharedMeasurement,
        st.none() | st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
        st.uuids().map(str),
        st.sampled_from(MeasurementKind),
        values,
        units,
        st.lists(st.builds(SharedComponent, st.sampled_from(MeasurementKind), values, units), max_size=3).map(tuple),
    ),
)


@given(signals)
def test_every_signalling_message_survives_json_and_back(message):
    assert parse_signal(signal_json(message)) == message


@given(datas)
def test_every_data_channel_message_survives_json_and_back(message):
    assert parse_data(data_json(message)) == message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
near_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["offer", "ringing", "answer", "candidate", "hangup", "measure-request", "measurement", "x"])},
    optional={
        "call_id": json_values | call_ids,
        "sdp": json_values | sdps,
        "candidate": json_values | candidates,
        "reason": json_values | st.sampled_from([r.value for r in EndReason]),
        "sdp_mline_index": json_values,
        "request_id": json_values,
        "family": json_values | st.sampled_from([f.value for f in DeviceFamily]),
        "id": json_values,
        "kind": json_values,
        "value": json_values,
        "unit": json_values,
        "components": json_values,
        "secret": json_values,
    },
)


@given(st.one_of(near_messages.map(json.dumps), json_values.map(json.dumps), st.text(max_size=200), st.binary(max_size=200)))
def test_anything_else_is_refused_with_a_signalling_error_only(raw):
    for parse in (parse_signal, parse_data):
        try:
            parse(raw)
        except SignallingError:
            pass


def test_a_refusal_says_what_is_wrong_without_echoing_the_message():
    secret = "12345678901"  # shaped like a fødselsnummer
    cases = [
        {"type": "offer", "call_id": "call-0001", "sdp": "v=0", "patient": secret},
        {"type": "offer", "call_id": secret + "/../x", "sdp": "v=0"},
        {"type": "offer", "call_id": "call-0001", "sdp": secret},
        {"type": "hangup", "call_id": "call-0001", "reason": secret},
        {"type": secret},
    ]
    for case in cases:
        with pytest.raises(SignallingError) as err:
            parse_signal(json.dumps(case))
        assert secret not in str(err.value)
    with pytest.raises(SignallingError, match="unknown field"):
        parse_signal(json.dumps(cases[0]))
    with pytest.raises(SignallingError, match="longer than"):
        parse_signal(json.dumps({"type": "offer", "call_id": "call-0001", "sdp": "v=0" + "x" * 200_000}))
    with pytest.raises(SignallingError, match="not JSON"):
        parse_signal('{"type": "ringing", "call_id": NaN}')
    with pytest.raises(SignallingError, match="family must be one of"):
        parse_data(json.dumps({"type": "measure-request", "request_id": "r1", "family": "x-ray"}))


def test_video_settings_have_no_public_ice_default_and_refuse_what_is_not_ice():
    assert parse_video_settings({}) == VideoSettings()
    assert VideoSettings().ice_servers == ()  # never a public STUN server by default
    turn = parse_video_settings({"ice_servers": [{"urls": "turns:turn.centre.example:5349", "username": "hub", "credential": "k"}]})
    assert turn.ice_servers[0].urls == ("turns:turn.centre.example:5349",)
    with pytest.raises(ValueError, match="must begin stun"):
        parse_video_settings({"ice_servers": [{"urls": ["https://turn.example"]}]})
    with pytest.raises(ValueError, match="ring_seconds"):
        parse_video_settings({"ring_seconds": 1})
    with pytest.raises(ValueError, match="unknown key"):
        parse_video_settings({"stun": "stun:stun.l.google.com:19302"})
