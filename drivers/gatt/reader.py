"""The shared reading kit of every pure codec: a sequential reader and the bit-field helpers.

Public so that the SIG codecs here and the vendors' frame codecs in `drivers/frames` read bytes
the same way and fail the same way: a packet that does not hold what its flags promise raises
`MalformedPacket` naming the characteristic (never the values), and nothing else escapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, parse_date_time
from drivers.gatt.ieee11073 import Number, decode_sfloat

SFLOAT_SIZE = 2


class Reader:
    """Sequential little-endian reads over one packet.

    `expect_length` checks the whole length against what the flags promise before any field is
    read, so the reads after it can never run off the end.
    """

    __slots__ = ("_data", "_offset", "_characteristic")

    def __init__(self, data: bytes, characteristic: str) -> None:
        self._data = data
        self._offset = 0
        self._characteristic = characteristic

    @property
    def characteristic(self) -> str:
        return self._characteristic

    def expect_length(self, needed: int) -> None:
        got = len(self._data)
        if got < needed:
            raise MalformedPacket(
                self._characteristic, f"too short for the fields its flags promise (needs {needed} bytes, got {got})"
            )
        if got > needed:
            raise MalformedPacket(
                self._characteristic, f"{got - needed} trailing byte(s) after the fields its flags promise"
            )

    def uint(self, size: int) -> int:
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return int.from_bytes(chunk, "little")

    def sfloat(self) -> Number:
        return decode_sfloat(self.uint(SFLOAT_SIZE))

    def date_time(self) -> datetime | None:
        chunk = self._data[self._offset : self._offset + DATE_TIME_SIZE]
        self._offset += DATE_TIME_SIZE
        return parse_date_time(chunk, self._characteristic)


def as_bytes(data: Any, characteristic: str) -> bytes:
    """The packet as immutable bytes; anything that is not bytes-like is a caller's bug."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{characteristic}: expected bytes")
    return bytes(data)


def open_frame(data: bytes, characteristic: str, flags_size: int) -> tuple[Reader, int]:
    """Check the input type and read the leading flags field (1 or 2 bytes)."""
    data = as_bytes(data, characteristic)
    if len(data) < flags_size:
        raise MalformedPacket(characteristic, "too short for its flags field")
    reader = Reader(data, characteristic)
    return reader, reader.uint(flags_size)


def optional_size(flags: int, bit: int, size: int) -> int:
    """The size of a field that is present only when `bit` is set in `flags`."""
    return size if flags & bit else 0


def check_uint(value: int, bits: int, what: str) -> None:
    """Refuse to encode anything but an int that fits in `bits` bits (bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"{what} must be an int in 0..0x{(1 << bits) - 1:X}")


def flags_of(raw: int, table: tuple[tuple[str, int], ...]) -> dict[str, bool]:
    return {name: bool(raw >> bit & 1) for name, bit in table}


def raw_of(flags: dict[str, bool], table: tuple[tuple[str, int], ...], what: str) -> int:
    known = {name for name, _ in table}
    unknown = sorted(set(flags) - known)
    if unknown:
        raise TypeError(f"{what}: unknown flag(s) {', '.join(unknown)}")
    return sum(1 << bit for name, bit in table if flags.get(name))


def check_consistent(status: Any, table: tuple[tuple[str, int], ...], bits: int, what: str) -> None:
    """The bools are a view of `raw`; refuse a hand-built status where they disagree."""
    check_uint(status.raw, bits, f"{what} raw")
    if any(getattr(status, name) != bool(status.raw >> bit & 1) for name, bit in table):
        raise ValueError(f"{what}: flag fields disagree with raw; build it with from_raw or from_flags")


__all__ = [
    "SFLOAT_SIZE",
    "Reader",
    "as_bytes",
    "check_consistent",
    "check_uint",
    "flags_of",
    "open_frame",
    "optional_size",
    "raw_of",
]
