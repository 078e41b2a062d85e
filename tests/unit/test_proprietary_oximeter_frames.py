"""Proprietary oximeter frames (Nonin 3230, Jumper JPD-500F, BerryMed BM1000; drivers.frames), the
BerryMed stream reassembler and the stability rule: pure functions, byte fixtures and hypothesis.
The laws every frame codec shares are in test_vendor_frames_laws.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.devices import Advertisement, default_registry
from drivers.protocol.oximeter_stability import OximetrySample, StabilityRule, StabilityTracker
from drivers.devices.proprietary_oximeters import (
    BerryMedOximeterDriver,
    JumperOximeterDriver,
    LiveOximetry,
    Nonin3230Driver,
    berrymed_sample,
    jumper_sample,
    nonin_sample,
    stable_readings,
)
from drivers.frames import MalformedFrame
from drivers.frames.berrymed import BerryMedFrame, BerryMedStream, encode_berrymed_frame, parse_berrymed_frame
from drivers.frames.jumper import JumperPleth, JumperValues, encode_jumper_pleth, encode_jumper_values, parse_jumper_frame
from drivers.frames.nonin import NoninFrame, NoninStatus, encode_nonin_frame, parse_nonin_frame
from drivers.gatt import MalformedPacket
from drivers.gatt.plx import PLX_SERVICE_UUID
from hub.domain.readings import DeviceIdentity, MeasurementKind, QualityFlag
from tests.unit.frame_values import BERRYMED_FRAMES, JUMPER_VALUES, NONIN_FRAMES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def assert_no_values_in(error: MalformedPacket, *values: int) -> None:
    text = str(error)
    for value in values:
        assert str(value) not in text, f"{text!r} mentions a value"


# -- Nonin ----------------------------------------------------------------------------------------


def test_nonin_frame_bytes() -> None:
    # length 10, status 0x54 = sensor on finger + SmartPoint + encrypted, 3.0 V, PAI 5.00 %,
    # counter 7, SpO2 97, PR 64 (big-endian)
    frame = parse_nonin_frame(bytes.fromhex("0a 54 1e 01f4 0007 61 0040"))
    assert (frame.spo2, frame.pulse_rate, frame.counter) == (97, 64, 7)
    assert frame.battery_volts == 3.0 and frame.pulse_amplitude_index == 5.0
    status = frame.status
    assert status.sensor_connected and status.smartpoint and status.encrypted
    assert not (status.weak_signal or status.searching or status.low_battery)
    sample = nonin_sample(frame)
    assert sample == OximetrySample(97, 64, finger=True, signal_ok=True) and sample.good


def test_nonin_pulse_rate_is_16_bit_big_endian() -> None:
    assert parse_nonin_frame(bytes.fromhex("0a 10 1e 0000 0000 5a 0141")).pulse_rate == 321


def test_nonin_missing_markers_are_no_value() -> None:
    frame = parse_nonin_frame(bytes.fromhex("0a 00 1e 0000 0001 7f 01ff"))
    assert frame.spo2 is None and frame.pulse_rate is None
    sample = nonin_sample(frame)
    assert sample.finger is False and not sample.good


@pytest.mark.parametrize(
    ("hexdata", "problem"),
    [
        ("0a 10 1e 0000 0000 61", "at least 10"),
        ("0b 10 1e 0000 0000 61 0040", "length byte"),
        ("0a 10 1e 0000 0000 65 0040", "SpO2"),  # 101 %
        ("0a 10 1e 0000 0000 61 0142", "pulse rate"),  # 322 /min
        ("", "at least 10"),
    ],
)
def test_nonin_malformed_frames(hexdata: str, problem: str) -> None:
    with pytest.raises(MalformedFrame, match=problem) as failure:
        parse_nonin_frame(bytes.fromhex(hexdata))
    assert isinstance(failure.value, MalformedPacket) and isinstance(failure.value, ValueError)
    assert_no_values_in(failure.value, 101, 322, 97)


def test_nonin_weak_signal_or_searching_is_not_a_good_sample() -> None:
    for status in (NoninStatus.from_flags(sensor_connected=True, weak_signal=True), NoninStatus.from_flags(sensor_connected=True, searching=True)):
        frame = NoninFrame(status=status, battery_decivolts=30, pulse_amplitude_raw=10, counter=1, spo2=97, pulse_rate=64)
        sample = nonin_sample(parse_nonin_frame(encode_nonin_frame(frame)))
        assert sample.finger is True and not sample.signal_ok and not sample.good


@given(st.binary(max_size=24))
def test_nonin_arbitrary_bytes_parse_or_raise_never_invent(data: bytes) -> None:
    try:
        frame = parse_nonin_frame(data)
    except MalformedFrame:
        return
    assert len(data) >= 10 and data[0] == len(data)
    assert frame.spo2 == (None if data[7] == 127 else data[7])
    raw_pulse = int.from_bytes(data[8:10], "big")
    assert frame.pulse_rate == (None if raw_pulse == 511 else raw_pulse)
    assert frame.spo2 is None or 0 <= frame.spo2 <= 100
    assert frame.pulse_rate is None or 0 <= frame.pulse_rate <= 321


@given(NONIN_FRAMES)
def test_nonin_round_trip(frame: NoninFrame) -> None:
    assert parse_nonin_frame(encode_nonin_frame(frame)) == frame


# -- Jumper ---------------------------------------------------------------------------------------


def test_jumper_values_frame_bytes() -> None:
    values = parse_jumper_frame(bytes.fromhex("81 38 63 44"))
    assert values == JumperValues(pulse_rate=56, spo2=99, perfusion_index_raw=68)
    assert jumper_sample(values) == OximetrySample(99, 56, finger=None, signal_ok=True)


@pytest.mark.parametrize("data", ["81 ff 7f 00", "81 00 00 00", "81 ff ff ff"])
def test_jumper_no_finger_markers_are_no_value(data: str) -> None:
    values = parse_jumper_frame(bytes.fromhex(data))
    assert isinstance(values, JumperValues)
    assert values.spo2 is None and values.pulse_rate is None and values.perfusion_index_raw is None
    assert jumper_sample(values).finger is False


def test_jumper_one_missing_value_is_not_a_good_sample() -> None:
    values = parse_jumper_frame(bytes.fromhex("81 40 7f 10"))
    assert isinstance(values, JumperValues) and values.pulse_rate == 64 and values.spo2 is None
    sample = jumper_sample(values)
    assert sample.finger is None and not sample.good


def test_jumper_pleth_frames_carry_samples_only() -> None:
    assert parse_jumper_frame(bytes.fromhex("80 32 40 4a")) == JumperPleth((0x32, 0x40, 0x4A))
    assert parse_jumper_frame(encode_jumper_pleth(JumperPleth((7,)))) == JumperPleth((7,))


@pytest.mark.parametrize(
    ("hexdata", "problem"),
    [("", "empty"), ("80", "without samples"), ("82 40 61 10", "unknown frame type"), ("81 40 61", "at least 4"), ("81 40 65 10", "SpO2")],
)
def test_jumper_malformed_frames(hexdata: str, problem: str) -> None:
    with pytest.raises(MalformedFrame, match=problem) as failure:
        parse_jumper_frame(bytes.fromhex(hexdata))
    assert_no_values_in(failure.value, 101, 64)


@given(st.binary(max_size=20))
def test_jumper_arbitrary_bytes_parse_or_raise_never_invent(data: bytes) -> None:
    try:
        frame = parse_jumper_frame(data)
    except MalformedFrame:
        return
    if isinstance(frame, JumperPleth):
        assert data[0] == 0x80 and frame.samples == tuple(data[1:])
        return
    assert data[0] == 0x81
    assert frame.pulse_rate in (None, data[1]) and frame.spo2 in (None, data[2])
    assert frame.spo2 is None or 1 <= frame.spo2 <= 100
    assert frame.pulse_rate is None or 1 <= frame.pulse_rate <= 254


@given(JUMPER_VALUES)
def test_jumper_round_trip(values: JumperValues) -> None:
    assert parse_jumper_frame(encode_jumper_values(values)) == values


# -- BerryMed -------------------------------------------------------------------------------------


def test_berrymed_frame_bytes() -> None:
    # sync + signal strength 8; pleth 0x32; bar graph 5; PR 64; SpO2 97
    frame = parse_berrymed_frame(bytes.fromhex("88 32 05 40 61"))
    assert (frame.spo2, frame.pulse_rate, frame.pleth, frame.signal_strength, frame.bar_graph) == (97, 64, 0x32, 8, 5)
    assert not (frame.no_finger or frame.probe_unplugged or frame.pulse_searching)
    assert berrymed_sample(frame).good


def test_berrymed_pulse_rate_bit_7_lives_in_byte_2() -> None:
    frame = parse_berrymed_frame(bytes.fromhex("88 32 45 02 61"))  # b6 of byte 2 + 0x02 = 130
    assert frame.pulse_rate == 130


def test_berrymed_invalid_markers_and_no_finger() -> None:
    frame = parse_berrymed_frame(bytes.fromhex("80 00 50 7f 7f"))  # no finger, PR 255, SpO2 127
    assert frame.no_finger and frame.pulse_rate is None and frame.spo2 is None
    sample = berrymed_sample(frame)
    assert sample.finger is False and not sample.good
    unplugged = parse_berrymed_frame(bytes.fromhex("a0 00 00 40 61"))
    assert unplugged.probe_unplugged and berrymed_sample(unplugged).finger is False
    searching = parse_berrymed_frame(bytes.fromhex("88 32 25 40 61"))
    assert searching.pulse_searching and not berrymed_sample(searching).good


@pytest.mark.parametrize(
    ("hexdata", "problem"),
    [("88 32 05 40", "5 expected"), ("08 32 05 40 61", "lacks the sync bit"), ("88 b2 05 40 61", "sync bit inside"), ("88 32 05 40 65", "SpO2")],
)
def test_berrymed_malformed_frames(hexdata: str, problem: str) -> None:
    with pytest.raises(MalformedFrame, match=problem):
        parse_berrymed_frame(bytes.fromhex(hexdata))


@given(st.binary(min_size=0, max_size=7))
def test_berrymed_arbitrary_bytes_parse_or_raise_never_invent(data: bytes) -> None:
    try:
        frame = parse_berrymed_frame(data)
    except MalformedFrame:
        return
    assert len(data) == 5 and data[0] & 0x80 and not any(b & 0x80 for b in data[1:])
    assert frame.spo2 == (None if data[4] == 127 else data[4])
    pulse = data[3] | ((data[2] & 0x40) << 1)
    assert frame.pulse_rate == (None if pulse == 255 else pulse)


@given(BERRYMED_FRAMES)
def test_berrymed_round_trip(frame: BerryMedFrame) -> None:
    assert parse_berrymed_frame(encode_berrymed_frame(frame)) == frame


@given(st.lists(BERRYMED_FRAMES, min_size=1, max_size=12), st.lists(st.integers(1, 9), min_size=1, max_size=30))
def test_berrymed_stream_reassembles_frames_cut_anywhere(frames: list[BerryMedFrame], cuts: list[int]) -> None:
    data = b"".join(encode_berrymed_frame(f) for f in frames)
    stream, out, position, i = BerryMedStream(), [], 0, 0
    while position < len(data):
        size = cuts[i % len(cuts)]
        out += stream.feed(data[position : position + size])
        position, i = position + size, i + 1
    assert out == frames and stream.dropped_bytes == 0 and stream.lost == 0


@given(st.lists(BERRYMED_FRAMES, min_size=3, max_size=10), st.data())
def test_berrymed_stream_resynchronises_after_a_lost_byte(frames: list[BerryMedFrame], data: st.DataObject) -> None:
    wire = b"".join(encode_berrymed_frame(f) for f in frames)
    lost = data.draw(st.integers(0, len(wire) - 1))
    damaged_index = lost // 5
    stream = BerryMedStream()
    out = stream.feed(wire[:lost] + wire[lost + 1 :])
    # exactly the damaged frame is missing; every other frame arrives intact and in order
    assert out == frames[:damaged_index] + frames[damaged_index + 1 :]
    if damaged_index < len(frames) - 1:  # the last one just waits for bytes that never come
        assert stream.broken_frames + stream.dropped_bytes >= 1


def test_berrymed_stream_counts_leading_garbage_and_broken_frames() -> None:
    good = bytes.fromhex("88 32 05 40 61")
    stream = BerryMedStream()
    frames = stream.feed(bytes.fromhex("05 40 61") + good[:3] + good + good)
    assert len(frames) == 2
    assert stream.dropped_bytes == 3 + 3 and stream.broken_frames == 1


@given(st.binary(max_size=64))
def test_berrymed_stream_emits_only_frames_present_in_the_input(data: bytes) -> None:
    frames = BerryMedStream().feed(data)
    windows = {data[i : i + 5] for i in range(len(data) - 4)}
    for frame in frames:
        assert encode_berrymed_frame(frame) in windows


# -- stability ------------------------------------------------------------------------------------

RULE = StabilityRule(hold_seconds=5.0, min_samples=5, max_spo2_spread=2, max_pulse_spread=5, max_gap=2.0)


def feed(tracker: StabilityTracker, samples: list[tuple[float, OximetrySample]]):
    result = None
    for t, sample in samples:
        result = tracker.add(t, sample)
        if result is not None:
            return t, result
    return None


def good(spo2: int = 97, pulse: int = 64) -> OximetrySample:
    return OximetrySample(spo2, pulse, finger=True)


def test_stable_after_hold_seconds_with_lower_medians() -> None:
    values = [(97, 64), (96, 66), (98, 63), (97, 65), (96, 64), (97, 67)]
    found = feed(StabilityTracker(RULE), [(float(t), good(*v)) for t, v in enumerate(values)])
    assert found is not None
    at, value = found
    assert at == 5.0 and value.samples == 6 and value.seconds == 5.0
    assert (value.spo2, value.pulse_rate) == (97, 64)  # lower medians of what was sent
    assert "97" not in repr(value)  # values stay out of logs


def test_not_stable_before_hold_seconds_or_with_too_few_samples() -> None:
    tracker = StabilityTracker(RULE)
    assert feed(tracker, [(t * 1.0, good()) for t in range(5)]) is None  # 0..4 s
    sparse = StabilityTracker(StabilityRule(hold_seconds=5, min_samples=10, max_gap=3))
    assert feed(sparse, [(t * 2.0, good()) for t in range(6)]) is None


def test_finger_out_starts_over() -> None:
    tracker = StabilityTracker(RULE)
    samples = [(float(t), good()) for t in range(4)] + [(4.0, OximetrySample(None, None, finger=False))]
    samples += [(5.0 + t, good()) for t in range(5)]
    assert feed(tracker, samples) is None  # only 4 s since the finger came back
    assert tracker.add(10.0, good()) is not None


def test_bad_frames_are_tolerated_but_a_long_gap_starts_over() -> None:
    searching = OximetrySample(97, 64, finger=True, signal_ok=False)
    tolerated = [(0.0, good()), (1.0, good()), (1.5, searching), (2.0, good()), (3.0, good()), (4.0, good()), (5.0, good())]
    assert feed(StabilityTracker(RULE), tolerated) is not None
    gap = [(0.0, good()), (1.0, good()), (3.5, good()), (4.5, good()), (5.5, good()), (6.5, good())]
    assert feed(StabilityTracker(RULE), gap) is None  # 2.5 s without a good frame: run restarted at 3.5


def test_values_that_move_are_not_stable_until_they_settle() -> None:
    tracker = StabilityTracker(RULE)
    moving = [(float(t), good(88 + 2 * t, 64)) for t in range(6)]
    assert feed(tracker, moving) is None
    settled = [(6.0 + t, good(95, 64)) for t in range(6)]
    found = feed(tracker, settled)
    assert found is not None and found[1].spo2 == 95 and found[0] == 11.0


def test_zero_is_not_a_reading() -> None:
    assert not OximetrySample(0, 64).good and not OximetrySample(97, 0).good
    assert OximetrySample(97, 64).good  # finger unknown (None) is allowed


@given(
    st.lists(
        st.tuples(st.floats(0.0, 0.5), st.none() | st.integers(0, 100), st.none() | st.integers(0, 300), st.sampled_from([True, False, None]), st.booleans()),
        max_size=80,
    )
)
def test_a_stable_value_is_always_one_the_device_sent(steps) -> None:
    tracker = StabilityTracker(StabilityRule(hold_seconds=1.0, min_samples=2, max_spo2_spread=100, max_pulse_spread=300))
    t, sent = 0.0, []
    for dt, spo2, pulse, finger, signal_ok in steps:
        t += dt
        sample = OximetrySample(spo2, pulse, finger=finger, signal_ok=signal_ok)
        if sample.good:
            sent.append((spo2, pulse))
        value = tracker.add(t, sample)
        if value is not None:
            assert value.spo2 in {s for s, _ in sent} and value.pulse_rate in {p for _, p in sent}
            assert value.spo2 > 0 and value.pulse_rate > 0


def test_stability_rule_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        StabilityRule(hold_seconds=0)
    with pytest.raises(ValueError):
        StabilityRule(min_samples=0)
    with pytest.raises(ValueError):
        StabilityRule(max_spo2_spread=-1)


def test_stable_readings_are_one_spo2_pulse_pair() -> None:
    value = feed(StabilityTracker(RULE), [(float(t), good()) for t in range(6)])
    assert value is not None
    device = DeviceIdentity(address="F0:11:22:33:44:60", name="BerryMed")
    spo2, pulse = stable_readings(value[1], device=device, received_at=NOW, flags={QualityFlag.BATTERY_LOW})
    assert (spo2.kind, spo2.value, spo2.unit) == (MeasurementKind.OXYGEN_SATURATION, 97.0, "%")
    assert (pulse.kind, pulse.value, pulse.unit) == (MeasurementKind.PULSE_RATE, 64.0, "/min")
    for reading in (spo2, pulse):
        assert reading.device == device and reading.received_at == NOW and reading.device_time is None
        assert reading.flags == {QualityFlag.BATTERY_LOW} and reading.record_id is None


def test_live_values_stay_out_of_repr() -> None:
    live = LiveOximetry(address="F0:11:22:33:44:60", spo2=93, pulse_rate=117, finger=True, signal_ok=True, progress=0.5)
    assert "93" not in repr(live) and "117" not in repr(live)


# -- matchers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("BerryMed", True),
        ("BerryMed\x00\x00\x00\x00\x00\x00\x00\x00", True),
        ("BerryMed  ", True),
        ("BM1000C\x00\x00", True),
        ("BerryMedX", False),
        ("Berry", False),
        (None, False),
    ],
)
def test_berrymed_matcher_accepts_nul_padded_names(name: str | None, matches: bool) -> None:
    advertisement = Advertisement(address="F0:11:22:33:44:60", name=name)
    assert BerryMedOximeterDriver().matches(advertisement) is matches
    winner = default_registry().match(advertisement)
    assert (winner is not None and winner.name == "berrymed-bm1000") is matches


def test_nonin_wins_over_the_standard_plx_driver() -> None:
    registry = default_registry()
    nonin = Advertisement(address="F0:11:22:33:44:30", name="Nonin3230_502201234", service_uuids=frozenset({PLX_SERVICE_UUID}))
    assert isinstance(registry.match(nonin), Nonin3230Driver)
    other = Advertisement(address="F0:11:22:33:44:31", name="Masimo MightySat", service_uuids=frozenset({PLX_SERVICE_UUID}))
    assert registry.match(other).name == "plx-standard"  # type: ignore[union-attr]


def test_jumper_matched_by_its_service_uuid() -> None:
    advertisement = Advertisement(address="F0:11:22:33:44:50", name="JPD-500F", service_uuids=frozenset({"cdeacb80-5235-4c07-8846-93a37ee6b86d"}))
    assert isinstance(default_registry().match(advertisement), JumperOximeterDriver)
