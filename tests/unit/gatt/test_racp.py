"""Record Access Control Point: the requests a hub writes and the indications that end them."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket
from drivers.gatt.racp import (
    ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED,
    ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS,
    RACP_UUID,
    REQUEST_OP_CODES,
    RacpGeneralResponse,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponseCode,
    abort,
    encode_request,
    encode_response,
    parse_request,
    parse_response,
    parse_sequence_number_operand,
    parse_user_facing_time_operand,
    report_all_records,
    report_number_of_all_records,
    report_number_of_records_from_sequence,
    report_records_from_sequence,
    sequence_number_filter,
    sequence_number_range_filter,
    user_facing_time_filter,
)

RACP = "Record Access Control Point"


def packet(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def test_the_uuid_is_a_full_lowercase_128_bit_string() -> None:
    assert RACP_UUID == "00002a52-0000-1000-8000-00805f9b34fb"


def test_the_att_errors_a_device_may_answer_a_write_with() -> None:
    assert (ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS, ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED) == (0x80, 0x81)


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (report_records_from_sequence(0x0102), "01 03 01 0201"),
        (report_records_from_sequence(0), "01 03 01 0000"),
        (report_all_records(), "01 01"),
        (report_number_of_records_from_sequence(5), "04 03 01 0500"),
        (report_number_of_all_records(), "04 01"),
        (abort(), "03 00"),
        (
            encode_request(
                RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.WITHIN_RANGE, sequence_number_range_filter(3, 9)
            ),
            "01 04 01 0300 0900",
        ),
        (encode_request(RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS), "02 01"),
        (encode_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.LAST_RECORD), "01 06"),
        (
            encode_request(
                RacpOpCode.REPORT_STORED_RECORDS,
                RacpOperator.GREATER_THAN_OR_EQUAL,
                user_facing_time_filter(datetime(2026, 11, 20, 7, 30)),
            ),
            "01 03 02 EA070B14071E00",
        ),
    ],
)
def test_requests_as_written_to_the_control_point(request_bytes: bytes, expected: str) -> None:
    assert request_bytes == packet(expected)


def test_requests_refuse_what_a_device_cannot_be_asked() -> None:
    with pytest.raises(ValueError):
        encode_request(RacpOpCode.RESPONSE_CODE)
    with pytest.raises(ValueError):
        encode_request(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        report_records_from_sequence(0x10000)
    with pytest.raises(ValueError):
        sequence_number_range_filter(9, 3)
    with pytest.raises(TypeError):
        encode_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS, "01")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("06 00 01 01", RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.SUCCESS)),
        ("06 00 01 06", RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.NO_RECORDS_FOUND)),
        ("06 00 03 01", RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, RacpResponseCode.SUCCESS)),
        (
            "06 00 01 08",
            RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.PROCEDURE_NOT_COMPLETED),
        ),
        ("06 00 02 09", RacpGeneralResponse(RacpOpCode.DELETE_STORED_RECORDS, RacpResponseCode.OPERAND_NOT_SUPPORTED)),
        ("05 00 2A 00", RacpNumberOfRecords(42)),
        ("05 00 FF FF", RacpNumberOfRecords(65535)),
    ],
)
def test_responses_that_end_a_procedure(data: str, expected) -> None:
    response = parse_response(packet(data))

    assert response == expected
    assert encode_response(response) == packet(data)


def test_only_success_is_success() -> None:
    assert parse_response(packet("06 00 01 01")).success
    assert not parse_response(packet("06 00 01 06")).success


def test_every_response_code_from_the_specification() -> None:
    assert [code.value for code in RacpResponseCode] == list(range(1, 10))
    for code in RacpResponseCode:
        assert parse_response(bytes([6, 0, 4, code])) == RacpGeneralResponse(
            RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, code
        )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("", "too short for op code and operator"),
        ("06", "too short for op code and operator"),
        ("01 01", "op code is not a response"),
        ("07 00 01 01", "op code is not a response"),
        ("06 01 01 01", "response operator is not null"),
        ("06 00 01", "response needs 4 bytes, got 3"),
        ("06 00 01 01 00", "response needs 4 bytes, got 5"),
        ("05 00 2A", "response needs 4 bytes, got 3"),
        ("06 00 05 01", "response names an op code that is not a request"),
        ("06 00 00 01", "response names an op code that is not a request"),
        ("06 00 01 00", "unknown response code"),
        ("06 00 01 0A", "unknown response code"),
    ],
)
def test_anything_else_is_malformed(data: str, problem: str) -> None:
    with pytest.raises(MalformedPacket) as caught:
        parse_response(packet(data))
    assert caught.value.characteristic == RACP
    assert caught.value.problem == problem


def test_the_device_side_reads_requests_and_their_operands() -> None:
    request = parse_request(report_records_from_sequence(7))

    assert request == RacpRequest(
        RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.GREATER_THAN_OR_EQUAL, packet("01 0700")
    )
    assert parse_sequence_number_operand(request) == (7,)
    ranged = parse_request(packet("01 04 01 0300 0900"))
    assert parse_sequence_number_operand(ranged) == (3, 9)
    timed = parse_request(packet("01 02 02 EA070B14071E00"))
    assert parse_user_facing_time_operand(timed) == datetime(2026, 11, 20, 7, 30)


def test_unknown_op_codes_and_operators_reach_the_emulator_as_ints() -> None:
    request = parse_request(packet("09 0C"))

    assert (request.op_code, request.operator, request.operand) == (9, 12, b"")
    # ... so it can answer as a real device does:
    answer = RacpGeneralResponse(request.op_code, RacpResponseCode.OP_CODE_NOT_SUPPORTED)
    assert encode_response(answer) == packet("06 00 09 02")


@pytest.mark.parametrize(
    "data",
    [
        "01 01",  # "all records" takes no operand
        "01 03 02 0700",  # filter type is user facing time
        "01 03 01 07",  # short operand
        "01 04 01 0300",  # range with one end
        "01 04 01 0900 0300",  # range backwards
        "01 03",  # no operand at all
    ],
)
def test_bad_sequence_operands_are_malformed_so_the_emulator_can_answer_invalid_operand(data: str) -> None:
    with pytest.raises(MalformedPacket):
        parse_sequence_number_operand(parse_request(packet(data)))


@pytest.mark.parametrize(
    "data",
    [
        "01 04 02 EA070B14071E00",  # range on a time: only ≤ / ≥ take one time
        "01 03 01 0700",  # filter type is sequence number
        "01 03 02 EA070B14071E",  # time cut short
        "01 03 02 EA070D14071E00",  # month 13
    ],
)
def test_bad_time_operands_are_malformed(data: str) -> None:
    with pytest.raises(MalformedPacket):
        parse_user_facing_time_operand(parse_request(packet(data)))


def test_a_request_shorter_than_two_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacket):
        parse_request(packet("01"))


# --- properties ---------------------------------------------------------------------------------

KNOWN_PROBLEMS = {
    "too short for op code and operator",
    "op code is not a response",
    "response operator is not null",
    "response needs # bytes, got #",
    "response names an op code that is not a request",
    "unknown response code",
}

responses = st.builds(
    RacpGeneralResponse, st.sampled_from(sorted(REQUEST_OP_CODES)), st.sampled_from(RacpResponseCode)
) | st.builds(RacpNumberOfRecords, st.integers(0, 0xFFFF))


@settings(max_examples=300)
@given(data=st.binary(max_size=8) | st.binary(min_size=4, max_size=4).map(lambda b: b"\x06\x00" + b[2:]))
def test_any_bytes_give_a_typed_response_or_malformed_packet_with_a_value_free_message(data: bytes) -> None:
    try:
        response = parse_response(data)
    except MalformedPacket as problem:
        assert re.sub(r"\d+", "#", problem.problem) in KNOWN_PROBLEMS
    else:
        assert isinstance(response, (RacpGeneralResponse, RacpNumberOfRecords))
        assert encode_response(response) == data


@settings(max_examples=100)
@given(responses)
def test_every_response_round_trips(response) -> None:
    assert parse_response(encode_response(response)) == response


@settings(max_examples=100)
@given(
    op_code=st.sampled_from(sorted(REQUEST_OP_CODES)),
    operator=st.sampled_from(RacpOperator),
    operand=st.binary(max_size=12),
)
def test_every_request_reads_back_on_the_device_side(op_code, operator, operand) -> None:
    assert parse_request(encode_request(op_code, operator, operand)) == RacpRequest(op_code, operator, operand)


@settings(max_examples=100)
@given(data=st.binary(max_size=12))
def test_the_device_side_never_fails_on_a_write_but_with_malformed_packet(data: bytes) -> None:
    try:
        request = parse_request(data)
    except MalformedPacket:
        assert len(data) < 2
        return
    for parse in (parse_sequence_number_operand, parse_user_facing_time_operand):
        try:
            parse(request)
        except MalformedPacket:
            pass


@settings(max_examples=100)
@given(first=st.integers(0, 0xFFFF), last=st.integers(0, 0xFFFF))
def test_sequence_filters_read_back(first: int, last: int) -> None:
    report = RacpOpCode.REPORT_STORED_RECORDS
    single = parse_request(encode_request(report, RacpOperator.LESS_THAN_OR_EQUAL, sequence_number_filter(first)))
    assert parse_sequence_number_operand(single) == (first,)
    low, high = sorted((first, last))
    ranged = parse_request(encode_request(report, RacpOperator.WITHIN_RANGE, sequence_number_range_filter(low, high)))
    assert parse_sequence_number_operand(ranged) == (low, high)
