"""Record Access Control Point over the virtual radio, through the real bleak API: the emulated
glucose meter's and pulse oximeter's RACP semantics, and the PLX driver's stored spot-checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from bleak import BleakClient

from drivers.emulator import AttError, EmulatedPulseOximeter, VirtualRadio
from drivers.emulator.glucose_meter import EmulatedGlucoseMeter
from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GLUCOSE_MEASUREMENT_CONTEXT_UUID,
    GLUCOSE_MEASUREMENT_UUID,
    Meal,
    parse_glucose_context,
    parse_glucose_measurement,
)
from drivers.gatt.plx import PLX_FEATURES_UUID, PLX_SPOT_CHECK_UUID, parse_features, parse_spot_check
from drivers.gatt.racp import (
    RACP_UUID,
    RacpGeneralResponse,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpResponseCode,
    abort,
    encode_request,
    parse_response,
    report_all_records,
    report_number_of_all_records,
    report_records_from_sequence,
    sequence_number_filter,
    sequence_number_range_filter,
    user_facing_time_filter,
)
from drivers.pairing import FixedPasskeyProvider
from hub.domain.readings import MeasurementKind, QualityFlag
from hub.services.measurements import MeasurementService
from hub.store import Store
from tests.emulated import CollectingSink, emulated_oximeter, until

OK = RacpResponseCode.SUCCESS


@dataclass
class RacpClient:
    """A bleak client subscribed to a device's records and its RACP."""

    client: BleakClient
    packets: list[tuple[str, bytes]] = field(default_factory=list)
    responses: asyncio.Queue = field(default_factory=asyncio.Queue)

    def collector(self, kind: str):
        def on_value(_characteristic, data: bytearray) -> None:
            if kind == "racp":
                self.responses.put_nowait(bytes(data))
            else:
                self.packets.append((kind, bytes(data)))

        return on_value

    async def ask(self, request: bytes, timeout: float = 5.0):
        await self.client.write_gatt_char(RACP_UUID, request, response=True)
        async with asyncio.timeout(timeout):
            data = await self.responses.get()
        try:
            return parse_response(data)
        except MalformedPacket:
            return data  # e.g. the answer to an unknown op code, which names no request

    def sequences(self) -> list[int]:
        return [parse_glucose_measurement(data).sequence_number for kind, data in self.packets if kind == "measurement"]


@asynccontextmanager
async def connected(device, *, subscribe: tuple[tuple[str, str], ...]) -> AsyncIterator[RacpClient]:
    async with VirtualRadio(passkey_provider=FixedPasskeyProvider(device.passkey)) as radio:
        await radio.add(device)
        async with BleakClient(device.address, backend=radio.client_backend) as client:
            racp = RacpClient(client)
            for kind, uuid in subscribe:
                await client.start_notify(uuid, racp.collector(kind))
            yield racp


GLUCOSE_SUBSCRIPTIONS = (
    ("measurement", GLUCOSE_MEASUREMENT_UUID),
    ("context", GLUCOSE_MEASUREMENT_CONTEXT_UUID),
    ("racp", RACP_UUID),
)


def meter_with(count: int, **options) -> EmulatedGlucoseMeter:
    meter = EmulatedGlucoseMeter(**options)
    for i in range(count):
        meter.add_record(5.0 + i / 10, time=datetime(2025, 6, 1, 8, 0) + timedelta(hours=i), meal=Meal.PREPRANDIAL if i == 1 else None)
    return meter


def report(operator: RacpOperator, operand: bytes = b"") -> bytes:
    return encode_request(RacpOpCode.REPORT_STORED_RECORDS, operator, operand)


# --- glucose meter RACP -----------------------------------------------------------------------


async def test_every_report_operator_picks_the_records_the_profile_says() -> None:
    async with connected(meter_with(5), subscribe=GLUCOSE_SUBSCRIPTIONS) as racp:
        cases = [
            (report_all_records(), [1, 2, 3, 4, 5]),
            (report(RacpOperator.FIRST_RECORD), [1]),
            (report(RacpOperator.LAST_RECORD), [5]),
            (report_records_from_sequence(4), [4, 5]),
            (report(RacpOperator.LESS_THAN_OR_EQUAL, sequence_number_filter(2)), [1, 2]),
            (report(RacpOperator.WITHIN_RANGE, sequence_number_range_filter(2, 3)), [2, 3]),
            (report(RacpOperator.GREATER_THAN_OR_EQUAL, user_facing_time_filter(datetime(2025, 6, 1, 11, 0))), [4, 5]),
        ]
        for request, expected in cases:
            racp.packets.clear()
            assert await racp.ask(request) == RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, OK)
            assert racp.sequences() == expected, request.hex()
        racp.packets.clear()
        await racp.ask(report_records_from_sequence(2))
        # record 2 has a context: it follows its measurement, with the same sequence number
        kinds = [kind for kind, _ in racp.packets]
        assert kinds == ["measurement", "context", "measurement", "measurement", "measurement"]
        assert parse_glucose_context(racp.packets[1][1]).sequence_number == 2
        assert parse_glucose_measurement(racp.packets[0][1]).context_follows


async def test_counts_no_records_delete_and_refusals() -> None:
    async with connected(meter_with(3), subscribe=GLUCOSE_SUBSCRIPTIONS) as racp:
        assert await racp.ask(report_number_of_all_records()) == RacpNumberOfRecords(3)
        assert await racp.ask(report_records_from_sequence(9)) == RacpGeneralResponse(
            RacpOpCode.REPORT_STORED_RECORDS, RacpResponseCode.NO_RECORDS_FOUND
        )
        delete_first = encode_request(RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.FIRST_RECORD)
        assert await racp.ask(delete_first) == RacpGeneralResponse(RacpOpCode.DELETE_STORED_RECORDS, OK)
        assert await racp.ask(report_number_of_all_records()) == RacpNumberOfRecords(2)
        refusals = [
            (report(RacpOperator.NULL), RacpResponseCode.INVALID_OPERATOR),
            (report(RacpOperator.ALL_RECORDS, b"\x01"), RacpResponseCode.INVALID_OPERAND),
            (report(RacpOperator.GREATER_THAN_OR_EQUAL, b"\x07\x01\x00"), RacpResponseCode.OPERAND_NOT_SUPPORTED),
            (report(RacpOperator.GREATER_THAN_OR_EQUAL, b"\x01\x01"), RacpResponseCode.INVALID_OPERAND),
        ]
        for request, code in refusals:
            response = await racp.ask(request)
            assert isinstance(response, RacpGeneralResponse) and response.response_code is code, request.hex()
        assert await racp.ask(bytes([0x09, 0x01])) == bytes.fromhex("06 00 09 02")  # op code not supported
        assert await racp.ask(abort()) == RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, OK)  # nothing running


async def test_a_meter_without_the_last_operator_or_delete_says_so() -> None:
    meter = meter_with(2, supported_operators=frozenset({RacpOperator.ALL_RECORDS}), supports_delete=False)
    async with connected(meter, subscribe=GLUCOSE_SUBSCRIPTIONS) as racp:
        response = await racp.ask(report(RacpOperator.LAST_RECORD))
        assert response.response_code is RacpResponseCode.OPERATOR_NOT_SUPPORTED
        response = await racp.ask(encode_request(RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS))
        assert response.response_code is RacpResponseCode.OP_CODE_NOT_SUPPORTED


async def test_a_second_request_during_a_report_is_refused_with_0x80_and_abort_stops_it() -> None:
    async with connected(meter_with(40, record_interval=0.02), subscribe=GLUCOSE_SUBSCRIPTIONS) as racp:
        await racp.client.write_gatt_char(RACP_UUID, report_all_records(), response=True)
        await until(racp.sequences, what="the first record of the report")  # the report is under way
        with pytest.raises(AttError) as refused:
            await racp.client.write_gatt_char(RACP_UUID, report_number_of_all_records(), response=True)
        assert int(refused.value.args[0]) == 0x80
        assert await racp.ask(abort()) == RacpGeneralResponse(RacpOpCode.ABORT_OPERATION, OK)
        assert 0 < len(racp.sequences()) < 40
        assert racp.responses.empty()  # the aborted report sends no response of its own


@pytest.mark.parametrize(
    ("subscribe", "request_"),
    [
        ((("measurement", GLUCOSE_MEASUREMENT_UUID),), report_all_records()),  # RACP indications off
        ((("racp", RACP_UUID),), report_all_records()),  # record notifications off
    ],
    ids=["racp-cccd-off", "measurement-cccd-off"],
)
async def test_racp_before_its_cccds_is_refused_with_0x81(subscribe, request_) -> None:
    async with connected(meter_with(1), subscribe=subscribe) as racp:
        with pytest.raises(AttError) as refused:
            await racp.client.write_gatt_char(RACP_UUID, request_, response=True)
    assert int(refused.value.args[0]) == 0x81


# --- pulse oximeter with spot-check storage -----------------------------------------------------


def storing_oximeter(**options) -> EmulatedPulseOximeter:
    oximeter = EmulatedPulseOximeter(spot_check_storage=True, **options)
    for i, (spo2, pulse) in enumerate([(97, 64), (95, 70), (93, 77)]):
        oximeter.record_spot_check(spo2, pulse, timestamp=datetime(2025, 6, 2, 9, i))
    return oximeter


async def test_the_oximeter_keeps_stored_spot_checks_until_asked_through_racp() -> None:
    oximeter = storing_oximeter()
    plx = (("spot", PLX_SPOT_CHECK_UUID), ("racp", RACP_UUID))
    async with connected(oximeter, subscribe=plx) as racp:
        assert parse_features(bytes(await racp.client.read_gatt_char(PLX_FEATURES_UUID))).spot_check_storage
        assert await racp.ask(report_number_of_all_records()) == RacpNumberOfRecords(3)
        # nothing on subscription: records wait for a request (one sent on subscription would have
        # arrived before this answer, which the device sent after it over the same link)
        assert racp.packets == []
        assert await racp.ask(report(RacpOperator.LAST_RECORD)) == RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, OK)
        assert [parse_spot_check(d).spo2 for _, d in racp.packets] == [93]
        racp.packets.clear()
        assert await racp.ask(report_all_records()) == RacpGeneralResponse(RacpOpCode.REPORT_STORED_RECORDS, OK)
        spot_checks = [parse_spot_check(d) for _, d in racp.packets]
        assert [s.spo2 for s in spot_checks] == [97, 95, 93]
        assert all(s.measurement_status is not None and s.measurement_status.from_storage for s in spot_checks)
        response = await racp.ask(report_records_from_sequence(2))
        assert response.response_code is RacpResponseCode.OPERATOR_NOT_SUPPORTED  # no record numbers


async def test_the_oximeter_refuses_racp_before_its_indications() -> None:
    async with connected(storing_oximeter(), subscribe=(("spot", PLX_SPOT_CHECK_UUID),)) as racp:
        with pytest.raises(AttError) as refused:
            await racp.client.write_gatt_char(RACP_UUID, report_all_records(), response=True)
    assert int(refused.value.args[0]) == 0x81


async def test_the_plx_driver_fetches_stored_spot_checks_and_the_store_keeps_each_once(tmp_path) -> None:
    store = await Store.open(tmp_path / "heima.db")
    service = MeasurementService(store, destinations_for=lambda kind: (), local_zone=datetime.now().astimezone().tzinfo)
    try:
        async with emulated_oximeter(spot_check_storage=True, requires_bonding=True) as rig:
            for i, (spo2, pulse) in enumerate([(97, 64), (95, 70)]):
                rig.oximeter.record_spot_check(spo2, pulse, timestamp=datetime(2025, 6, 2, 9, i))
            link = rig.link_manager(cooldown=0.0)
            await link.read_once(service.record_reading, timeout=10)
            rig.oximeter.record_spot_check(91, 80, timestamp=datetime(2025, 6, 2, 9, 30))
            await rig.oximeter.wait_until(lambda: not rig.oximeter.is_connected)
            await rig.oximeter.start_advertising()
            await link.read_once(service.record_reading, timeout=10)
            assert rig.oximeter.racp_requests == [report_all_records()] * 2  # "all", every time
        stored = await store.measurements(kind=MeasurementKind.OXYGEN_SATURATION.value)
    finally:
        await store.close()
    assert sorted(m.reading.value for m in stored) == [91.0, 95.0, 97.0]  # the re-sent two kept once
    assert all(QualityFlag.FROM_STORAGE in m.reading.flags for m in stored)


async def test_the_plx_driver_ends_cleanly_when_the_oximeter_hangs_up_mid_report() -> None:
    async with emulated_oximeter(spot_check_storage=True) as rig:
        for i in range(5):
            rig.oximeter.record_spot_check(90 + i, 60 + i, timestamp=datetime(2025, 6, 2, 10, i))
        rig.oximeter.disconnect_after(2)
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=10)
    assert [r.value for r in sink.readings] == [90.0, 60.0, 91.0, 61.0]


async def test_an_oximeter_storing_without_timestamps_is_not_asked() -> None:
    from drivers.emulator.pulse_oximeter import DEFAULT_FEATURES
    from dataclasses import replace

    features = replace(DEFAULT_FEATURES, spot_check_timestamp=False)
    async with emulated_oximeter(spot_check_storage=True, features=features) as rig:
        rig.oximeter.record_spot_check(96, 66, timestamp=False)
        sink = CollectingSink()
        await rig.link_manager().read_once(sink, timeout=10)
        assert rig.oximeter.racp_requests == []
    assert sink.readings == []
