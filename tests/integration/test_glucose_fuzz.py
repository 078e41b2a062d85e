"""Fuzzing a whole driver session: an emulated meter whose memory holds random, truncated and
garbage measurement packets among good ones, read by the real driver over the virtual radio.

Whatever the bytes, the session ends cleanly, every packet that is not a valid Glucose
Measurement is skipped, and every reading is exactly what a valid packet said: nothing invented.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.devices import default_registry
from drivers.protocol.glucose import glucose_value
from drivers.emulator import VirtualRadio
from drivers.emulator.glucose_meter import EmulatedGlucoseMeter
from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GlucoseConcentrationUnit,
    GlucoseMeasurement,
    encode_glucose_measurement,
    parse_glucose_measurement,
)
from drivers.link import LinkManager
from tests.emulated import FAST_LINK, CollectingSink, EventLog

good = st.builds(lambda v: ("good", round(v, 1)), st.floats(min_value=1.0, max_value=33.0))
garbage = st.builds(lambda b: ("raw", b), st.binary(max_size=24))
truncated = st.builds(lambda cut: ("cut", cut), st.integers(min_value=0, max_value=12))
flipped = st.builds(lambda i, x: ("flip", (i, x)), st.integers(min_value=0, max_value=12), st.integers(1, 255))


def _valid_bytes(sequence: int) -> bytes:
    return encode_glucose_measurement(
        GlucoseMeasurement(
            sequence_number=sequence,
            base_time=datetime(2025, 1, 2, 3, 4, 5),
            concentration=0.0061,
            concentration_unit=GlucoseConcentrationUnit.MOL_PER_L,
            sample_type=1,
            sample_location=1,
        )
    )


def _parse(data: bytes) -> GlucoseMeasurement | None:
    try:
        return parse_glucose_measurement(data)
    except MalformedPacket:
        return None


async def _session(records: list[tuple[str, object]]) -> tuple[list, list[GlucoseMeasurement], int, EventLog]:
    meter = EmulatedGlucoseMeter(requires_bonding=False, current_time_service=False)
    packets: list[bytes] = []
    for number, (kind, payload) in enumerate(records, start=1):
        if kind == "good":
            meter.add_record(payload)
            packets.append(meter.records[-1].measurement)
            continue
        if kind == "raw":
            data = payload
        elif kind == "cut":
            data = _valid_bytes(number)[: payload]
        else:
            index, mask = payload
            data = bytearray(_valid_bytes(number))
            data[index] ^= mask
            data = bytes(data)
        meter.add_raw_record(data, sequence=number)
        packets.append(data)
    events = EventLog()
    async with VirtualRadio() as radio:
        await radio.add(meter)
        link = LinkManager(
            default_registry(),
            scanner_backend=radio.scanner_backend,
            client_backend=radio.client_backend,
            on_event=events,
            **FAST_LINK,
        )
        sink = CollectingSink()
        async with asyncio.timeout(20):
            await link.read_once(sink, timeout=10)
    valid = [m for m in (_parse(p) for p in packets) if m is not None]
    invalid = sum(1 for p in packets if _parse(p) is None)
    return sink.readings, valid, invalid, events


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(good, garbage, truncated, flipped), min_size=1, max_size=6))
def test_whatever_the_meter_sends_the_session_ends_cleanly_and_invents_nothing(records) -> None:
    readings, valid, invalid, events = asyncio.run(_session(records))
    assert events.names()[-1] == "disconnected"
    # the download asks for everything (nothing stored): each valid packet once, in order
    assert [r.record_id for r in readings] == [str(m.sequence_number) for m in valid]
    for reading, measurement in zip(readings, valid, strict=True):
        assert (reading.value, reading.absent_reason) == glucose_value(measurement)
        assert reading.device_time == measurement.time
    skipped = events.events[-1][1]["skipped"]
    # the last record is also read once by the probe; a malformed one there is skipped twice
    assert invalid <= skipped <= invalid + 1
