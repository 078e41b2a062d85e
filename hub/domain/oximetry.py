"""Continuous oximetry: a night of 1 Hz SpO2 and pulse becomes a few hundred measurements, not 86,400.

Pure: no I/O, no clock reads. The recorder is fed points (the hub's reception time, SpO2, pulse
rate) and gives back

* one `SampledSeries` per kind per chunk (10 minutes by default): equally spaced slots, one value
  per slot (the newest point that fell into it), `None` where no valid value came — the device was
  off the finger, a notification was lost, the signal was bad. Such a chunk travels as one FHIR
  Observation with `valueSampledData`;
* at the end of the recording one summary: lowest and mean SpO2, time with SpO2 below 90 %, the
  valid time recorded and the mean pulse rate. It travels as one panel Observation.

Chunks lie on a fixed grid (multiples of `chunk` since the epoch), so a chunk is the same stretch
of the night whenever the recording started. A point whose time goes backwards (the hub's clock
was set back) closes the open chunk and starts a new one at the new time: nothing is merged into
a stretch it does not belong to, nothing is dropped.

Spot readings stay individual Observations: this module is only for streams the patient wears.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# A sample no body can have (SpO2 over 100 %, a pulse over 350 /min, 0 and non-finite values,
# which devices send for none) is an empty slot, never a sample: the limits are the one table's.
from hub.domain.plausibility import possible
from hub.domain.readings import AbsentReason, Component, DeviceIdentity, MeasurementKind, Reading

SPO2_UNIT = "%"
PULSE_RATE_UNIT = "/min"
MINUTES_UNIT = "min"
DESATURATION_LIMIT = 90.0  # time below this SpO2 (%) is reported in the summary

STORED_EMPTY = 0xFFFF  # the stored code of an empty slot
_SCALE = 10  # values are stored in tenths: 97.5 % -> 975


class SampledSeries:
    """Equally spaced values of one kind from `start`: slot i covers start + i·period.

    Immutable, compared and hashed by (start, period, values). A series read back from the store
    (`SampledSeries.stored`) keeps the stored form and decodes its values only when they are
    asked for: delivering a chunk writes its FHIR `data` straight from the stored codes
    (sync.fhir.observations), so a drain never makes 600 floats of each chunk."""

    __slots__ = ("start", "period", "_values", "_codes")
    start: datetime  # timezone-aware
    period: float  # seconds between slots

    def __init__(self, start: datetime, period: float, values: tuple[float | None, ...]) -> None:
        # None in values: no valid value in that slot
        self._set(start, period, tuple(values), None)
        if not self._values:
            raise ValueError("a series holds at least one slot")

    @classmethod
    def stored(cls, start: datetime, period: float, data: bytes) -> SampledSeries:
        """The series of a stored blob (`encode_values`), its values decoded when first asked for.
        ValueError at once for a blob that is not whole samples, or holds none."""
        if len(data) % 2:
            raise ValueError("a stored series has an odd number of bytes")
        if not data:
            raise ValueError("a series holds at least one slot")
        series = object.__new__(cls)
        series._set(start, period, None, bytes(data))
        return series

    def _set(self, start: datetime, period: float, values: tuple[float | None, ...] | None, codes: bytes | None) -> None:
        if start.tzinfo is None:
            raise ValueError("a series starts at a timezone-aware time")
        if not (period > 0 and math.isfinite(period)):
            raise ValueError("a series needs a positive period")
        for name, value in (("start", start), ("period", period), ("_values", values), ("_codes", codes)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a SampledSeries cannot be changed (its {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a SampledSeries cannot be changed (its {name})")

    @property
    def values(self) -> tuple[float | None, ...]:
        values = self._values
        if values is None:
            values = decode_values(self._codes or b"")
            object.__setattr__(self, "_values", values)
        return values

    @property
    def stored_form(self) -> bytes | None:
        """The stored form (little-endian uint16 tenths, 0xFFFF empty) when the series was read
        from the store, else None."""
        return self._codes

    def __len__(self) -> int:
        return len(self._values) if self._values is not None else len(self._codes or b"") // 2

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampledSeries):
            return NotImplemented
        return (self.start, self.period, self.values) == (other.start, other.period, other.values)

    def __hash__(self) -> int:
        return hash((self.start, self.period, self.values))

    def __repr__(self) -> str:  # the values out of it: never logged
        return f"SampledSeries(start={self.start!r}, period={self.period!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (SampledSeries, (self.start, self.period, self.values))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.period * len(self))

    @property
    def valid(self) -> list[float]:
        return [v for v in self.values if v is not None]

    def mean(self) -> float | None:
        valid = self.valid
        return sum(valid) / len(valid) if valid else None


def encode_values(values: Iterable[float | None]) -> bytes:
    """The compact stored form: little-endian uint16 tenths, 0xFFFF for an empty slot (2 bytes a
    sample, against ~150 for a row per sample). ValueError for what cannot be stored exactly
    enough (negative, not finite, 6,553.5 or more)."""
    codes = array("H")
    for value in values:
        if value is None:
            codes.append(STORED_EMPTY)
            continue
        if not math.isfinite(value) or value < 0 or round(value * _SCALE) >= STORED_EMPTY:
            raise ValueError("a sampled value must be a finite number from 0 up to 6,553.4")
        codes.append(round(value * _SCALE))
    if codes.itemsize != 2:  # pragma: no cover - every platform Heima runs on has 16-bit "H"
        raise RuntimeError("array('H') is not 16 bits here")
    if sys.byteorder == "big":  # pragma: no cover - the stored form is little-endian everywhere
        codes.byteswap()
    return codes.tobytes()


def stored_codes(data: bytes) -> array:
    """The codes of a stored blob as uint16 numbers (tenths, `STORED_EMPTY` for an empty slot).
    ValueError for a blob that is not whole samples."""
    if len(data) % 2:
        raise ValueError("a stored series has an odd number of bytes")
    codes = array("H")
    codes.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        codes.byteswap()
    return codes


def value_of_code(code: int) -> float | None:
    """The value a stored code stands for (None: an empty slot)."""
    return None if code == STORED_EMPTY else code / _SCALE


def decode_values(data: bytes) -> tuple[float | None, ...]:
    """`encode_values` undone. ValueError for a blob that is not whole samples."""
    return tuple(None if c == STORED_EMPTY else c / _SCALE for c in stored_codes(data))


@dataclass(frozen=True, slots=True)
class OximetryPoint:
    """One value pair of a stream as the hub received it. Values out of repr: never logged."""

    at: datetime  # the hub's clock at reception, timezone-aware
    spo2: float | None = field(repr=False)  # None: no valid value (no finger, bad signal, ...)
    pulse_rate: float | None = field(repr=False)
    device: DeviceIdentity | None = None


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The device's stream stopped (the session ended): close its recording now."""

    device: DeviceIdentity | None


@dataclass(slots=True)
class _Totals:
    """Running figures for the summary; O(1) memory however long the night."""

    spo2_sum: float = 0.0
    spo2_count: int = 0
    spo2_lowest: float | None = None
    below_limit: int = 0
    pulse_sum: float = 0.0
    pulse_count: int = 0

    def add(self, spo2: Iterable[float | None], pulse: Iterable[float | None]) -> None:
        for value in spo2:
            if value is None:
                continue
            self.spo2_sum += value
            self.spo2_count += 1
            if self.spo2_lowest is None or value < self.spo2_lowest:
                self.spo2_lowest = value
            if value < DESATURATION_LIMIT:
                self.below_limit += 1
        for value in pulse:
            if value is not None:
                self.pulse_sum += value
                self.pulse_count += 1


@dataclass(frozen=True, slots=True)
class OximetrySummary:
    """What a nurse reads first about a night: lowest and mean SpO2, time below 90 %."""

    start: datetime
    end: datetime
    spo2_lowest: float | None
    spo2_mean: float | None
    minutes_below_limit: float
    valid_minutes: float
    pulse_rate_mean: float | None


class OximetryRecorder:
    """One device's recording. Feed `add(point)`; it returns the chunks completed by that point.
    `close()` returns the last (partial) chunk and the summary of the whole recording."""

    def __init__(self, *, period: float = 1.0, chunk: float = 600.0) -> None:
        if not (period > 0 and chunk >= period and math.isfinite(chunk)):
            raise ValueError("the period must be positive and a chunk at least one period long")
        self.period = period
        self.chunk = chunk
        self.slots = max(1, round(chunk / period))
        self.device: DeviceIdentity | None = None
        self._open_start: datetime | None = None
        self._spo2: list[float | None] = []
        self._pulse: list[float | None] = []
        self._totals = _Totals()
        self._first: datetime | None = None
        self._begin: datetime | None = None
        self._last_end: datetime | None = None
        self._last_at: datetime | None = None
        self.points = 0

    def _chunk_start(self, at: datetime) -> datetime:
        seconds = at.timestamp()
        return datetime.fromtimestamp(math.floor(seconds / self.chunk) * self.chunk, UTC)

    def add(self, point: OximetryPoint) -> list[tuple[SampledSeries, SampledSeries]]:
        if point.at.tzinfo is None:
            raise ValueError("a point's time must be timezone-aware")
        if point.device is not None:
            self.device = point.device
        done: list[tuple[SampledSeries, SampledSeries]] = []
        start = self._open_start
        if start is not None:
            slot = math.floor((point.at - start).total_seconds() / self.period)
            went_back = self._last_at is not None and (self._last_at - point.at).total_seconds() >= self.period
            if slot < 0 or slot >= self.slots or went_back:  # a later chunk, or the clock was set back
                done.extend(self._seal())
                start = None
        if start is None:
            start = self._chunk_start(point.at)
            slot = math.floor((point.at - start).total_seconds() / self.period)
            self._open_start = start
            self._spo2 = [None] * self.slots
            self._pulse = [None] * self.slots
            if self._first is None:
                self._first = point.at
        slot = min(max(slot, 0), self.slots - 1)
        self._last_at = point.at
        self._spo2[slot] = possible(MeasurementKind.OXYGEN_SATURATION_SERIES, point.spo2)
        self._pulse[slot] = possible(MeasurementKind.PULSE_RATE_SERIES, point.pulse_rate)
        self.points += 1
        return done

    def _seal(self) -> Iterator[tuple[SampledSeries, SampledSeries]]:
        """The open chunk, trimmed to the slots from its first to its last value (a chunk the
        stream entered late or left early covers only what was recorded); nothing if empty."""
        start = self._open_start
        if start is None:
            return
        self._open_start = None
        filled = [i for i in range(self.slots) if self._spo2[i] is not None or self._pulse[i] is not None]
        if not filled:
            return
        first, last = filled[0], filled[-1] + 1
        spo2, pulse = tuple(self._spo2[first:last]), tuple(self._pulse[first:last])
        self._totals.add(spo2, pulse)
        begins = start + timedelta(seconds=self.period * first)
        series = SampledSeries(begins, self.period, spo2)
        self._begin = begins if self._begin is None else min(self._begin, begins)
        self._last_end = series.end if self._last_end is None else max(self._last_end, series.end)
        yield series, SampledSeries(begins, self.period, pulse)

    def close(self) -> tuple[list[tuple[SampledSeries, SampledSeries]], OximetrySummary | None]:
        """The open chunk and the recording's summary (None when the recording never had a point;
        the figures then come from the chunks, so they match what was sent)."""
        last = list(self._seal())
        if self._first is None:
            return last, None
        t = self._totals
        summary = OximetrySummary(
            start=self._begin or self._first,  # the first recorded slot: the chunks' own start
            end=self._last_end or self._first,
            spo2_lowest=t.spo2_lowest,
            spo2_mean=t.spo2_sum / t.spo2_count if t.spo2_count else None,
            minutes_below_limit=t.below_limit * self.period / 60,
            valid_minutes=t.spo2_count * self.period / 60,
            pulse_rate_mean=t.pulse_sum / t.pulse_count if t.pulse_count else None,
        )
        self._first = None
        self._begin = None
        self._last_end = None
        self._last_at = None
        self._totals = _Totals()
        return last, summary


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def series_readings(
    spo2: SampledSeries, pulse: SampledSeries, *, device: DeviceIdentity | None
) -> tuple[Reading, Reading]:
    """A chunk as two readings (the SpO2 series and the pulse-rate series). Each reading's value
    is the chunk's mean (what a history chart shows); its samples are what is sent."""
    readings = []
    for kind, series, unit in (
        (MeasurementKind.OXYGEN_SATURATION_SERIES, spo2, SPO2_UNIT),
        (MeasurementKind.PULSE_RATE_SERIES, pulse, PULSE_RATE_UNIT),
    ):
        mean = _rounded(series.mean())
        readings.append(
            Reading(
                kind=kind,
                value=mean,
                unit=unit,
                received_at=series.start,
                absent_reason=None if mean is not None else AbsentReason.UNSUCCESSFUL,
                device=device,
                samples=series,
            )
        )
    return readings[0], readings[1]


def summary_reading(summary: OximetrySummary, *, device: DeviceIdentity | None) -> Reading:
    """The summary as a panel reading: one component per figure, a figure with no valid sample
    behind it is absent ("unsuccessful"), never a zero."""

    def component(kind: MeasurementKind, value: float | None, unit: str) -> Component:
        if value is None:
            return Component(kind, None, unit, AbsentReason.UNSUCCESSFUL)
        return Component(kind, value, unit)

    return Reading(
        kind=MeasurementKind.OXIMETRY_SUMMARY,
        value=None,
        unit=SPO2_UNIT,
        received_at=summary.start,
        device=device,
        duration=summary.end - summary.start,
        components=(
            component(MeasurementKind.OXYGEN_SATURATION_LOWEST, _rounded(summary.spo2_lowest), SPO2_UNIT),
            component(MeasurementKind.OXYGEN_SATURATION_MEAN, _rounded(summary.spo2_mean), SPO2_UNIT),
            component(MeasurementKind.TIME_BELOW_90_PERCENT, _rounded(summary.minutes_below_limit), MINUTES_UNIT),
            component(MeasurementKind.VALID_RECORDING_TIME, _rounded(summary.valid_minutes), MINUTES_UNIT),
            component(MeasurementKind.PULSE_RATE_MEAN, _rounded(summary.pulse_rate_mean), PULSE_RATE_UNIT),
        ),
    )


__all__ = [
    "DESATURATION_LIMIT",
    "STORED_EMPTY",
    "OximetryPoint",
    "OximetryRecorder",
    "OximetrySummary",
    "SampledSeries",
    "StreamEnded",
    "decode_values",
    "stored_codes",
    "value_of_code",
    "encode_values",
    "series_readings",
    "summary_reading",
]
