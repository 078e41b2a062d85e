"""Laws every Bluetooth SIG codec in drivers.gatt obeys, checked for each characteristic's codec.

Each test module lists its codecs in `CODECS` as (parse, encode, values strategy, flags size); the
laws are the same for all of them:
* any bytes give the dataclass or `MalformedPacket` with a message free of values;
* a packet of the right length with any field contents never crashes a parser (this reaches the
  field decoders — bad dates, any SFLOAT, any status — that random bytes rarely do);
* whatever the emulator encodes parses back to the same value;
* a packet cut short by any number of bytes is malformed.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from tests.unit.gatt.test_blood_pressure import CODECS as BLOOD_PRESSURE
from tests.unit.gatt.test_glucose import CODECS as GLUCOSE
from tests.unit.gatt.test_plx import CODECS as PLX
from tests.unit.gatt.test_weight import CODECS as WEIGHT
from tests.unit.codec_laws import assert_round_trip, malformed_when_cut_short


def _named(prefix: str, codecs: list) -> list:
    return [pytest.param(*p.values, id=f"{prefix}-{p.id}") for p in codecs]


CODECS = [
    *_named("plx", PLX),
    *_named("blood-pressure", BLOOD_PRESSURE),
    *_named("weight", WEIGHT),
    *_named("glucose", GLUCOSE),
]

# Every problem a parser may report, with numbers (lengths, the allowed year range) blanked out.
KNOWN_PROBLEMS = {
    "too short for its flags field",
    "too short for the fields its flags promise (needs # bytes, got #)",
    "# trailing byte(s) after the fields its flags promise",
    "date time fields out of range",
    "year outside #..#",
}


def assert_known_problem(problem: MalformedPacket, also: frozenset[str] = frozenset()) -> None:
    """The problem is one a parser may report (numbers aside): its message carries no values."""
    assert re.sub(r"\d+", "#", problem.problem) in KNOWN_PROBLEMS | also


def assert_parses_or_is_malformed(parse, data: bytes, *, also: frozenset[str] = frozenset()) -> None:
    try:
        parse(data)
    except MalformedPacket as problem:
        assert_known_problem(problem, also)


@pytest.mark.parametrize(("parse", "encode", "values", "flags_size"), CODECS)
@settings(max_examples=100)
@given(data=st.binary(max_size=40))
def test_any_bytes_give_the_dataclass_or_malformed_packet_with_a_value_free_message(parse, encode, values, flags_size, data):
    assert_parses_or_is_malformed(parse, data)


@pytest.mark.parametrize(("parse", "encode", "values", "flags_size"), CODECS)
@settings(max_examples=60)
@given(data=st.data())
def test_packets_of_the_right_length_with_any_field_contents_never_crash(parse, encode, values, flags_size, data):
    valid = encode(data.draw(values))
    rest = len(valid) - flags_size
    assert_parses_or_is_malformed(parse, valid[:flags_size] + data.draw(st.binary(min_size=rest, max_size=rest)))


@pytest.mark.parametrize(("parse", "encode", "values", "flags_size"), CODECS)
@settings(max_examples=100)
@given(data=st.data())
def test_whatever_the_emulator_encodes_parses_back_to_the_same_value(parse, encode, values, flags_size, data):
    assert_round_trip(parse, encode, data.draw(values))


@pytest.mark.parametrize(("parse", "encode", "values", "flags_size"), CODECS)
@settings(max_examples=60)
@given(data=st.data())
def test_a_packet_cut_short_by_any_number_of_bytes_is_malformed(parse, encode, values, flags_size, data):
    malformed_when_cut_short(parse, encode(data.draw(values)), data)
