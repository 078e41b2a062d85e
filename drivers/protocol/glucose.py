"""A glucose meter's records, pure: record -> `Reading`, what to ask the meter for, and pairing
each measurement with the context that follows it.

No I/O: the driver (`drivers.devices.glucose`) feeds bytes in arrival order and delivers what
comes out. See that module's docstring for the session these parts serve; the rules here:

Values: mmol/L, unrounded (see `drivers.gatt.glucose` for the kg/L conversion). A status that
makes the number meaningless (sample too small, strip insertion or strip type error, sensor
malfunction, device fault) or a "result too high/low" without a number gives no value with
`AbsentReason.ERROR`; special SFLOAT values give their own reason. A control-solution test keeps
its value, flagged `CONTROL_SOLUTION`. A record with an unknown time or one before 2020, or from a
meter whose clock is not set, is flagged `DEVICE_CLOCK_NOT_SET` + `TIME_QUESTIONABLE`; a time
fault `DEVICE_TIME_FAULT` + `TIME_QUESTIONABLE`. Nothing is guessed.

What to request: a meter whose last sequence number is lower than the hub's has had its memory
cleared (or its numbering restarted): everything. Otherwise only "sequence ≥ last + 1".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GlucoseHealth,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    GlucoseSampleLocation,
    GlucoseSampleType,
    GlucoseTester,
    Meal,
    parse_glucose_context,
    parse_glucose_measurement,
)
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.racp import report_all_records, report_records_from_sequence
from drivers.protocol.device_values import CLOCK_PLAUSIBLE_FROM, value_or_reason
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag, Reading

GLUCOSE_UNIT = "mmol/L"


# --- readings (pure) ----------------------------------------------------------------------------

_STATUS_FLAGS = (
    ("battery_low", QualityFlag.BATTERY_LOW),
    ("sensor_malfunction", QualityFlag.DEVICE_FAULT),
    ("sample_size_insufficient", QualityFlag.SAMPLE_TOO_SMALL),
    ("strip_insertion_error", QualityFlag.STRIP_ERROR),
    ("strip_type_incorrect", QualityFlag.STRIP_ERROR),
    ("result_too_high", QualityFlag.RESULT_TOO_HIGH),
    ("result_too_low", QualityFlag.RESULT_TOO_LOW),
    ("temperature_too_high", QualityFlag.TEMPERATURE_OUT_OF_RANGE),
    ("temperature_too_low", QualityFlag.TEMPERATURE_OUT_OF_RANGE),
    ("read_interrupted", QualityFlag.READ_INTERRUPTED),
    ("general_device_fault", QualityFlag.DEVICE_FAULT),
    ("time_fault", QualityFlag.DEVICE_TIME_FAULT),
)
_VALUE_MEANINGLESS = (
    "sample_size_insufficient",
    "strip_insertion_error",
    "strip_type_incorrect",
    "sensor_malfunction",
    "general_device_fault",
)
_BODY_SITES = {
    GlucoseSampleLocation.FINGER: "finger",
    GlucoseSampleLocation.ALTERNATE_SITE_TEST: "alternate-site",
    GlucoseSampleLocation.EARLOBE: "earlobe",
}


def _term(member: object) -> str:
    """An enum member as a context term: CAPILLARY_WHOLE_BLOOD -> 'capillary-whole-blood'."""
    return str(getattr(member, "name", member)).lower().replace("_", "-")


def quality_flags(measurement: GlucoseMeasurement, *, clock_not_set: bool = False, from_storage: bool = True) -> frozenset[QualityFlag]:
    """What the record's status, sample and time say about how far to trust it."""
    flags: set[QualityFlag] = {QualityFlag.FROM_STORAGE} if from_storage else set()
    status = measurement.sensor_status
    if status is not None:
        flags.update(flag for name, flag in _STATUS_FLAGS if getattr(status, name))
        if status.time_fault:
            flags.add(QualityFlag.TIME_QUESTIONABLE)
    if measurement.is_control_solution:
        flags.add(QualityFlag.CONTROL_SOLUTION)
    time = measurement.time
    if clock_not_set or time is None or time < CLOCK_PLAUSIBLE_FROM:
        flags |= {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE}
    return frozenset(flags)


def glucose_value(measurement: GlucoseMeasurement) -> tuple[float | None, AbsentReason | None]:
    """mmol/L, or no value with the reason (see the module docstring for which statuses)."""
    status = measurement.sensor_status
    value = measurement.mmol_per_l
    if status is not None and any(getattr(status, name) for name in _VALUE_MEANINGLESS):
        return None, AbsentReason.ERROR
    if value is None:
        return None, AbsentReason.ERROR  # no concentration field: the record is an error only
    if isinstance(value, SpecialValue):
        if status is not None and (status.result_too_high or status.result_too_low):
            return None, AbsentReason.ERROR
    return value_or_reason(value)


def glucose_context(measurement: GlucoseMeasurement, context: GlucoseMeasurementContext | None) -> tuple[tuple[str, str], ...]:
    """Specimen, meal, tester and health as (key, term) pairs; reserved values are left out."""
    pairs: list[tuple[str, str]] = []
    if isinstance(measurement.sample_type, GlucoseSampleType):
        pairs.append(("specimen", _term(measurement.sample_type)))
    if context is not None:
        if isinstance(context.meal, Meal):
            pairs.append(("meal", _term(context.meal)))
        if isinstance(context.tester, GlucoseTester) and context.tester is not GlucoseTester.NOT_AVAILABLE:
            pairs.append(("tester", _term(context.tester)))
        if isinstance(context.health, GlucoseHealth) and context.health is not GlucoseHealth.NOT_AVAILABLE:
            pairs.append(("health", _term(context.health)))
    return tuple(pairs)


def glucose_reading(
    measurement: GlucoseMeasurement,
    context: GlucoseMeasurementContext | None = None,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    clock_offset: timedelta | None = None,
    clock_not_set: bool = False,
    from_storage: bool = True,
) -> Reading:
    """One glucose record (and its context) as a Reading. Pure."""
    value, absent = glucose_value(measurement)
    location = measurement.sample_location
    return Reading(
        kind=MeasurementKind.BLOOD_GLUCOSE,
        value=value,
        unit=GLUCOSE_UNIT,
        received_at=received_at,
        absent_reason=absent,
        device=device,
        device_time=measurement.time,
        flags=quality_flags(measurement, clock_not_set=clock_not_set, from_storage=from_storage),
        record_id=str(measurement.sequence_number),
        body_site=_BODY_SITES.get(location) if isinstance(location, GlucoseSampleLocation) else None,
        context=glucose_context(measurement, context),
        device_clock_offset=clock_offset,
    )


# --- what to ask for (pure) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """Which records to request: all (`first_sequence` None) or those with sequence ≥ it."""

    first_sequence: int | None
    reason: str

    def request(self) -> bytes:
        if self.first_sequence is None:
            return report_all_records()
        return report_records_from_sequence(self.first_sequence)


LAST_UNKNOWN = -1
"""`meter_last` when the meter could not say (operator "last" unsupported, a malformed reply)."""


def plan_download(known: int | None, meter_last: int | None) -> DownloadPlan | None:
    """What to request, from the hub's highest stored sequence (`known`, None: nothing stored)
    and the sequence of the meter's last record (None: the meter has no records;
    `LAST_UNKNOWN`: it could not say). None: nothing to request."""
    if meter_last is None:
        return None
    if known is None:
        return DownloadPlan(None, "nothing stored from this meter yet")
    if meter_last == LAST_UNKNOWN:
        if known >= 0xFFFF:
            return DownloadPlan(None, "the meter cannot tell its last record")
        return DownloadPlan(known + 1, "the meter cannot tell its last record")
    if meter_last < known:
        return DownloadPlan(None, "the meter's numbering is behind the hub's: memory cleared or restarted")
    if meter_last == known:
        return None
    return DownloadPlan(known + 1, "new records")


# --- pairing measurements with their contexts (pure) --------------------------------------------


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    measurement: GlucoseMeasurement
    context: GlucoseMeasurementContext | None = None


Assembled = GlucoseRecord | MalformedPacket


class RecordAssembler:
    """Pairs each measurement with the context that follows it, in arrival order.

    Each method returns what is complete, in order: records to deliver and `MalformedPacket`s
    to log and skip. A measurement whose flag says a context follows is held (`pending`) until
    that context, the next measurement, the end of the procedure or `expire()`.
    """

    def __init__(self) -> None:
        self.pending: GlucoseMeasurement | None = None

    def _flush(self) -> list[Assembled]:
        held, self.pending = self.pending, None
        return [] if held is None else [GlucoseRecord(held)]

    def measurement(self, data: bytes) -> list[Assembled]:
        out = self._flush()
        try:
            measurement = parse_glucose_measurement(data)
        except MalformedPacket as error:
            return [*out, error]
        if measurement.context_follows:
            self.pending = measurement
        else:
            out.append(GlucoseRecord(measurement))
        return out

    def context(self, data: bytes) -> list[Assembled]:
        try:
            context = parse_glucose_context(data)
        except MalformedPacket as error:
            return [*self._flush(), error]
        held = self.pending
        if held is not None and held.sequence_number == context.sequence_number:
            self.pending = None
            return [GlucoseRecord(held, context)]
        orphan = MalformedPacket("Glucose Measurement Context", "no measurement with its sequence number waits for it")
        return [*self._flush(), orphan]

    def end(self) -> list[Assembled]:
        """The procedure ended (its response came): a held measurement goes without context."""
        return self._flush()

    expire = end  # the context did not come in time

    def drop(self) -> bool:
        """The link is gone: forget a held measurement (fetched again next time). True if one was."""
        held, self.pending = self.pending, None
        return held is not None


__all__ = [
    "GLUCOSE_UNIT",
    "LAST_UNKNOWN",
    "Assembled",
    "DownloadPlan",
    "GlucoseRecord",
    "RecordAssembler",
    "glucose_context",
    "glucose_reading",
    "glucose_value",
    "plan_download",
    "quality_flags",
]
