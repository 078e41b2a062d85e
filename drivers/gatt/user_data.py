"""User Data Service (0x181C): the consent code a multi-user scale asks for.

A scale with the User Data Service keeps each person's data behind a 4-digit consent code
(0..9999). The collector writes "Consent" (op 0x02, user index u8, code u16) to the User
Control Point 0x2A9F and the scale indicates a response: 0x20, the request op code, a result,
and for a successful "Register New User" (op 0x01, code u16) the new user's index.

Pure codecs in the style of `drivers.gatt.weight`: a parser returns its frozen dataclass or
raises `MalformedPacket` naming the characteristic and the defect, never the values (a consent
code must never reach a log).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from drivers.gatt import MalformedPacket

USER_DATA_SERVICE_UUID = "0000181c-0000-1000-8000-00805f9b34fb"
DATABASE_CHANGE_INCREMENT_UUID = "00002a99-0000-1000-8000-00805f9b34fb"
USER_INDEX_UUID = "00002a9a-0000-1000-8000-00805f9b34fb"
USER_CONTROL_POINT_UUID = "00002a9f-0000-1000-8000-00805f9b34fb"

MAX_CONSENT_CODE = 9999
UNKNOWN_USER_INDEX = 0xFF

_CONTROL_POINT = "User Control Point"


class UserControlOp(IntEnum):
    REGISTER_NEW_USER = 0x01
    CONSENT = 0x02
    DELETE_USER_DATA = 0x03
    RESPONSE = 0x20


class UserControlResult(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    USER_NOT_AUTHORIZED = 0x05


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    """The scale's answer to a User Control Point request."""

    request_op: int
    result: UserControlResult
    user_index: int | None = None  # a successful Register New User only

    @property
    def success(self) -> bool:
        return self.result is UserControlResult.SUCCESS


def _check_code(consent_code: int) -> None:
    if not 0 <= consent_code <= MAX_CONSENT_CODE:
        raise ValueError("a consent code has 4 digits: 0..9999")


def encode_consent(user_index: int, consent_code: int) -> bytes:
    """Consent: op 0x02, user index u8, consent code u16."""
    if not 0 <= user_index <= 0xFE:
        raise ValueError("a user index is 0..254")
    _check_code(consent_code)
    return struct.pack("<BBH", UserControlOp.CONSENT, user_index, consent_code)


def encode_register_new_user(consent_code: int) -> bytes:
    """Register New User: op 0x01, consent code u16."""
    _check_code(consent_code)
    return struct.pack("<BH", UserControlOp.REGISTER_NEW_USER, consent_code)


def encode_control_point_response(request_op: int, result: int, user_index: int | None = None) -> bytes:
    """A response indication (what a scale sends; for the emulator)."""
    data = bytes([UserControlOp.RESPONSE, request_op, result])
    return data if user_index is None else data + bytes([user_index])


def parse_control_point_response(data: bytes) -> ControlPointResponse:
    """`20 <request op> <result> [user index]`; the index only after a successful registration."""
    data = bytes(data)
    if len(data) < 3:
        raise MalformedPacket(_CONTROL_POINT, f"needs at least 3 bytes, got {len(data)}")
    if data[0] != UserControlOp.RESPONSE:
        raise MalformedPacket(_CONTROL_POINT, "not a response op code")
    request_op, raw_result = data[1], data[2]
    try:
        result = UserControlResult(raw_result)
    except ValueError:
        raise MalformedPacket(_CONTROL_POINT, "unknown result code") from None
    with_index = request_op == UserControlOp.REGISTER_NEW_USER and result is UserControlResult.SUCCESS
    expected = 4 if with_index else 3
    if len(data) != expected:
        raise MalformedPacket(_CONTROL_POINT, f"needs {expected} bytes, got {len(data)}")
    return ControlPointResponse(request_op=request_op, result=result, user_index=data[3] if with_index else None)


__all__ = [
    "DATABASE_CHANGE_INCREMENT_UUID",
    "MAX_CONSENT_CODE",
    "UNKNOWN_USER_INDEX",
    "USER_CONTROL_POINT_UUID",
    "USER_DATA_SERVICE_UUID",
    "USER_INDEX_UUID",
    "ControlPointResponse",
    "UserControlOp",
    "UserControlResult",
    "encode_consent",
    "encode_control_point_response",
    "encode_register_new_user",
    "parse_control_point_response",
]
