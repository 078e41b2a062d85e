"""Devices in the domain's words: the family a device belongs to, the kinds each family measures
and what the patient may type in by hand for it, and what the hub remembers about a device
between sessions, as the drivers ask for it.

`DeviceHistory` is a port (implemented by hub.store, handed to drivers by the composition root):
drivers import hub.domain only, so the question is asked here in the domain's words. Each driver
declares its `DeviceFamily`, so nothing has to guess it from a driver's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from hub.domain.readings import DeviceIdentity, MeasurementKind


class DeviceFamily(enum.StrEnum):
    """A kind of device the patient measures with; each has its own measuring screen."""

    PULSE_OXIMETER = "pulse-oximeter"
    BLOOD_PRESSURE = "blood-pressure"
    WEIGHT = "weight"
    GLUCOSE = "glucose"
    THERMOMETER = "thermometer"


K = MeasurementKind

FAMILY_KINDS: dict[DeviceFamily, tuple[MeasurementKind, ...]] = {
    # a continuous recording shows as its summary (its chunks are for the nurse's systems)
    DeviceFamily.PULSE_OXIMETER: (K.OXYGEN_SATURATION, K.PULSE_RATE, K.OXIMETRY_SUMMARY),
    DeviceFamily.BLOOD_PRESSURE: (K.BLOOD_PRESSURE, K.CUFF_PULSE_RATE),
    DeviceFamily.WEIGHT: (K.BODY_WEIGHT,),
    DeviceFamily.GLUCOSE: (K.BLOOD_GLUCOSE,),
    DeviceFamily.THERMOMETER: (K.BODY_TEMPERATURE,),
}


def family_of(kind: MeasurementKind) -> DeviceFamily | None:
    """The family whose screen shows a value of this kind (a panel's parts: blood pressure)."""
    for family, kinds in FAMILY_KINDS.items():
        if kind in kinds:
            return family
    if kind in (K.SYSTOLIC_PRESSURE, K.DIASTOLIC_PRESSURE, K.MEAN_ARTERIAL_PRESSURE):
        return DeviceFamily.BLOOD_PRESSURE
    return None


@dataclass(frozen=True, slots=True)
class ManualField:
    """One number the patient may type in by hand, with the range a person can have."""

    kind: MeasurementKind
    unit: str  # UCUM
    low: float
    high: float
    decimals: int = 0


MANUAL_FIELDS: dict[DeviceFamily, tuple[ManualField, ...]] = {
    DeviceFamily.PULSE_OXIMETER: (ManualField(K.OXYGEN_SATURATION, "%", 50, 100), ManualField(K.PULSE_RATE, "/min", 20, 250)),
    DeviceFamily.BLOOD_PRESSURE: (
        ManualField(K.SYSTOLIC_PRESSURE, "mm[Hg]", 50, 300),
        ManualField(K.DIASTOLIC_PRESSURE, "mm[Hg]", 20, 200),
        ManualField(K.CUFF_PULSE_RATE, "/min", 20, 250),
    ),
    DeviceFamily.WEIGHT: (ManualField(K.BODY_WEIGHT, "kg", 2, 400, 1),),
    DeviceFamily.GLUCOSE: (ManualField(K.BLOOD_GLUCOSE, "mmol/L", 0.5, 40, 1),),
    DeviceFamily.THERMOMETER: (ManualField(K.BODY_TEMPERATURE, "Cel", 30, 45, 1),),
}


class ManualValueError(ValueError):
    """A typed value a person cannot have; `field` says which one."""

    def __init__(self, field: ManualField) -> None:
        super().__init__(f"{field.kind.value} must be between {field.low:g} and {field.high:g}")
        self.field = field


class DeviceHistory(Protocol):
    async def last_sequence(self, device: DeviceIdentity, kind: MeasurementKind) -> int | None:
        """The sequence number of the record most recently received from this device for this
        kind, or None when nothing with a sequence number is stored. A meter is asked only for
        records after it; a meter whose last record is lower has had its memory cleared."""
        ...
