"""Body Composition Service (0x181B): body fat and the other figures of a bio-impedance scale.

Pure codecs in the style of `drivers.gatt.plx` (see there for the rules). The flags field is
16 bits. Body fat percentage is mandatory; 0xFFFF there is "measurement unsuccessful" and
becomes `unsuccessful=True` with `body_fat_percentage=None`, never 6553.5 %. The optional
figures are fixed-point integers decoded through `Decimal` (see `drivers.gatt.weight`), masses
and height in the scale's units (kg and m, or lb and in when `imperial`).

A full record (timestamp, user and all ten figures: 30 bytes) does not fit in one indication at
the default ATT MTU of 23, so the service splits it in two (flags bit 12, "multiple packet
measurement"). Both packets start with the flags and the mandatory body fat percentage and have
bit 12 set; each packet's flags announce only the fields that packet carries, in the usual
order, the first packet taking the leading fields and the second the rest. `parse_…` decodes one
packet as it is (a half has `multiple_packet=True`); `BodyCompositionAssembler` joins the two.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time
from drivers.gatt.reader import check_uint, open_frame
from drivers.gatt.weight import HEIGHT_STEP, INCH_IN_M, MASS_STEP, POUND_IN_KG, UNKNOWN_USER, scaled, unscaled

BODY_COMPOSITION_SERVICE_UUID = "0000181b-0000-1000-8000-00805f9b34fb"
BODY_COMPOSITION_FEATURE_UUID = "00002a9b-0000-1000-8000-00805f9b34fb"
BODY_COMPOSITION_MEASUREMENT_UUID = "00002a9c-0000-1000-8000-00805f9b34fb"

MEASUREMENT_UNSUCCESSFUL = 0xFFFF
"""The raw body fat percentage a scale sends when it could not measure."""

_MEASUREMENT = "Body Composition Measurement"

_FLAGS = 2
_U16 = 2
_HEADER = _FLAGS + _U16  # flags + body fat percentage, in every packet

_IMPERIAL = 1 << 0
_TIMESTAMP = 1 << 1
_MULTIPLE_PACKET = 1 << 12

_PERCENT_STEP = Decimal("0.1")
_IMPEDANCE_STEP = Decimal("0.1")
_KILOJOULE_STEP = Decimal("1")

# Optional fields in wire order: (flag bit, attribute, size on the wire).
_OPTIONAL_FIELDS = (
    (1 << 1, "timestamp", DATE_TIME_SIZE),
    (1 << 2, "user_id", 1),
    (1 << 3, "basal_metabolism", _U16),
    (1 << 4, "muscle_percentage", _U16),
    (1 << 5, "muscle_mass", _U16),
    (1 << 6, "fat_free_mass", _U16),
    (1 << 7, "soft_lean_mass", _U16),
    (1 << 8, "body_water_mass", _U16),
    (1 << 9, "impedance", _U16),
    (1 << 10, "weight", _U16),
    (1 << 11, "height", _U16),
)
_MASSES = frozenset({"muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight"})


def _step(name: str, imperial: bool) -> Decimal:
    if name in _MASSES:
        return MASS_STEP[imperial]
    if name == "height":
        return HEIGHT_STEP[imperial]
    if name == "basal_metabolism":
        return _KILOJOULE_STEP
    return _IMPEDANCE_STEP if name == "impedance" else _PERCENT_STEP


@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement:
    """One Body Composition Measurement (0x2A9C): a whole record, or one half of a split one.

    Percentages in %, `basal_metabolism` in kJ (an int), `impedance` in Ω, masses and height in
    the scale's units (kg/m, or lb/in when `imperial`). `body_fat_percentage` is None exactly
    when `unsuccessful` (passing None implies it). `multiple_packet` is true on a half parsed
    from one packet of a split record; the assembler's joined record is whole and has it false.
    """

    body_fat_percentage: float | None
    imperial: bool = False
    unsuccessful: bool = False
    timestamp: datetime | None = None
    timestamp_present: bool = False
    user_id: int | None = None
    basal_metabolism: int | None = None
    muscle_percentage: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet: bool = False

    def __post_init__(self) -> None:
        if self.body_fat_percentage is None:
            object.__setattr__(self, "unsuccessful", True)
        elif self.unsuccessful:
            raise ValueError("Body Composition Measurement: an unsuccessful measurement has no body fat percentage")
        if self.timestamp is not None and not self.timestamp_present:
            object.__setattr__(self, "timestamp_present", True)

    @property
    def weight_kg(self) -> float | None:
        return _si(self.weight, POUND_IN_KG, self.imperial)

    @property
    def height_m(self) -> float | None:
        return _si(self.height, INCH_IN_M, self.imperial)

    @property
    def unknown_user(self) -> bool:
        return self.user_id == UNKNOWN_USER


def _si(value: float | None, factor: Decimal, imperial: bool) -> float | None:
    if value is None or not imperial:
        return value
    return float(Decimal(repr(value)) * factor)


def _present(measurement: BodyCompositionMeasurement, name: str) -> bool:
    if name == "timestamp":
        return measurement.timestamp_present
    return getattr(measurement, name) is not None


def _field_bits(measurement: BodyCompositionMeasurement) -> int:
    return sum(bit for bit, name, _ in _OPTIONAL_FIELDS if _present(measurement, name))


# --- reading ------------------------------------------------------------------------------------


def parse_body_composition_measurement(data: bytes) -> BodyCompositionMeasurement:
    """Decode one Body Composition Measurement indication (a whole record or one half)."""
    reader, flags = open_frame(data, _MEASUREMENT, _FLAGS)
    reader.expect_length(_HEADER + sum(size for bit, _, size in _OPTIONAL_FIELDS if flags & bit))
    imperial = bool(flags & _IMPERIAL)
    raw_fat = reader.uint(_U16)
    fields: dict[str, object] = {}
    for bit, name, size in _OPTIONAL_FIELDS:
        if not flags & bit:
            continue
        if name == "timestamp":
            fields["timestamp"] = reader.date_time()
            fields["timestamp_present"] = True
        elif name in ("user_id", "basal_metabolism"):
            fields[name] = reader.uint(size)
        else:
            fields[name] = scaled(reader.uint(size), _step(name, imperial))
    return BodyCompositionMeasurement(
        body_fat_percentage=None if raw_fat == MEASUREMENT_UNSUCCESSFUL else scaled(raw_fat, _PERCENT_STEP),
        imperial=imperial,
        multiple_packet=bool(flags & _MULTIPLE_PACKET),
        **fields,  # type: ignore[arg-type]
    )


class BodyCompositionAssembler:
    """Joins the two halves of a split record; pure and stateful, one per connection.

    `feed` each indication in arrival order: it returns a whole measurement (a single-packet
    record, or the join of two halves) or None while the first half waits for its second.

    Two packets are halves of one record when both have the multiple-packet bit, agree on units
    and body fat percentage, and the second carries only fields that come after all of the
    first's. When a half is pending and the next packet cannot be its second half (a
    single-packet record, or the first half of another one), `feed` raises `MalformedPacket`,
    drops the pending half and does *not* consume that packet: feed it again. `finish()` (at
    disconnect) raises if a half is still pending, and drops it. Any `MalformedPacket` leaves the
    assembler empty.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: BodyCompositionMeasurement | None = None

    @property
    def pending(self) -> bool:
        """True while a first half waits for its second."""
        return self._pending is not None

    def feed(self, data: bytes) -> BodyCompositionMeasurement | None:
        first, self._pending = self._pending, None
        part = parse_body_composition_measurement(data)
        if first is None:
            if part.multiple_packet:
                self._pending = part
                return None
            return part
        if not _is_second_half(first, part):
            raise MalformedPacket(_MEASUREMENT, "first packet of a split record not followed by its second; dropped")
        second = {name: getattr(part, name) for _, name, _ in _OPTIONAL_FIELDS if _present(part, name)}
        if part.timestamp_present:
            second["timestamp_present"] = True
        return dataclasses.replace(first, multiple_packet=False, **second)  # type: ignore[arg-type]

    def finish(self) -> None:
        """Call when the link goes down or the transfer ends: a lone half is an error."""
        if self._pending is not None:
            self._pending = None
            raise MalformedPacket(_MEASUREMENT, "split record ended after its first packet; dropped")


def _is_second_half(first: BodyCompositionMeasurement, part: BodyCompositionMeasurement) -> bool:
    if not part.multiple_packet:
        return False
    if part.imperial != first.imperial or part.body_fat_percentage != first.body_fat_percentage:
        return False
    first_bits, second_bits = _field_bits(first), _field_bits(part)
    # Lowest bit of the second half above the highest of the first: disjoint, in wire order.
    return second_bits != 0 and (second_bits & -second_bits) > first_bits


# --- writing (emulator and tests) ---------------------------------------------------------------


def _encoded_fields(measurement: BodyCompositionMeasurement) -> list[tuple[int, bytes]]:
    imperial = measurement.imperial
    fields = []
    for bit, name, size in _OPTIONAL_FIELDS:
        if not _present(measurement, name):
            continue
        value = getattr(measurement, name)
        if name == "timestamp":
            encoded = encode_date_time(value)
        elif name == "user_id":
            check_uint(value, 8, "Body Composition Measurement user_id")
            encoded = bytes([value])
        elif name == "basal_metabolism":
            check_uint(value, 16, "Body Composition Measurement basal_metabolism")
            encoded = value.to_bytes(size, "little")
        else:
            encoded = unscaled(value, _step(name, imperial), f"Body Composition Measurement {name}").to_bytes(
                size, "little"
            )
        fields.append((bit, encoded))
    return fields


def _packet(measurement: BodyCompositionMeasurement, fields: list[tuple[int, bytes]], multiple: bool) -> bytes:
    flags = (_IMPERIAL if measurement.imperial else 0) | (_MULTIPLE_PACKET if multiple else 0)
    flags |= sum(bit for bit, _ in fields)
    if measurement.body_fat_percentage is None:
        raw_fat = MEASUREMENT_UNSUCCESSFUL
    else:  # 0xFFFF itself is taken: it means "unsuccessful"
        raw_fat = unscaled(
            measurement.body_fat_percentage, _PERCENT_STEP, "Body Composition Measurement body fat", largest=0xFFFE
        )
    return flags.to_bytes(_FLAGS, "little") + raw_fat.to_bytes(_U16, "little") + b"".join(f for _, f in fields)


def encode_body_composition_measurement(measurement: BodyCompositionMeasurement) -> bytes:
    """One packet carrying every field of `measurement`; bit 12 set iff `multiple_packet`."""
    return _packet(measurement, _encoded_fields(measurement), measurement.multiple_packet)


def encode_body_composition_packets(measurement: BodyCompositionMeasurement, max_size: int = 20) -> tuple[bytes, ...]:
    """What a scale indicates for a whole record when a packet holds at most `max_size` bytes.

    One packet when it fits (`max_size` is ATT_MTU - 3, 20 at the default MTU), otherwise two
    halves split as the service does: the first takes the leading fields while they fit, the
    second the rest. `measurement.multiple_packet` is ignored: the record is taken as whole.
    """
    fields = _encoded_fields(measurement)
    whole = _packet(measurement, fields, multiple=False)
    if len(whole) <= max_size:
        return (whole,)
    size, cut = _HEADER, 0
    while cut < len(fields) and size + len(fields[cut][1]) <= max_size:
        size += len(fields[cut][1])
        cut += 1
    first, second = _packet(measurement, fields[:cut], True), _packet(measurement, fields[cut:], True)
    if len(second) > max_size:
        raise ValueError("Body Composition Measurement: record does not fit in two packets of that size")
    return first, second


__all__ = [
    "BODY_COMPOSITION_FEATURE_UUID",
    "BODY_COMPOSITION_MEASUREMENT_UUID",
    "BODY_COMPOSITION_SERVICE_UUID",
    "MEASUREMENT_UNSUCCESSFUL",
    "BodyCompositionAssembler",
    "BodyCompositionMeasurement",
    "encode_body_composition_measurement",
    "encode_body_composition_packets",
    "parse_body_composition_measurement",
]
