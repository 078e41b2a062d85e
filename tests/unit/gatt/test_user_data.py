"""User Data Service codecs: the consent code a multi-user scale asks for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.user_data import (
    DATABASE_CHANGE_INCREMENT_UUID,
    USER_CONTROL_POINT_UUID,
    USER_DATA_SERVICE_UUID,
    USER_INDEX_UUID,
    ControlPointResponse,
    UserControlResult,
    encode_consent,
    encode_control_point_response,
    encode_register_new_user,
    parse_control_point_response,
)


def test_uuids() -> None:
    assert USER_DATA_SERVICE_UUID[4:8] == "181c"
    assert USER_CONTROL_POINT_UUID[4:8] == "2a9f"
    assert USER_INDEX_UUID[4:8] == "2a9a"
    assert DATABASE_CHANGE_INCREMENT_UUID[4:8] == "2a99"


def test_consent_fixture() -> None:
    assert encode_consent(1, 1234) == bytes.fromhex("0201d204")
    assert encode_consent(0, 0) == bytes.fromhex("02000000")
    assert encode_consent(3, 9999) == bytes.fromhex("02030f27")


def test_register_new_user_fixture() -> None:
    assert encode_register_new_user(1234) == bytes.fromhex("01d204")


@pytest.mark.parametrize("code", [-1, 10000, 65535])
def test_consent_code_has_four_digits(code: int) -> None:
    with pytest.raises(ValueError):
        encode_consent(1, code)
    with pytest.raises(ValueError):
        encode_register_new_user(code)


@pytest.mark.parametrize("index", [-1, 255, 256])
def test_user_index_range(index: int) -> None:
    with pytest.raises(ValueError):
        encode_consent(index, 1)


@pytest.mark.parametrize(
    ("hex_text", "expected"),
    [
        ("200201", ControlPointResponse(0x02, UserControlResult.SUCCESS)),
        ("200205", ControlPointResponse(0x02, UserControlResult.USER_NOT_AUTHORIZED)),
        ("200203", ControlPointResponse(0x02, UserControlResult.INVALID_PARAMETER)),
        ("200302", ControlPointResponse(0x03, UserControlResult.OP_CODE_NOT_SUPPORTED)),
        ("200104", ControlPointResponse(0x01, UserControlResult.OPERATION_FAILED)),
        ("20010107", ControlPointResponse(0x01, UserControlResult.SUCCESS, user_index=7)),
    ],
)
def test_response_fixtures(hex_text: str, expected: ControlPointResponse) -> None:
    assert parse_control_point_response(bytes.fromhex(hex_text)) == expected


def test_success_property() -> None:
    assert parse_control_point_response(bytes.fromhex("200201")).success
    assert not parse_control_point_response(bytes.fromhex("200205")).success


@pytest.mark.parametrize("hex_text", ["", "20", "2002", "210201", "200200", "200206", "20020100", "200101", "2001010700"])
def test_malformed_responses(hex_text: str) -> None:
    with pytest.raises(MalformedPacket):
        parse_control_point_response(bytes.fromhex(hex_text))


@given(st.binary(max_size=8))
def test_any_bytes_parse_or_are_malformed(data: bytes) -> None:
    try:
        response = parse_control_point_response(data)
    except MalformedPacket as error:
        assert error.characteristic == "User Control Point"
        return
    assert isinstance(response.result, UserControlResult)
    assert encode_control_point_response(response.request_op, response.result, response.user_index) == data


@given(st.integers(0, 254), st.integers(0, 9999))
def test_consent_round_trip(index: int, code: int) -> None:
    data = encode_consent(index, code)
    assert data[0] == 0x02 and data[1] == index and int.from_bytes(data[2:], "little") == code
