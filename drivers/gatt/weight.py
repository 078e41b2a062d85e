"""Weight Scale Service (0x181D): weight measurements and what the scale supports.

Pure codecs in the style of `drivers.gatt.plx`: a parser returns its frozen dataclass or raises
`MalformedPacket` naming the characteristic and the defect, never the values. The packet length
is checked against what the flags promise before any field is read; reserved flag bits are
ignored.

Weights and heights are fixed-point integers on the wire (weight × 0.005 kg or × 0.01 lb,
height × 0.001 m or × 0.1 in, BMI × 0.1). They are decoded through `Decimal`, so 14470 is
72.35 kg and not 72.35000000000001, and are kept in the unit the scale used (`imperial`);
`weight_kg` / `height_m` convert with the exact international pound and inch.

A weight of 0xFFFF is the scale's "measurement unsuccessful": it becomes `unsuccessful=True`
with `weight=None`, never the number 327.675.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.reader import check_uint, open_frame, optional_size

WEIGHT_SCALE_SERVICE_UUID = "0000181d-0000-1000-8000-00805f9b34fb"
WEIGHT_MEASUREMENT_UUID = "00002a9d-0000-1000-8000-00805f9b34fb"
WEIGHT_SCALE_FEATURE_UUID = "00002a9e-0000-1000-8000-00805f9b34fb"

UNKNOWN_USER = 0xFF
"""User ID 255: the scale does not know who stepped on it (a guest, or no user selected)."""

MEASUREMENT_UNSUCCESSFUL = 0xFFFF
"""The raw weight a scale sends when it could not measure."""

_MEASUREMENT = "Weight Measurement"
_FEATURE = "Weight Scale Feature"

_FLAGS = 1
_WEIGHT = 2
_USER = 1
_BMI_HEIGHT = 4
_FEATURE_BITS = 4

_IMPERIAL = 1 << 0
_TIMESTAMP = 1 << 1
_USER_ID = 1 << 2
_BMI_AND_HEIGHT = 1 << 3

# Resolution of the fixed-point fields, by `imperial`.
MASS_STEP = {False: Decimal("0.005"), True: Decimal("0.01")}  # kg, lb
HEIGHT_STEP = {False: Decimal("0.001"), True: Decimal("0.1")}  # m, in
BMI_STEP = Decimal("0.1")
POUND_IN_KG = Decimal("0.45359237")
INCH_IN_M = Decimal("0.0254")

# Weight Scale Feature resolution codes -> (SI step, imperial step).
_WEIGHT_RESOLUTIONS = {
    1: (Decimal("0.5"), Decimal("1")),
    2: (Decimal("0.2"), Decimal("0.5")),
    3: (Decimal("0.1"), Decimal("0.2")),
    4: (Decimal("0.05"), Decimal("0.1")),
    5: (Decimal("0.02"), Decimal("0.05")),
    6: (Decimal("0.01"), Decimal("0.02")),
    7: (Decimal("0.005"), Decimal("0.01")),
}
_HEIGHT_RESOLUTIONS = {
    1: (Decimal("0.01"), Decimal("1")),
    2: (Decimal("0.005"), Decimal("0.5")),
    3: (Decimal("0.001"), Decimal("0.1")),
}


# --- fixed-point helpers (shared with body_composition) ----------------------------------------


def scaled(raw: int, step: Decimal) -> float:
    """raw × step, rounded once to the nearest float (72.35, not 72.35000000000001)."""
    return float(Decimal(raw) * step)


def unscaled(value: float, step: Decimal, what: str, *, largest: int = 0xFFFF) -> int:
    """The raw integer for a value in `step` units, to the nearest step; for the emulator."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"{what}: expected a number")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise ValueError(f"{what}: must be finite")
    raw = int((exact / step).to_integral_value(ROUND_HALF_EVEN))
    if not 0 <= raw <= largest:
        raise ValueError(f"{what}: outside what the field can carry")
    return raw


def _to_si(value: float | None, factor: Decimal, imperial: bool) -> float | None:
    if value is None or not imperial:
        return value
    return float(Decimal(repr(value)) * factor)


# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One Weight Measurement indication (0x2A9D).

    `weight`, `height` are in the scale's units: kg and m, or lb and in when `imperial`.
    `weight` is None exactly when `unsuccessful` (passing None implies it). `timestamp` is None
    both when absent and when the scale sent the all-zero "unknown" time; `timestamp_present`
    tells them apart. BMI and height come as a pair. `user_id` 255 is `UNKNOWN_USER`.
    """

    weight: float | None
    imperial: bool = False
    unsuccessful: bool = False
    timestamp: datetime | None = None
    timestamp_present: bool = False
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None

    def __post_init__(self) -> None:
        if self.weight is None:
            object.__setattr__(self, "unsuccessful", True)
        elif self.unsuccessful:
            raise ValueError("Weight Measurement: an unsuccessful measurement has no weight")
        if self.timestamp is not None and not self.timestamp_present:
            object.__setattr__(self, "timestamp_present", True)
        if (self.bmi is None) != (self.height is None):
            raise ValueError("Weight Measurement: bmi and height come as a pair")

    @property
    def weight_kg(self) -> float | None:
        return _to_si(self.weight, POUND_IN_KG, self.imperial)

    @property
    def height_m(self) -> float | None:
        return _to_si(self.height, INCH_IN_M, self.imperial)

    @property
    def unknown_user(self) -> bool:
        return self.user_id == UNKNOWN_USER


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature (0x2A9E): what the scale can report; read once after connecting.

    `weight_resolution` (bits 3–6) and `height_resolution` (bits 7–9) are the codes as sent:
    0 "not specified", reserved codes kept as they are. The `*_step_*` properties decode them
    to the step in kg, lb, m or in, or None when not specified or reserved.
    """

    timestamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_resolution: int = 0
    height_resolution: int = 0

    def __post_init__(self) -> None:
        check_uint(self.weight_resolution, 4, "Weight Scale Feature weight_resolution")
        check_uint(self.height_resolution, 3, "Weight Scale Feature height_resolution")

    def _step(self, table: dict[int, tuple[Decimal, Decimal]], code: int, imperial: bool) -> float | None:
        steps = table.get(code)
        return None if steps is None else float(steps[imperial])

    @property
    def weight_step_kg(self) -> float | None:
        return self._step(_WEIGHT_RESOLUTIONS, self.weight_resolution, False)

    @property
    def weight_step_lb(self) -> float | None:
        return self._step(_WEIGHT_RESOLUTIONS, self.weight_resolution, True)

    @property
    def height_step_m(self) -> float | None:
        return self._step(_HEIGHT_RESOLUTIONS, self.height_resolution, False)

    @property
    def height_step_in(self) -> float | None:
        return self._step(_HEIGHT_RESOLUTIONS, self.height_resolution, True)


# --- reading ------------------------------------------------------------------------------------


def parse_weight_measurement(data: bytes) -> WeightMeasurement:
    """Decode a Weight Measurement indication."""
    reader, flags = open_frame(data, _MEASUREMENT, _FLAGS)
    reader.expect_length(
        _FLAGS
        + _WEIGHT
        + optional_size(flags, _TIMESTAMP, DATE_TIME_SIZE)
        + optional_size(flags, _USER_ID, _USER)
        + optional_size(flags, _BMI_AND_HEIGHT, _BMI_HEIGHT)
    )
    imperial = bool(flags & _IMPERIAL)
    raw_weight = reader.uint(_WEIGHT)
    timestamp = reader.date_time() if flags & _TIMESTAMP else None
    user_id = reader.uint(_USER) if flags & _USER_ID else None
    bmi = height = None
    if flags & _BMI_AND_HEIGHT:
        bmi = scaled(reader.uint(2), BMI_STEP)
        height = scaled(reader.uint(2), HEIGHT_STEP[imperial])
    return WeightMeasurement(
        weight=None if raw_weight == MEASUREMENT_UNSUCCESSFUL else scaled(raw_weight, MASS_STEP[imperial]),
        imperial=imperial,
        timestamp=timestamp,
        timestamp_present=bool(flags & _TIMESTAMP),
        user_id=user_id,
        bmi=bmi,
        height=height,
    )


def parse_weight_scale_feature(data: bytes) -> WeightScaleFeature:
    """Decode the Weight Scale Feature value (u32; bits 10–31 are reserved and ignored)."""
    reader, bits = open_frame(data, _FEATURE, _FEATURE_BITS)
    reader.expect_length(_FEATURE_BITS)
    return WeightScaleFeature(
        timestamp_supported=bool(bits & 1 << 0),
        multiple_users_supported=bool(bits & 1 << 1),
        bmi_supported=bool(bits & 1 << 2),
        weight_resolution=bits >> 3 & 0xF,
        height_resolution=bits >> 7 & 0x7,
    )


# --- writing (emulator and tests) ---------------------------------------------------------------


def encode_weight_measurement(measurement: WeightMeasurement) -> bytes:
    """The bytes a standard scale would indicate for this measurement; flags follow the fields."""
    imperial = measurement.imperial
    flags = _IMPERIAL if imperial else 0
    if measurement.weight is None:
        raw_weight = MEASUREMENT_UNSUCCESSFUL
    else:  # 0xFFFF itself is taken: it means "unsuccessful"
        raw_weight = unscaled(measurement.weight, MASS_STEP[imperial], "Weight Measurement weight", largest=0xFFFE)
    body = raw_weight.to_bytes(_WEIGHT, "little")
    if measurement.timestamp_present:
        flags |= _TIMESTAMP
        body += encode_date_time(measurement.timestamp)
    if measurement.user_id is not None:
        check_uint(measurement.user_id, 8, "Weight Measurement user_id")
        flags |= _USER_ID
        body += bytes([measurement.user_id])
    if measurement.bmi is not None and measurement.height is not None:
        flags |= _BMI_AND_HEIGHT
        body += unscaled(measurement.bmi, BMI_STEP, "Weight Measurement bmi").to_bytes(2, "little")
        body += unscaled(measurement.height, HEIGHT_STEP[imperial], "Weight Measurement height").to_bytes(2, "little")
    return bytes([flags]) + body


def encode_weight_scale_feature(feature: WeightScaleFeature) -> bytes:
    """The Weight Scale Feature value a scale would serve for these capabilities."""
    bits = (
        (1 << 0 if feature.timestamp_supported else 0)
        | (1 << 1 if feature.multiple_users_supported else 0)
        | (1 << 2 if feature.bmi_supported else 0)
        | feature.weight_resolution << 3
        | feature.height_resolution << 7
    )
    return bits.to_bytes(_FEATURE_BITS, "little")


__all__ = [
    "BMI_STEP",
    "HEIGHT_STEP",
    "INCH_IN_M",
    "MASS_STEP",
    "MEASUREMENT_UNSUCCESSFUL",
    "POUND_IN_KG",
    "UNKNOWN_USER",
    "WEIGHT_MEASUREMENT_UUID",
    "WEIGHT_SCALE_FEATURE_UUID",
    "WEIGHT_SCALE_SERVICE_UUID",
    "WeightMeasurement",
    "WeightScaleFeature",
    "encode_weight_measurement",
    "encode_weight_scale_feature",
    "parse_weight_measurement",
    "parse_weight_scale_feature",
    "scaled",
    "unscaled",
]
