"""What a body can have: the one table of physiological limits, and the rule that applies it.

A device can send a number no body can have — a saturation of 127 %, a pulse of 511 /min, a
temperature of 60 °C, a weight of 0 kg — from a fault, a marker the driver did not know, or a
probe that measured the room. Such a number is never delivered as the patient's reading: it
becomes "no value" with the coded reason `implausible` (FHIR `dataAbsentReason` "error"), and
the patient is asked to measure again. A number a device *could* be right about, but that lies
where devices are not shown to be accurate or bodies rarely go, keeps its value and is flagged
`questionable` (+ `unlikely-value`, so the nurse's systems know the hub said so, not the device).

`LIMITS` below is the only place these numbers live; docs/data-safety.md links here. Every
limit names its source. A value `v` is possible when `low < v <= high` (so a weight of 0 is
not possible, nor a saturation of 0 % — what an oximeter sends when it found no pulse), and
usual when `usual_low <= v <= usual_high`.

Pure: no I/O, no clock reads. `judge` is applied once, where a reading becomes a Measurement
(hub.services.measurements), so every driver and every manual entry goes through it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from types import MappingProxyType

from hub.domain.readings import AbsentReason, Component, MeasurementKind, QualityFlag, Reading

K = MeasurementKind

# A stored record whose time lies further than this after its reception at the hub was stamped
# by a device clock that is ahead: a measurement cannot be taken after it reached the hub. Five
# minutes leaves room for a hub clock that NTP has not yet nudged and a device that rounds.
DEVICE_TIME_AHEAD_LIMIT = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one measured quantity, in `unit` (UCUM)."""

    unit: str
    low: float  # a value at or below this no body can have
    high: float  # a value above this no body can have (or no home device can measure)
    source: str  # why these two numbers
    usual_low: float | None = None  # below: kept, flagged questionable
    usual_high: float | None = None  # above: kept, flagged questionable
    usual_source: str | None = None

    def __post_init__(self) -> None:
        lo = self.usual_low if self.usual_low is not None else self.low
        hi = self.usual_high if self.usual_high is not None else self.high
        if not (self.low <= lo <= hi <= self.high):
            raise ValueError("the usual range lies inside the possible range")


_SPO2 = Limits(
    "%",
    0.0,
    100.0,
    "By definition: SpO2 is the share of haemoglobin carrying oxygen, 0–100 %. 0 % is what an "
    "oximeter sends when it found no pulse; no living patient measuring at home has it.",
    usual_low=70.0,
    usual_source="ISO 80601-2-61 (pulse oximeters): accuracy is shown only over 70–100 % SaO2; "
    "makers state 0–69 % as 'not specified'. Below 70 % the device may be right, but is not shown to be.",
)
_SPO2_RECORDING = replace(_SPO2, usual_low=None, usual_source=None)  # a night's figures: a dip is no re-measure
_PULSE_SOURCE = (
    "Above 350 /min: beyond the pulse-rate range of every home oximeter and cuff (most display at "
    "most 250–300 /min, e.g. 20–300 /min; the widest we read, Nonin 3230, 18–321 /min; ISO 80601-2-61 "
    "and IEC 80601-2-30 leave the range to the maker), so such a number is a fault or a marker "
    "(Nonin's 511). 0 /min is 'no pulse found'."
)
_PULSE = Limits(
    "/min",
    0.0,
    350.0,
    _PULSE_SOURCE,
    usual_low=25.0,
    usual_high=250.0,
    usual_source="Above the highest sinus rate at any age (~220 /min, Fox et al. 1971; Tanaka et al. 2001) "
    "only tachyarrhythmias reach 250–350 /min; below 25 /min is below the range home devices are "
    "validated for. The device may be right (a Nonin measures to 321 /min): measure again.",
)
_PULSE_RECORDING = replace(_PULSE, usual_low=None, usual_high=None, usual_source=None)
_PRESSURE = Limits(
    "mm[Hg]",
    0.0,
    300.0,
    "IEC 80601-2-30 (automated non-invasive sphygmomanometers): an adult cuff is never inflated above "
    "300 mmHg, so a cuff cannot measure a pressure above it (higher intra-arterial peaks, e.g. "
    "MacDougall et al. 1985 in heavy lifting, are not what a home cuff sees). A pressure of 0 is none.",
)
_TEMPERATURE = Limits(
    "Cel",
    25.0,
    45.0,
    "Survival range of accidental hypothermia and heat stroke: consciousness is lost in severe "
    "hypothermia below ~28 °C (Swiss staging; Brown et al., NEJM 2012) and above ~42 °C; the "
    "record survivals (13.7 °C, Gilbert et al., Lancet 2000; 46.5 °C, 1980) were hospital "
    "measurements of unconscious patients. A patient who measures at home is conscious: outside "
    "25–45 °C the thermometer measured the room or a drink, not the body.",
    usual_low=34.0,
    usual_high=43.0,
    usual_source="ISO 80601-2-56 asks clinical thermometers to cover at least 35.5–42 °C; a home "
    "reading beyond 34–43 °C is more often a misplaced probe than the body. May be right: measure again.",
)
_WEIGHT = Limits(
    "kg",
    0.0,
    650.0,
    "A weight is more than 0 kg. The heaviest person recorded weighed ~635 kg (J. B. Minnoch, "
    "Guinness World Records); home scales weigh at most ~200–330 kg (GATT Weight Scale: 327.67 kg).",
)
_HEIGHT = Limits(
    "cm",
    0.0,
    275.0,
    "A height is more than 0. The tallest person recorded measured 272 cm (R. Wadlow, Guinness World Records).",
)
_BMI = Limits(
    "kg/m2",
    0.0,
    250.0,
    "More than 0; above the highest ever recorded (~635 kg at ~1.85 m: BMI ≈ 186, Minnoch).",
)
_PERCENT_OF_BODY = Limits("%", 0.0, 100.0, "By definition: a share of the body's weight, 0–100 %; 0 % fat is none measured.")
_GLUCOSE = Limits(
    "mmol/L",
    0.0,
    150.0,
    "A concentration is more than 0. The highest blood glucose recorded in a survivor was "
    "147.6 mmol/L (2,656 mg/dL; Guinness World Records, 2008).",
    usual_low=0.6,
    usual_high=33.3,
    usual_source="ISO 15197:2013 home meters measure over the maker's interval, typically 0.6–33.3 mmol/L "
    "(10–600 mg/dL), and show LO/HI beyond it. A number beyond it may be right: measure again.",
)

# kind -> its limits. Panels are judged through their components; a recording's samples are
# filtered as they are recorded (hub.domain.oximetry); minutes a summary counts are the hub's own.
LIMITS: Mapping[MeasurementKind, Limits] = MappingProxyType(
    {
        K.OXYGEN_SATURATION: _SPO2,
        K.PULSE_RATE: _PULSE,
        K.CUFF_PULSE_RATE: _PULSE,
        K.SYSTOLIC_PRESSURE: _PRESSURE,
        K.DIASTOLIC_PRESSURE: _PRESSURE,
        K.MEAN_ARTERIAL_PRESSURE: _PRESSURE,
        K.BODY_WEIGHT: _WEIGHT,
        K.BODY_HEIGHT: _HEIGHT,
        K.BODY_MASS_INDEX: _BMI,
        K.BODY_FAT: _PERCENT_OF_BODY,
        K.BLOOD_GLUCOSE: _GLUCOSE,
        K.BODY_TEMPERATURE: _TEMPERATURE,
        K.OXYGEN_SATURATION_SERIES: _SPO2_RECORDING,
        K.PULSE_RATE_SERIES: _PULSE_RECORDING,
        K.OXYGEN_SATURATION_LOWEST: _SPO2_RECORDING,
        K.OXYGEN_SATURATION_MEAN: _SPO2_RECORDING,
        K.PULSE_RATE_MEAN: _PULSE_RECORDING,
    }
)

# Other spellings of the same quantity a reading may carry: unit -> into the table's unit.
_SAME: Callable[[float], float] = float
_ALIASES: Mapping[str, Mapping[str, Callable[[float], float]]] = MappingProxyType(
    {
        "mm[Hg]": {"mmHg": _SAME, "mm Hg": _SAME, "kPa": lambda v: v * 1000 / 133.322387415},
        "/min": {"1/min": _SAME, "{beats}/min": _SAME, "{beat}/min": _SAME, "bpm": _SAME},
        "kg": {"[lb_av]": lambda v: v * 0.45359237, "lb": lambda v: v * 0.45359237, "g": lambda v: v / 1000},
        "cm": {"m": lambda v: v * 100, "mm": lambda v: v / 10, "[in_i]": lambda v: v * 2.54, "in": lambda v: v * 2.54},
        "kg/m2": {"kg/m^2": _SAME, "kg/m²": _SAME},
        "mmol/L": {"mmol/l": _SAME, "mg/dL": lambda v: v / 18.0156, "mg/dl": lambda v: v / 18.0156},
        "Cel": {"°C": _SAME, "[degF]": lambda v: (v - 32) * 5 / 9, "degF": lambda v: (v - 32) * 5 / 9, "°F": lambda v: (v - 32) * 5 / 9},
    }
)


class Verdict(enum.StrEnum):
    """How a value stands against its limits."""

    POSSIBLE = "possible"
    UNLIKELY = "unlikely"  # possible, outside the usual range: kept, questionable
    IMPOSSIBLE = "impossible"  # no body has it: no value
    UNJUDGED = "unjudged"  # no limits for this kind, or a unit the table does not know


def in_table_unit(limits: Limits, value: float, unit: str) -> float | None:
    """`value` in the table's unit, or None for a unit the table does not know."""
    if unit == limits.unit:
        return value
    convert = _ALIASES.get(limits.unit, {}).get(unit.strip())
    return None if convert is None else convert(value)


def verdict(kind: MeasurementKind, value: float, unit: str) -> Verdict:
    """Where `value` (in `unit`) stands for a quantity of `kind`. Not finite: impossible."""
    limits = LIMITS.get(kind)
    if limits is None:
        return Verdict.UNJUDGED
    if not math.isfinite(value):
        return Verdict.IMPOSSIBLE
    v = in_table_unit(limits, value, unit)
    if v is None:
        return Verdict.UNJUDGED
    if not limits.low < v <= limits.high:
        return Verdict.IMPOSSIBLE
    if (limits.usual_low is not None and v < limits.usual_low) or (limits.usual_high is not None and v > limits.usual_high):
        return Verdict.UNLIKELY
    return Verdict.POSSIBLE


def possible(kind: MeasurementKind, value: float | None) -> float | None:
    """The value when a body can have it (in the table's unit), else None: for samples of a
    continuous recording, where one bad second is an empty slot, not a failed chunk."""
    if value is None:
        return None
    return float(value) if verdict(kind, value, LIMITS[kind].unit) != Verdict.IMPOSSIBLE else None


_QUESTIONABLE = frozenset({QualityFlag.QUESTIONABLE, QualityFlag.UNLIKELY_VALUE})


def _judge_component(c: Component) -> tuple[Component, Verdict]:
    if c.value is None:
        return c, Verdict.POSSIBLE
    found = verdict(c.kind, c.value, c.unit)
    if found == Verdict.IMPOSSIBLE:
        return Component(c.kind, None, c.unit, AbsentReason.IMPLAUSIBLE), found
    return c, found


def judge(reading: Reading) -> Reading:
    """The reading as the hub may deliver it: each impossible value replaced by no value with
    the reason `implausible`; `questionable` + `unlikely-value` added when a value is unusual,
    or when a panel lost a value or is self-contradictory (a diastolic above the systolic) —
    either way the patient is asked to measure again. A reading with nothing to object to is
    returned unchanged (the same object)."""
    flags = set(reading.flags)
    if reading.components:
        judged = [_judge_component(c) for c in reading.components]
        components = tuple(c for c, _ in judged)
        verdicts = {v for _, v in judged}
        if verdicts & {Verdict.IMPOSSIBLE, Verdict.UNLIKELY} or _contradicts(components):
            flags |= _QUESTIONABLE
        if components == reading.components and flags == reading.flags:
            return reading
        return replace(reading, components=components, flags=frozenset(flags))
    if reading.value is None:
        return reading
    found = verdict(reading.kind, reading.value, reading.unit)
    if found == Verdict.IMPOSSIBLE:
        return replace(reading, value=None, absent_reason=AbsentReason.IMPLAUSIBLE)
    # A meter that said HI/LO has already told why its number lies beyond the usual.
    off_scale = {QualityFlag.RESULT_TOO_HIGH, QualityFlag.RESULT_TOO_LOW} & reading.flags
    if found == Verdict.UNLIKELY and not off_scale and not _QUESTIONABLE <= reading.flags:
        return replace(reading, flags=reading.flags | _QUESTIONABLE)
    return reading


def _contradicts(components: tuple[Component, ...]) -> bool:
    """A blood pressure whose diastolic is not below its systolic: one of them is wrong."""
    values = {c.kind: c.value for c in components if c.value is not None}
    sys_, dia = values.get(K.SYSTOLIC_PRESSURE), values.get(K.DIASTOLIC_PRESSURE)
    return sys_ is not None and dia is not None and dia >= sys_


__all__ = ["DEVICE_TIME_AHEAD_LIMIT", "LIMITS", "Limits", "Verdict", "in_table_unit", "judge", "possible", "verdict"]
