"""A chunk read back from the store is the chunk recorded: the same values, the same SampledData
Observation byte for byte — while its `data` is written straight from the stored codes, with no
float made per sample (issue 13, part W: a week of oximetry drained with ≤ 1 s of CPU)."""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.measurements import Measurement
from hub.domain.oximetry import SampledSeries, encode_values, series_readings
from hub.domain.readings import MeasurementKind, Provenance, Reading
from hub.store import Store
from sync.fhir.codes import CONVERSIONS
from sync.fhir.observations import observation_for, sampled_data
from tests.servers.samples import CTX, OXIMETER

NIGHT = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
tenths = st.one_of(st.none(), st.integers(0, 65534).map(lambda n: n / 10))
series_values = st.lists(tenths, min_size=1, max_size=700)
# every unit a chunk's value may arrive in: the kind's own and those converted from
UNITS = [(MeasurementKind.OXYGEN_SATURATION_SERIES, "%")] + [
    (MeasurementKind.PULSE_RATE_SERIES, unit) for unit in ("/min", *CONVERSIONS[MeasurementKind.PULSE_RATE_SERIES])
]


@given(series_values)
def test_a_stored_series_is_the_series_it_was_stored_from(values):
    plain = SampledSeries(NIGHT, 1.0, tuple(values))
    stored = SampledSeries.stored(NIGHT, 1.0, encode_values(values))
    assert stored == plain and hash(stored) == hash(plain)
    assert stored.values == tuple(values) and stored.end == plain.end and stored.mean() == plain.mean()
    assert pickle.loads(pickle.dumps(stored)) == plain


@given(series_values)
def test_sampled_data_from_the_stored_codes_is_the_plain_one_byte_for_byte(values):
    blob = encode_values(values)
    for kind, unit in UNITS:
        from_codes = sampled_data(kind, SampledSeries.stored(NIGHT, 1.0, blob), unit)
        from_values = sampled_data(kind, SampledSeries(NIGHT, 1.0, tuple(values)), unit)
        assert orjson.dumps(from_codes) == orjson.dumps(from_values)


def test_a_stored_series_is_checked_at_once_and_cannot_be_changed():
    with pytest.raises(ValueError):
        SampledSeries.stored(NIGHT, 1.0, b"\x01\x02\x03")  # not whole samples
    with pytest.raises(ValueError):
        SampledSeries.stored(NIGHT, 1.0, b"")
    with pytest.raises(ValueError):
        SampledSeries.stored(datetime(2026, 11, 21, 23, 0), 1.0, encode_values([97.0]))  # no time zone
    series = SampledSeries.stored(NIGHT, 1.0, encode_values([97.0, 95.5]))
    with pytest.raises(AttributeError):
        series.start = NIGHT  # type: ignore[misc]
    assert "97" not in repr(series) and "95.5" not in repr(series)  # values never in a log line


async def test_a_chunk_read_back_from_the_store_is_sent_as_the_chunk_recorded(tmp_path):
    values = tuple([97.0, 96.5, None, 88.0] * 150)
    spo2, pulse = series_readings(
        SampledSeries(NIGHT, 1.0, values), SampledSeries(NIGHT, 1.0, tuple(None if v is None else v - 30 for v in values)), device=OXIMETER
    )
    recorded = [Measurement(uuid.uuid4(), r, Provenance.DEVICE, r.received_at, None) for r in (spo2, pulse)]
    stored_at = NIGHT + timedelta(hours=9)  # the hub's clock, injected: no test depends on today's date
    store = await Store.open(tmp_path / "heima.db", clock=lambda: stored_at)
    try:
        for m in recorded:
            await store.record(m, ["centre"])
        due = await store.due("centre", limit=10, now=stored_at + timedelta(minutes=1))
    finally:
        await store.close()
    read = {str(o.id): o.measurement for o in due}
    assert len(read) == 2
    for m in recorded:
        back = read[str(m.id)]
        assert isinstance(back.reading, Reading) and back.reading.samples.stored_form is not None  # read as stored
        assert orjson.dumps(observation_for(back, CTX)) == orjson.dumps(observation_for(m, CTX))
        assert back.reading.samples == m.reading.samples
