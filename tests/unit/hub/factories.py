"""Readings and measurements as a test would describe them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading

OXIMETER = DeviceIdentity(address="C0:FF:EE:00:00:01", name="Heima PLX 1", manufacturer="Heima Emulated", model="PLX-1", serial="SN-0001")
T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def spo2(value: float | None = 97.0, *, stored_at: datetime | None = None, absent: AbsentReason | None = None, received_at: datetime = T0, device: DeviceIdentity | None = OXIMETER, flags: frozenset = frozenset()) -> Reading:
    if value is None and absent is None:
        absent = AbsentReason.NOT_A_NUMBER
    if stored_at is not None:
        flags = flags | {QualityFlag.FROM_STORAGE}
    return Reading(
        kind=MeasurementKind.OXYGEN_SATURATION,
        value=value,
        unit="%",
        received_at=received_at,
        absent_reason=absent,
        device=device,
        device_time=stored_at,
        flags=flags,
    )


def measurement(reading: Reading | None = None, *, natural_key: str | None = None, minutes: int = 0) -> Measurement:
    reading = reading or spo2()
    return Measurement(
        id=uuid.uuid4(),
        reading=reading,
        provenance=Provenance.DEVICE,
        effective_time=reading.received_at + timedelta(minutes=minutes),
        natural_key=natural_key,
    )
