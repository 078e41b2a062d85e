"""Device Information Service: the identity a measurement is attributed to."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.device_information import (
    DEVICE_INFORMATION_UUID,
    FIRMWARE_REVISION_UUID,
    HARDWARE_REVISION_UUID,
    MANUFACTURER_NAME_UUID,
    MODEL_NUMBER_UUID,
    PNP_ID_UUID,
    SERIAL_NUMBER_UUID,
    SOFTWARE_REVISION_UUID,
    SYSTEM_ID_UUID,
    VENDOR_ID_SOURCE_BLUETOOTH_SIG,
    PnpId,
    encode_pnp_id,
    encode_system_id,
    parse_pnp_id,
    parse_system_id,
    parse_utf8_string,
)


def test_uuids_are_full_lowercase_128_bit_strings() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    assert DEVICE_INFORMATION_UUID == "0000180a" + base
    assert [
        MANUFACTURER_NAME_UUID,
        MODEL_NUMBER_UUID,
        SERIAL_NUMBER_UUID,
        HARDWARE_REVISION_UUID,
        FIRMWARE_REVISION_UUID,
        SOFTWARE_REVISION_UUID,
        SYSTEM_ID_UUID,
        PNP_ID_UUID,
    ] == [f"0000{short}{base}" for short in ("2a29", "2a24", "2a25", "2a27", "2a26", "2a28", "2a23", "2a50")]


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"Nonin Medical, Inc.", "Nonin Medical, Inc."),
        (b"BerryMed\x00\x00\x00\x00\x00\x00\x00\x00", "BerryMed"),  # NUL-padded fixed buffer
        (b"3230    ", "3230"),  # space-padded
        (b" 501234567 \x00\x00", "501234567"),
        (b"1.2.3\x00\xff\xfe garbage", "1.2.3"),  # whatever follows a C terminator is not text
        ("Høyde Ø2".encode(), "Høyde Ø2"),
    ],
)
def test_a_dis_string_loses_its_padding(data: bytes, text: str) -> None:
    assert parse_utf8_string(data, "Manufacturer Name String") == text


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x00", b"    ", b"\x00ignored"])
def test_an_empty_dis_string_is_none(data: bytes) -> None:
    assert parse_utf8_string(data, "Serial Number String") is None


def test_invalid_utf8_is_malformed_and_names_the_characteristic_not_the_bytes() -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_utf8_string(b"SN\xff\xfe42", "Serial Number String")
    assert str(caught.value) == "Serial Number String: not valid UTF-8"


def test_the_system_id_is_written_oui_first_although_it_is_sent_manufacturer_id_first() -> None:
    # On the wire: manufacturer-defined id 0x9ABCDEFFFE (40 bits) then OUI 0x123456 (24 bits),
    # each little-endian. Written as an EUI-64: OUI first, most significant octet first.
    assert parse_system_id(bytes.fromhex("DEBC9AFEFF563412")) == "123456FFFE9ABCDE"


def test_a_system_id_round_trips_through_the_emulator_encoder() -> None:
    assert encode_system_id("123456FFFE9ABCDE") == bytes.fromhex("DEBC9AFEFF563412")
    assert parse_system_id(encode_system_id("0002a5fffe0c1a2b")) == "0002A5FFFE0C1A2B"


@pytest.mark.parametrize("length", [0, 6, 7, 9])
def test_a_system_id_that_is_not_eight_bytes_is_malformed(length: int) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_system_id(bytes(length))
    assert caught.value.characteristic == "System ID"


def test_the_pnp_id_gives_vendor_source_vendor_product_and_version() -> None:
    # Bluetooth SIG company 0x0059 (Nordic Semiconductor), product 0x1234, version 0x0110
    pnp = parse_pnp_id(bytes.fromhex("01 5900 3412 1001"))

    assert pnp == PnpId(
        vendor_id_source=VENDOR_ID_SOURCE_BLUETOOTH_SIG, vendor_id=0x0059, product_id=0x1234, product_version=0x0110
    )
    assert encode_pnp_id(pnp) == bytes.fromhex("01 5900 3412 1001")


@pytest.mark.parametrize("length", [0, 6, 8])
def test_a_pnp_id_that_is_not_seven_bytes_is_malformed(length: int) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_pnp_id(bytes(length))
    assert caught.value.characteristic == "PnP ID"


@settings(max_examples=200)
@given(st.binary(max_size=24))
def test_any_bytes_give_a_value_or_malformed_packet_nothing_else(data: bytes) -> None:
    for parse in (lambda d: parse_utf8_string(d, "Model Number String"), parse_system_id, parse_pnp_id):
        try:
            result = parse(data)
        except MalformedPacket:
            continue
        assert result is None or isinstance(result, (str, PnpId))


@settings(max_examples=100)
@given(st.binary(min_size=8, max_size=8))
def test_every_system_id_round_trips(data: bytes) -> None:
    assert encode_system_id(parse_system_id(data)) == data


@settings(max_examples=100)
@given(st.binary(min_size=7, max_size=7))
def test_every_pnp_id_round_trips(data: bytes) -> None:
    assert encode_pnp_id(parse_pnp_id(data)) == data


@settings(max_examples=100)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20))
def test_a_text_without_nul_comes_back_stripped(text: str) -> None:
    assert parse_utf8_string(text.encode(), "Firmware Revision String") == (text.strip() or None)
