"""Record Access Control Point (0x2A52): asking a device for its stored records.

Used by the Glucose, Pulse Oximeter (spot-check storage), Continuous Glucose and newer Blood
Pressure services. The hub writes a request (op code, operator, operand); the records come back
as notifications or indications of the service's measurement characteristic, and the procedure
ends with an indication on this characteristic: a response code (`06 00 <request op> <code>`)
or, for "report number of stored records", the count (`05 00 <u16>`).

Pure codecs in the style of `drivers.gatt.plx`: `parse_response` returns a typed response or
raises `MalformedPacket` naming the defect, never the values. `parse_request` and
`encode_response` are the device side, for the emulator.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from drivers.gatt import MalformedPacket
from drivers.gatt.datetime import DATE_TIME_SIZE, encode_date_time, parse_date_time
from drivers.gatt.reader import check_uint

RACP_UUID = "00002a52-0000-1000-8000-00805f9b34fb"

_RACP = "Record Access Control Point"


class RacpOpCode(enum.IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


REQUEST_OP_CODES = frozenset(
    {
        RacpOpCode.REPORT_STORED_RECORDS,
        RacpOpCode.DELETE_STORED_RECORDS,
        RacpOpCode.ABORT_OPERATION,
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)


class RacpOperator(enum.IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL = 0x02
    GREATER_THAN_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class RacpFilterType(enum.IntEnum):
    """The first operand octet for the ≤, ≥ and range operators (Glucose numbering)."""

    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class RacpResponseCode(enum.IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS = 0x80
"""ATT error on the write: a RACP procedure is still running."""
ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED = 0x81
"""ATT error on the write: indications on RACP (or notifications on the records) not enabled."""


# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request as the device receives it. Unknown op codes and operators stay plain ints, so
    the emulator can answer "op code not supported" / "invalid operator" as a real device does."""

    op_code: RacpOpCode | int
    operator: RacpOperator | int = RacpOperator.NULL
    operand: bytes = b""


@dataclass(frozen=True, slots=True)
class RacpGeneralResponse:
    """`06 00 <request op> <code>`: how the request `request_op_code` ended.

    `parse_response` only accepts the four request op codes; a device (the emulator) may also
    answer an unknown op code, given as a plain int, with OP_CODE_NOT_SUPPORTED.
    """

    request_op_code: RacpOpCode | int
    response_code: RacpResponseCode

    @property
    def success(self) -> bool:
        return self.response_code is RacpResponseCode.SUCCESS


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """`05 00 <u16>`: the answer to "report number of stored records"."""

    count: int


RacpResponse = RacpGeneralResponse | RacpNumberOfRecords


# --- requests (hub side) ------------------------------------------------------------------------


def encode_request(
    op_code: RacpOpCode, operator: RacpOperator = RacpOperator.NULL, operand: bytes = b""
) -> bytes:
    """The bytes to write to the RACP; `operand` from the filter helpers below, or raw bytes."""
    if not isinstance(op_code, RacpOpCode) or op_code not in REQUEST_OP_CODES:
        raise ValueError("RACP: op_code must be a request RacpOpCode")
    if not isinstance(operator, RacpOperator):
        raise ValueError("RACP: operator must be a RacpOperator")
    if not isinstance(operand, (bytes, bytearray)):
        raise TypeError("RACP: operand must be bytes")
    return bytes([op_code, operator]) + bytes(operand)


def _u16(value: int, what: str) -> bytes:
    check_uint(value, 16, what)
    return value.to_bytes(2, "little")


def sequence_number_filter(number: int) -> bytes:
    """Operand for ≤ / ≥ on sequence numbers: `01 <u16>`."""
    return bytes([RacpFilterType.SEQUENCE_NUMBER]) + _u16(number, "RACP sequence number")


def sequence_number_range_filter(first: int, last: int) -> bytes:
    """Operand for "within range" on sequence numbers, both ends included: `01 <u16> <u16>`."""
    if first > last:
        raise ValueError("RACP: range must not end before it starts")
    return sequence_number_filter(first) + _u16(last, "RACP sequence number")


def user_facing_time_filter(time: datetime) -> bytes:
    """Operand for ≤ / ≥ on user-facing time (base time + offset): `02 <Date Time>`."""
    return bytes([RacpFilterType.USER_FACING_TIME]) + encode_date_time(time)


def report_all_records() -> bytes:
    return encode_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def report_records_from_sequence(number: int) -> bytes:
    """`01 03 01 <u16>`: every stored record with sequence number ≥ `number`."""
    return encode_request(
        RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.GREATER_THAN_OR_EQUAL, sequence_number_filter(number)
    )


def report_number_of_all_records() -> bytes:
    return encode_request(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def report_number_of_records_from_sequence(number: int) -> bytes:
    """`04 03 01 <u16>`: how many records have sequence number ≥ `number`."""
    return encode_request(
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.GREATER_THAN_OR_EQUAL, sequence_number_filter(number)
    )


def abort() -> bytes:
    """`03 00`: stop the running report; the device answers with a response code."""
    return encode_request(RacpOpCode.ABORT_OPERATION, RacpOperator.NULL)


# --- responses (hub side) -----------------------------------------------------------------------


def parse_response(data: bytes) -> RacpResponse:
    """Decode a RACP indication: a response code or a number of records, nothing else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{_RACP}: expected bytes")
    data = bytes(data)
    if len(data) < 2:
        raise MalformedPacket(_RACP, "too short for op code and operator")
    op_code, operator = data[0], data[1]
    if op_code not in (RacpOpCode.RESPONSE_CODE, RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE):
        raise MalformedPacket(_RACP, "op code is not a response")
    if operator != RacpOperator.NULL:
        raise MalformedPacket(_RACP, "response operator is not null")
    if len(data) != 4:
        raise MalformedPacket(_RACP, f"response needs 4 bytes, got {len(data)}")
    if op_code == RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        return RacpNumberOfRecords(int.from_bytes(data[2:4], "little"))
    if data[2] not in REQUEST_OP_CODES:
        raise MalformedPacket(_RACP, "response names an op code that is not a request")
    try:
        code = RacpResponseCode(data[3])
    except ValueError:
        raise MalformedPacket(_RACP, "unknown response code") from None
    return RacpGeneralResponse(RacpOpCode(data[2]), code)


# --- device side (emulator and tests) -----------------------------------------------------------


def _known(enum_type: type[enum.IntEnum], value: int) -> enum.IntEnum | int:
    try:
        return enum_type(value)
    except ValueError:
        return value


def parse_request(data: bytes) -> RacpRequest:
    """Decode a write to the RACP as a device does; only a write shorter than 2 bytes is refused."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{_RACP}: expected bytes")
    data = bytes(data)
    if len(data) < 2:
        raise MalformedPacket(_RACP, "too short for op code and operator")
    return RacpRequest(_known(RacpOpCode, data[0]), _known(RacpOperator, data[1]), data[2:])


def parse_sequence_number_operand(request: RacpRequest) -> tuple[int, ...]:
    """The sequence number(s) of a ≤ / ≥ / range request: `(n,)` or `(first, last)`.

    Raises `MalformedPacket` when the operand is not a well-formed sequence-number filter for
    the operator (the device then answers "invalid operand" or "operand not supported").
    """
    counts = {
        RacpOperator.LESS_THAN_OR_EQUAL: 1,
        RacpOperator.GREATER_THAN_OR_EQUAL: 1,
        RacpOperator.WITHIN_RANGE: 2,
    }
    count = counts.get(request.operator)  # type: ignore[call-overload]
    if count is None:
        raise MalformedPacket(_RACP, "operator takes no filter operand")
    operand = request.operand
    if not operand or operand[0] != RacpFilterType.SEQUENCE_NUMBER:
        raise MalformedPacket(_RACP, "operand filter type is not sequence number")
    if len(operand) != 1 + 2 * count:
        raise MalformedPacket(_RACP, "operand length does not match its operator")
    values = tuple(int.from_bytes(operand[1 + 2 * i : 3 + 2 * i], "little") for i in range(count))
    if count == 2 and values[0] > values[1]:
        raise MalformedPacket(_RACP, "operand range ends before it starts")
    return values


def parse_user_facing_time_operand(request: RacpRequest) -> datetime | None:
    """The time of a ≤ / ≥ request filtered on user-facing time (None if the time is "unknown")."""
    if request.operator not in (RacpOperator.LESS_THAN_OR_EQUAL, RacpOperator.GREATER_THAN_OR_EQUAL):
        raise MalformedPacket(_RACP, "operator takes no single filter operand")
    operand = request.operand
    if not operand or operand[0] != RacpFilterType.USER_FACING_TIME:
        raise MalformedPacket(_RACP, "operand filter type is not user facing time")
    if len(operand) != 1 + DATE_TIME_SIZE:
        raise MalformedPacket(_RACP, "operand length does not match its operator")
    return parse_date_time(operand[1:], _RACP)


def encode_response(response: RacpResponse) -> bytes:
    """The indication a device sends to end a procedure."""
    if isinstance(response, RacpNumberOfRecords):
        return bytes([RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, RacpOperator.NULL]) + _u16(
            response.count, "RACP number of records"
        )
    if isinstance(response, RacpGeneralResponse):
        check_uint(response.request_op_code, 8, "RACP request op code")
        return bytes(
            [RacpOpCode.RESPONSE_CODE, RacpOperator.NULL, response.request_op_code, response.response_code]
        )
    raise TypeError("RACP: expected a RacpGeneralResponse or RacpNumberOfRecords")


__all__ = [
    "ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED",
    "ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS",
    "RACP_UUID",
    "REQUEST_OP_CODES",
    "RacpFilterType",
    "RacpGeneralResponse",
    "RacpNumberOfRecords",
    "RacpOpCode",
    "RacpOperator",
    "RacpRequest",
    "RacpResponse",
    "RacpResponseCode",
    "abort",
    "encode_request",
    "encode_response",
    "parse_request",
    "parse_response",
    "parse_sequence_number_operand",
    "parse_user_facing_time_operand",
    "report_all_records",
    "report_number_of_all_records",
    "report_number_of_records_from_sequence",
    "report_records_from_sequence",
    "sequence_number_filter",
    "sequence_number_range_filter",
    "user_facing_time_filter",
]
