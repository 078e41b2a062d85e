"""Laws every vendor frame codec in drivers.frames obeys — the same laws as the SIG codecs
(tests/unit/gatt/test_codec_laws.py), checked for Nonin 3230, Jumper JPD-500F and BerryMed BM1000:

* any bytes give the frame or `MalformedFrame` naming the frame, with a message free of values;
* whatever the emulator encodes parses back to the same value, over the whole value space;
* an encoder refuses (`ValueError`) what its parser could never return, instead of sending bytes
  that would read back as something else (a wrapped byte, a value that is a "no value" marker);
* a fixed-length frame cut short by any number of bytes is malformed;
* anything but bytes is a caller's bug (`TypeError`), never a malformed frame.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.frames import MalformedFrame
from drivers.frames.berrymed import BerryMedFrame, encode_berrymed_frame, parse_berrymed_frame
from drivers.frames.jumper import JumperPleth, JumperValues, encode_jumper_frame, parse_jumper_frame
from drivers.frames.nonin import NoninFrame, NoninStatus, encode_nonin_frame, parse_nonin_frame
from tests.unit.codec_laws import assert_round_trip, malformed_when_cut_short
from tests.unit.frame_values import BERRYMED_FRAMES, JUMPER_FRAMES, JUMPER_VALUES, NONIN_FRAMES

# Wider than the layouts allow: the encoder must refuse what does not fit, not wrap it.
_ANY = st.none() | st.integers(-3, 600)
_ANY_INT = st.integers(-3, 70000)
NONIN_ANYTHING = st.builds(
    NoninFrame,
    status=st.builds(NoninStatus, _ANY_INT),
    battery_decivolts=_ANY_INT,
    pulse_amplitude_raw=_ANY_INT,
    counter=_ANY_INT,
    spo2=_ANY,
    pulse_rate=_ANY,
)
JUMPER_ANYTHING = st.builds(JumperValues, pulse_rate=_ANY, spo2=_ANY, perfusion_index_raw=_ANY) | st.builds(
    JumperPleth, st.lists(st.integers(-3, 300), max_size=5).map(tuple)
)
BERRYMED_ANYTHING = st.builds(
    BerryMedFrame,
    signal_strength=st.integers(-1, 20),
    probe_unplugged=st.booleans(),
    pulse_beep=st.booleans(),
    pleth=st.integers(-1, 300),
    bar_graph=st.integers(-1, 20),
    no_finger=st.booleans(),
    pulse_searching=st.booleans(),
    pulse_rate=_ANY,
    spo2=_ANY,
)

CODECS = [
    pytest.param(parse_nonin_frame, encode_nonin_frame, NONIN_FRAMES, NONIN_ANYTHING, id="nonin"),
    pytest.param(parse_jumper_frame, encode_jumper_frame, JUMPER_FRAMES, JUMPER_ANYTHING, id="jumper"),
    pytest.param(parse_berrymed_frame, encode_berrymed_frame, BERRYMED_FRAMES, BERRYMED_ANYTHING, id="berrymed"),
]
FRAME_NAMES = {"Nonin continuous oximetry frame", "Jumper oximeter frame", "BerryMed oximeter frame"}

# Every problem a parser may report, with numbers blanked out: none of them can carry a value.
KNOWN_PROBLEMS = {
    # Nonin
    "# bytes, at least # expected",
    "length byte # but # bytes received",
    "SpO# outside #..# and not the missing marker",
    "pulse rate outside #..# and not the missing marker",
    # Jumper
    "empty notification",
    "pleth frame without samples",
    "unknown frame type #x##",
    "values frame of # bytes, at least # expected",
    "SpO# above # and not a no-value marker",
    # BerryMed
    "# bytes, # expected",
    "first byte lacks the sync bit",
    "sync bit inside the frame (a byte was lost)",
    "SpO# outside #..# and not the invalid marker",
}


def assert_known_problem(problem: MalformedFrame) -> None:
    assert problem.characteristic in FRAME_NAMES
    blanked = re.sub(r"\d+", "#", re.sub(r"0x[0-9A-F]{2}", "0x##", problem.problem))
    assert blanked in KNOWN_PROBLEMS, problem.problem


@pytest.mark.parametrize(("parse", "encode", "values", "anything"), CODECS)
@settings(max_examples=150)
@given(data=st.binary(max_size=24))
def test_any_bytes_give_the_frame_or_malformed_frame_with_a_value_free_message(parse, encode, values, anything, data):
    try:
        parse(data)
    except MalformedFrame as problem:
        assert_known_problem(problem)


@pytest.mark.parametrize(("parse", "encode", "values", "anything"), CODECS)
@settings(max_examples=150)
@given(data=st.data())
def test_whatever_the_emulator_encodes_parses_back_to_the_same_value(parse, encode, values, anything, data):
    assert_round_trip(parse, encode, data.draw(values))


@pytest.mark.parametrize(("parse", "encode", "values", "anything"), CODECS)
@settings(max_examples=150)
@given(data=st.data())
def test_an_encoder_refuses_what_would_not_read_back_as_itself(parse, encode, values, anything, data):
    value = data.draw(anything)
    try:
        encoded = encode(value)
    except ValueError:
        return
    assert parse(encoded) == value


@pytest.mark.parametrize(
    ("parse", "encode", "frames"),
    [
        pytest.param(parse_nonin_frame, encode_nonin_frame, NONIN_FRAMES, id="nonin"),
        pytest.param(parse_jumper_frame, encode_jumper_frame, JUMPER_VALUES, id="jumper-values"),
        pytest.param(parse_berrymed_frame, encode_berrymed_frame, BERRYMED_FRAMES, id="berrymed"),
    ],
)
@settings(max_examples=60)
@given(data=st.data())
def test_a_fixed_length_frame_cut_short_by_any_number_of_bytes_is_malformed(parse, encode, frames, data):
    problem = malformed_when_cut_short(parse, encode(data.draw(frames)), data)
    assert isinstance(problem, MalformedFrame)
    assert_known_problem(problem)


@pytest.mark.parametrize(("parse", "encode", "values", "anything"), CODECS)
@pytest.mark.parametrize("not_bytes", [None, "0a", 10, [10, 0]])
def test_anything_but_bytes_is_a_callers_bug(parse, encode, values, anything, not_bytes):
    with pytest.raises(TypeError):
        parse(not_bytes)
