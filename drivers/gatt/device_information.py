"""Device Information Service (0x180A): who made the device and which unit it is.

The serial number and System ID end up in dedupe keys and in FHIR `Device.identifier`, so they
are normalised the same way every time: strings lose their NUL padding and surrounding
whitespace, the System ID becomes the EUI-64 in its usual written form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.gatt import MalformedPacket

DEVICE_INFORMATION_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
HARDWARE_REVISION_UUID = "00002a27-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"
SOFTWARE_REVISION_UUID = "00002a28-0000-1000-8000-00805f9b34fb"
SYSTEM_ID_UUID = "00002a23-0000-1000-8000-00805f9b34fb"
PNP_ID_UUID = "00002a50-0000-1000-8000-00805f9b34fb"

VENDOR_ID_SOURCE_BLUETOOTH_SIG = 1
VENDOR_ID_SOURCE_USB_IF = 2

_SYSTEM_ID = "System ID"
_SYSTEM_ID_SIZE = 8
_PNP_ID = "PnP ID"
_PNP_ID_SIZE = 7
_EUI64 = re.compile(r"[0-9A-Fa-f]{16}")


def parse_utf8_string(data: bytes, characteristic: str) -> str | None:
    """A DIS string (manufacturer, model, serial, revisions), or None when the device sent none.

    Devices pad fixed-size buffers with NUL bytes (BerryMed) or spaces and some leave garbage
    after a C terminator, so the text ends at the first NUL and is stripped of surrounding
    whitespace. What is left must be valid UTF-8.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{characteristic}: expected bytes")
    text_bytes = bytes(data).split(b"\x00", 1)[0]
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(characteristic, "not valid UTF-8") from None
    return text.strip() or None


def parse_system_id(data: bytes) -> str:
    """The System ID as 16 upper-case hex digits, the EUI-64 as IEEE and the PHD IG write it.

    On the wire the 8 bytes are one little-endian uint64 that starts (least significant octet
    first) with the 40-bit manufacturer-defined identifier, followed by the 24-bit OUI. The
    written EUI-64 is most significant octet first, OUI first: bytes
    `DE BC 9A FE FF 56 34 12` are "123456FFFE9ABCDE". Cheap devices send all zeros; callers
    decide whether such an identifier is worth keeping.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{_SYSTEM_ID}: expected bytes")
    if len(data) != _SYSTEM_ID_SIZE:
        raise MalformedPacket(_SYSTEM_ID, f"needs {_SYSTEM_ID_SIZE} bytes, got {len(data)}")
    return f"{int.from_bytes(data, 'little'):016X}"


def encode_system_id(eui64: str) -> bytes:
    """The System ID bytes for a 16-hex-digit EUI-64 (OUI first); for the emulator and tests."""
    if not isinstance(eui64, str) or not _EUI64.fullmatch(eui64):
        raise ValueError("System ID: expected 16 hex digits")
    return int(eui64, 16).to_bytes(_SYSTEM_ID_SIZE, "little")


@dataclass(frozen=True, slots=True)
class PnpId:
    """The PnP ID (0x2A50): vendor and product numbers, as in the Bluetooth Device ID profile.

    `vendor_id_source` says whose numbering `vendor_id` uses: 1 Bluetooth SIG company
    identifiers, 2 USB Implementers Forum vendor ids; other values are reserved.
    """

    vendor_id_source: int
    vendor_id: int
    product_id: int
    product_version: int


def parse_pnp_id(data: bytes) -> PnpId:
    """Decode the 7-byte PnP ID: source u8, vendor u16, product u16, version u16."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{_PNP_ID}: expected bytes")
    if len(data) != _PNP_ID_SIZE:
        raise MalformedPacket(_PNP_ID, f"needs {_PNP_ID_SIZE} bytes, got {len(data)}")
    raw = bytes(data)
    return PnpId(
        vendor_id_source=raw[0],
        vendor_id=int.from_bytes(raw[1:3], "little"),
        product_id=int.from_bytes(raw[3:5], "little"),
        product_version=int.from_bytes(raw[5:7], "little"),
    )


def encode_pnp_id(pnp_id: PnpId) -> bytes:
    """The PnP ID bytes; for the emulator and tests."""
    fields = (
        (pnp_id.vendor_id_source, 1),
        (pnp_id.vendor_id, 2),
        (pnp_id.product_id, 2),
        (pnp_id.product_version, 2),
    )
    if any(not 0 <= value < (1 << (8 * size)) for value, size in fields):
        raise ValueError("PnP ID: a field does not fit its size")
    return b"".join(value.to_bytes(size, "little") for value, size in fields)


__all__ = [
    "DEVICE_INFORMATION_UUID",
    "FIRMWARE_REVISION_UUID",
    "HARDWARE_REVISION_UUID",
    "MANUFACTURER_NAME_UUID",
    "MODEL_NUMBER_UUID",
    "PNP_ID_UUID",
    "SERIAL_NUMBER_UUID",
    "SOFTWARE_REVISION_UUID",
    "SYSTEM_ID_UUID",
    "VENDOR_ID_SOURCE_BLUETOOTH_SIG",
    "VENDOR_ID_SOURCE_USB_IF",
    "PnpId",
    "encode_pnp_id",
    "encode_system_id",
    "parse_pnp_id",
    "parse_system_id",
    "parse_utf8_string",
]
