"""Body Composition Service codecs, and joining a record the scale split over two indications."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.body_composition import (
    BODY_COMPOSITION_FEATURE_UUID,
    BODY_COMPOSITION_MEASUREMENT_UUID,
    BODY_COMPOSITION_SERVICE_UUID,
    BodyCompositionAssembler,
    BodyCompositionMeasurement,
    encode_body_composition_measurement,
    encode_body_composition_packets,
    parse_body_composition_measurement,
)
from drivers.gatt.weight import HEIGHT_STEP, MASS_STEP, scaled
from tests.unit.gatt.test_codec_laws import assert_known_problem

MEASUREMENT = "Body Composition Measurement"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- fixtures as a scale sends them --------------------------------------------------------------

# flags 0606 (timestamp, user, impedance, weight). Body fat 224 × 0.1 = 22.4 %,
# 2026-11-20 07:30:00, user 1, impedance 5123 × 0.1 = 512.3 Ω, weight 14470 × 0.005 = 72.35 kg
SINGLE = packet("0606 E000 EA070B14071E00 01 0314 8638")

# A full record split at ATT_MTU 23 (20-byte packets). Both halves: bit 12, body fat 22.4 %.
# First, flags 107E: timestamp, user 1, basal metabolism 6400 kJ, muscle 38.5 %, muscle mass
# 52.3 kg, fat-free mass 56.15 kg.
FIRST_HALF = packet("7E10 E000 EA070B14071E00 01 0019 8101 DC28 DE2B")
# Second, flags 1F80: soft lean mass 53.0 kg, body water 40.1 kg, impedance 512.3 Ω,
# weight 72.35 kg, height 1.746 m.
SECOND_HALF = packet("801F E000 6829 541F 0314 8638 D206")

WHOLE = BodyCompositionMeasurement(
    body_fat_percentage=22.4,
    timestamp=datetime(2026, 11, 20, 7, 30, 0),
    user_id=1,
    basal_metabolism=6400,
    muscle_percentage=38.5,
    muscle_mass=52.3,
    fat_free_mass=56.15,
    soft_lean_mass=53.0,
    body_water_mass=40.1,
    impedance=512.3,
    weight=72.35,
    height=1.746,
)


def test_uuids_are_full_lowercase_128_bit_strings_as_bleak_reports_them() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert BODY_COMPOSITION_SERVICE_UUID == "0000181b" + base
    assert BODY_COMPOSITION_FEATURE_UUID == "00002a9b" + base
    assert BODY_COMPOSITION_MEASUREMENT_UUID == "00002a9c" + base


def test_a_record_in_one_packet() -> None:
    reading = parse_body_composition_measurement(SINGLE)

    assert reading.body_fat_percentage == 22.4
    assert reading.timestamp == datetime(2026, 11, 20, 7, 30, 0)
    assert reading.user_id == 1
    assert reading.impedance == 512.3
    assert reading.weight == 72.35 and reading.weight_kg == 72.35
    assert reading.basal_metabolism is None and reading.height is None
    assert not reading.multiple_packet and not reading.unsuccessful
    assert encode_body_composition_measurement(reading) == SINGLE
    assert encode_body_composition_packets(reading) == (SINGLE,)


def test_imperial_masses_are_in_pounds_and_height_in_inches() -> None:
    # flags 0C01: imperial, weight, height. 15950 × 0.01 lb, 690 × 0.1 in
    reading = parse_body_composition_measurement(packet("010C E000 4E3E B202"))

    assert reading.imperial
    assert (reading.weight, reading.height) == (159.5, 69.0)
    assert reading.weight_kg == pytest.approx(72.348, abs=0.001)
    assert reading.height_m == pytest.approx(1.7526)


def test_an_unsuccessful_measurement_has_no_body_fat_never_6553_percent() -> None:
    reading = parse_body_composition_measurement(packet("0000 FFFF"))

    assert reading.unsuccessful and reading.body_fat_percentage is None
    assert encode_body_composition_measurement(reading) == packet("0000 FFFF")


def test_each_half_parses_on_its_own_and_says_it_is_a_half() -> None:
    first = parse_body_composition_measurement(FIRST_HALF)
    second = parse_body_composition_measurement(SECOND_HALF)

    assert first.multiple_packet and second.multiple_packet
    assert first.fat_free_mass == 56.15 and first.weight is None
    assert second.weight == 72.35 and second.timestamp is None


def test_the_assembler_joins_two_halves_into_one_whole_record() -> None:
    assembler = BodyCompositionAssembler()

    assert assembler.feed(FIRST_HALF) is None
    assert assembler.pending
    assert assembler.feed(SECOND_HALF) == WHOLE
    assert not assembler.pending
    assembler.finish()  # nothing pending: no error


def test_the_emulator_splits_a_full_record_the_same_way() -> None:
    assert encode_body_composition_packets(WHOLE) == (FIRST_HALF, SECOND_HALF)
    assert len(encode_body_composition_measurement(WHOLE)) == 30  # too big for one 20-byte packet


def test_single_packet_records_pass_straight_through_the_assembler() -> None:
    assembler = BodyCompositionAssembler()

    assert assembler.feed(SINGLE) == parse_body_composition_measurement(SINGLE)
    assert assembler.feed(SINGLE) == parse_body_composition_measurement(SINGLE)


def test_a_lone_half_followed_by_a_new_record_is_dropped_and_the_new_record_is_not_lost() -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(FIRST_HALF)

    with pytest.raises(MalformedPacket) as caught:
        assembler.feed(SINGLE)
    assert caught.value.characteristic == MEASUREMENT
    assert not assembler.pending
    assert assembler.feed(SINGLE) == parse_body_composition_measurement(SINGLE)  # fed again, as documented


def test_a_lone_half_followed_by_the_first_half_of_another_record() -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(FIRST_HALF)

    with pytest.raises(MalformedPacket):
        assembler.feed(FIRST_HALF)  # the same fields again: the start of a new record
    assert assembler.feed(FIRST_HALF) is None  # fed again: now the pending half
    assert assembler.feed(SECOND_HALF) == WHOLE


@pytest.mark.parametrize(
    "second",
    [
        packet("801F E100 6829 541F 0314 8638 D206"),  # body fat differs from the first half
        packet("811F E000 6829 541F 4E3E 4E3E B202"),  # imperial while the first half is SI
        packet("201F E000 DC28 541F 0314 8638 D206"),  # muscle mass again: not after the first's fields
        packet("0010 E000"),  # no fields at all
    ],
)
def test_a_second_packet_that_cannot_complete_the_first_is_refused(second: bytes) -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(FIRST_HALF)

    with pytest.raises(MalformedPacket):
        assembler.feed(second)
    assert not assembler.pending


def test_a_transfer_ending_with_a_half_pending_is_an_error_and_drops_it() -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(FIRST_HALF)

    with pytest.raises(MalformedPacket) as caught:
        assembler.finish()
    assert caught.value.characteristic == MEASUREMENT
    assert not assembler.pending
    assembler.finish()


def test_a_malformed_packet_leaves_the_assembler_empty() -> None:
    assembler = BodyCompositionAssembler()
    assembler.feed(FIRST_HALF)

    with pytest.raises(MalformedPacket):
        assembler.feed(SECOND_HALF[:-1])
    assert not assembler.pending


def test_reserved_flag_bits_are_ignored() -> None:
    assert parse_body_composition_measurement(packet("00E0 E000")) == BodyCompositionMeasurement(22.4)


def test_a_hand_built_measurement_must_be_consistent() -> None:
    with pytest.raises(ValueError):
        BodyCompositionMeasurement(22.4, unsuccessful=True)
    assert BodyCompositionMeasurement(None).unsuccessful


def test_a_record_too_big_for_two_packets_is_refused_by_the_emulator() -> None:
    with pytest.raises(ValueError):
        encode_body_composition_packets(WHOLE, max_size=12)


# --- malformed packets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "too short for its flags field"),
        (packet("00"), "too short for its flags field"),
        (packet("0000 E0"), "too short for the fields its flags promise"),
        (packet("0200 E000"), "too short for the fields its flags promise"),  # timestamp promised
        (packet("0008 E000"), "too short for the fields its flags promise"),  # height promised
        (SINGLE + b"\x00", "1 trailing byte(s)"),
    ],
)
def test_a_packet_that_does_not_match_its_flags_is_malformed(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_body_composition_measurement(data)
    assert caught.value.characteristic == MEASUREMENT
    assert caught.value.problem.startswith(problem)


def test_an_impossible_timestamp_is_malformed() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_body_composition_measurement(packet("0200 E000 EA070B14181E00"))  # hour 24
    assert str(caught.value) == "Body Composition Measurement: date time fields out of range"


# --- properties ---------------------------------------------------------------------------------

timestamps = st.none() | st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda t: t.replace(microsecond=0))
raw16 = st.none() | st.integers(0, 0xFFFF)


@st.composite
def measurements(draw: st.DrawFn, whole: bool = False) -> BodyCompositionMeasurement:
    imperial = draw(st.booleans())

    def mass() -> float | None:
        raw = draw(raw16)
        return None if raw is None else scaled(raw, MASS_STEP[imperial])

    def tenth() -> float | None:
        raw = draw(raw16)
        return None if raw is None else raw / 10

    raw_fat = draw(st.none() | st.integers(0, 0xFFFE))
    raw_height = draw(raw16)
    return BodyCompositionMeasurement(
        body_fat_percentage=None if raw_fat is None else raw_fat / 10,
        imperial=imperial,
        timestamp=draw(timestamps),
        timestamp_present=draw(st.booleans()),
        user_id=draw(st.none() | st.integers(0, 255)),
        basal_metabolism=draw(raw16),
        muscle_percentage=tenth(),
        muscle_mass=mass(),
        fat_free_mass=mass(),
        soft_lean_mass=mass(),
        body_water_mass=mass(),
        impedance=tenth(),
        weight=mass(),
        height=None if raw_height is None else scaled(raw_height, HEIGHT_STEP[imperial]),
        multiple_packet=False if whole else draw(st.booleans()),
    )


SPLIT_RECORD_PROBLEMS = frozenset(  # besides the codecs' common ones
    {"first packet of a split record not followed by its second; dropped", "split record ended after its first packet; dropped"}
)


def assert_value_free(problem: MalformedPacket) -> None:
    assert problem.characteristic == MEASUREMENT
    assert_known_problem(problem, SPLIT_RECORD_PROBLEMS)


@settings(max_examples=150)
@given(data=st.binary(max_size=36))
def test_any_bytes_give_the_dataclass_or_malformed_packet_with_a_value_free_message(data: bytes) -> None:
    try:
        parse_body_composition_measurement(data)
    except MalformedPacket as problem:
        assert_value_free(problem)


@settings(max_examples=100)
@given(packets=st.lists(st.binary(min_size=2, max_size=30), max_size=6))
def test_the_assembler_on_any_packet_sequence_returns_records_or_raises_malformed_packet(packets) -> None:
    assembler = BodyCompositionAssembler()
    for data in packets:
        try:
            result = assembler.feed(data)
        except MalformedPacket as problem:
            assert_value_free(problem)
            assert not assembler.pending
        else:
            assert result is None or not result.multiple_packet
            assert (result is None) == assembler.pending
    try:
        assembler.finish()
    except MalformedPacket as problem:
        assert_value_free(problem)
    assert not assembler.pending


@settings(max_examples=100)
@given(measurements())
def test_whatever_the_emulator_encodes_parses_back_to_the_same_value(measurement) -> None:
    assert parse_body_composition_measurement(encode_body_composition_measurement(measurement)) == measurement


@settings(max_examples=100)
@given(measurements(whole=True))
def test_any_record_split_by_the_emulator_is_joined_back_by_the_assembler(measurement) -> None:
    assembler = BodyCompositionAssembler()
    packets = encode_body_composition_packets(measurement)

    assert all(len(p) <= 20 for p in packets)
    results = [assembler.feed(p) for p in packets]
    assert results[-1] == measurement
    assert all(r is None for r in results[:-1])
    assembler.finish()


@settings(max_examples=60)
@given(measurement=measurements(), data=st.data())
def test_packets_of_the_right_length_with_any_field_contents_never_crash(measurement, data) -> None:
    valid = encode_body_composition_measurement(measurement)
    scrambled = valid[:2] + data.draw(st.binary(min_size=len(valid) - 2, max_size=len(valid) - 2))
    try:
        parse_body_composition_measurement(scrambled)
    except MalformedPacket as problem:
        assert_value_free(problem)


@settings(max_examples=60)
@given(measurement=measurements(), data=st.data())
def test_a_packet_cut_short_by_any_number_of_bytes_is_malformed(measurement, data) -> None:
    valid = encode_body_composition_measurement(measurement)
    cut = data.draw(st.integers(1, len(valid)))
    with pytest.raises(MalformedPacket):
        parse_body_composition_measurement(valid[:-cut])


@settings(max_examples=60)
@given(flags=st.integers(0, 0xFFFF))
def test_flags_promising_fields_that_are_absent_are_malformed(flags: int) -> None:
    data = flags.to_bytes(2, "little") + packet("E000")
    if flags & 0x0FFE:
        with pytest.raises(MalformedPacket):
            parse_body_composition_measurement(data)
    else:
        assert parse_body_composition_measurement(data).body_fat_percentage == 22.4
