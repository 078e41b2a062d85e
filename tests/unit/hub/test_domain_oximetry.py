"""Continuous oximetry, pure: a stream of points becomes chunks and one summary, nothing lost."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.oximetry import (
    OximetryPoint,
    OximetryRecorder,
    SampledSeries,
    decode_values,
    encode_values,
    series_readings,
    summary_reading,
)
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind

NIGHT = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)  # on the 10-minute grid
RING = DeviceIdentity(address="AA:BB:CC:00:00:01", serial="RING-1")


def feed(recorder: OximetryRecorder, start: datetime, spo2: list[float | None], pulse: float = 60.0, step: float = 1.0):
    chunks = []
    for i, value in enumerate(spo2):
        chunks += recorder.add(OximetryPoint(start + timedelta(seconds=i * step), value, pulse, RING))
    return chunks


def test_a_night_of_1_hz_samples_becomes_48_chunks_and_one_summary_not_28800_values():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    chunks = feed(recorder, NIGHT, [95.0] * (8 * 3600))
    last, summary = recorder.close()
    chunks += last
    assert len(chunks) == 48
    assert all(len(spo2.values) == 600 for spo2, _ in chunks)
    assert [spo2.start for spo2, _ in chunks] == [NIGHT + timedelta(minutes=10 * i) for i in range(48)]
    assert summary is not None
    assert summary.start == NIGHT and summary.end == NIGHT + timedelta(hours=8)
    assert summary.valid_minutes == 480 and summary.spo2_mean == 95.0


def test_the_summary_gives_lowest_mean_and_the_time_below_90_percent():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    # 10 min at 94 %, 3 min at 86 %, 2 min without a finger, 5 min at 92 %
    values = [94.0] * 600 + [86.0] * 180 + [None] * 120 + [92.0] * 300
    feed(recorder, NIGHT, values)
    _, summary = recorder.close()
    assert summary.spo2_lowest == 86.0
    assert summary.minutes_below_limit == 3.0
    assert summary.valid_minutes == 18.0  # the two minutes without a finger are not counted
    assert summary.spo2_mean == pytest.approx((94 * 600 + 86 * 180 + 92 * 300) / 1080)


def test_a_stream_entering_late_and_leaving_early_covers_only_what_was_recorded():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    start = NIGHT + timedelta(minutes=5, seconds=3)
    chunks = feed(recorder, start, [97.0] * 100)
    last, _ = recorder.close()
    (spo2, pulse), = chunks + last
    assert spo2.start == start and len(spo2.values) == 100 and spo2.end == start + timedelta(seconds=100)
    assert pulse.start == start and len(pulse.values) == 100


def test_lost_notifications_leave_empty_slots_never_a_repeated_or_invented_value():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    for second, value in ((0, 96.0), (1, 95.0), (4, 93.0)):
        recorder.add(OximetryPoint(NIGHT + timedelta(seconds=second), value, 70.0, RING))
    (spo2, _), = recorder.close()[0]
    assert spo2.values == (96.0, 95.0, None, None, 93.0)


def test_a_faster_stream_keeps_one_value_per_slot_the_newest():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    feed(recorder, NIGHT, [97.0, 96.0, 95.0, 94.0], step=0.25)  # 4 Hz into 1-second slots
    (spo2, _), = recorder.close()[0]
    assert spo2.values == (94.0,)


def test_a_clock_set_back_starts_a_new_chunk_instead_of_overwriting_recorded_slots():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    feed(recorder, NIGHT + timedelta(seconds=30), [95.0] * 10)
    moved_back = recorder.add(OximetryPoint(NIGHT + timedelta(seconds=5), 91.0, 60.0, RING))
    assert len(moved_back) == 1 and moved_back[0][0].valid == [95.0] * 10
    last, summary = recorder.close()
    assert last[0][0].values == (91.0,)
    assert summary.valid_minutes == pytest.approx(11 / 60)


def test_zero_non_finite_and_impossible_values_are_no_values():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    feed(recorder, NIGHT, [0.0, float("nan"), 127.0, 9000.0, 95.0])  # 127: a device's "no value" marker
    recorder.add(OximetryPoint(NIGHT + timedelta(seconds=5), 96.0, 511.0, RING))  # Nonin's pulse marker
    (spo2, pulse), = recorder.close()[0]
    assert spo2.values == (None, None, None, None, 95.0, 96.0)
    assert pulse.values[-1] is None and pulse.values[0] == 60.0


def test_a_recording_without_any_value_has_no_chunk_and_an_absent_summary():
    recorder = OximetryRecorder()
    for i in range(5):
        recorder.add(OximetryPoint(NIGHT + timedelta(seconds=i), None, None, RING))
    chunks, summary = recorder.close()
    assert chunks == []
    reading = summary_reading(summary, device=RING)
    lowest = next(c for c in reading.components if c.kind is MeasurementKind.OXYGEN_SATURATION_LOWEST)
    assert lowest.value is None and lowest.absent_reason is AbsentReason.UNSUCCESSFUL


def test_chunk_readings_carry_their_samples_and_the_mean_as_value():
    spo2 = SampledSeries(NIGHT, 1.0, (96.0, None, 94.0))
    pulse = SampledSeries(NIGHT, 1.0, (None, None, None))
    s, p = series_readings(spo2, pulse, device=RING)
    assert s.kind is MeasurementKind.OXYGEN_SATURATION_SERIES and s.samples is spo2 and s.value == 95.0
    assert p.value is None and p.absent_reason is AbsentReason.UNSUCCESSFUL and p.samples is pulse


def test_the_stored_form_takes_two_bytes_a_sample():
    assert len(encode_values([97.0] * 600)) == 1200


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan, 6553.5])
def test_a_value_that_cannot_be_stored_exactly_is_refused(bad):
    with pytest.raises(ValueError):
        encode_values([bad])


def test_a_damaged_blob_is_refused():
    with pytest.raises(ValueError):
        decode_values(b"\x01\x02\x03")


@given(st.lists(st.one_of(st.none(), st.integers(0, 65534).map(lambda n: n / 10)), max_size=2000))
def test_stored_values_round_trip(values):
    assert decode_values(encode_values(values)) == tuple(values)


points = st.lists(
    st.tuples(st.floats(0, 7200), st.one_of(st.none(), st.integers(50, 100).map(float))), min_size=1, max_size=300
)


@settings(max_examples=150, deadline=None)
@given(points, st.sampled_from([(1.0, 60.0), (1.0, 600.0), (0.5, 30.0), (2.0, 600.0)]))
def test_every_slot_that_got_a_value_is_in_exactly_one_chunk(stream, shape):
    """Whatever order and spacing points arrive in, the chunks hold exactly the newest value of
    each (chunk, slot) a point fell into; the summary's figures match the chunks'."""
    period, chunk = shape
    recorder = OximetryRecorder(period=period, chunk=chunk)
    chunks = []
    for offset, value in sorted(stream, key=lambda p: p[0]):
        chunks += recorder.add(OximetryPoint(NIGHT + timedelta(seconds=offset), value, 60.0, RING))
    last, summary = recorder.close()
    chunks += last
    expected: dict[tuple[float, int], float | None] = {}
    for offset, value in sorted(stream, key=lambda p: p[0]):
        t = (NIGHT + timedelta(seconds=offset)).timestamp()
        grid = math.floor(t / chunk) * chunk
        expected[(grid, math.floor((t - grid) / period))] = value
    got: dict[tuple[float, int], float | None] = {}
    for spo2, pulse in chunks:
        assert len(spo2.values) == len(pulse.values) <= round(chunk / period)
        for i, value in enumerate(spo2.values):
            t = spo2.start.timestamp() + i * period
            grid = math.floor(round(t, 6) / chunk) * chunk
            slot = round((t - grid) / period)
            if value is not None or pulse.values[i] is not None:
                got[(grid, slot)] = value
    assert got == {k: v for k, v in expected.items()}
    valid = [v for spo2, _ in chunks for v in spo2.values if v is not None]
    assert summary.valid_minutes == pytest.approx(len(valid) * period / 60)
    if valid:
        assert summary.spo2_lowest == min(valid)
        assert summary.minutes_below_limit == pytest.approx(sum(v < 90 for v in valid) * period / 60)
