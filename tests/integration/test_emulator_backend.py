"""The real bleak API over the Bumble virtual radio: scan, connect, GATT, notify, errors."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import establish_connection
from bumble import att, gatt

from drivers.emulator import AttError, BumbleClient, BumbleScanner, EmulatedPeripheral, EmulatedPulseOximeter, VirtualRadio
from drivers.gatt.device_information import (
    MANUFACTURER_NAME_UUID,
    SERIAL_NUMBER_UUID,
    SYSTEM_ID_UUID,
    parse_system_id,
    parse_utf8_string,
)
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.plx import (
    PLX_CONTINUOUS_UUID,
    PLX_FEATURES_UUID,
    PLX_SERVICE_UUID,
    PLX_SPOT_CHECK_UUID,
    PlxContinuous,
    PlxMeasurementStatus,
    parse_continuous,
    parse_features,
    parse_spot_check,
)
from tests.emulated import emulated_oximeter

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
ECHO_UUID = "a0e5c0de-0000-4000-8000-00000000e001"


class EchoPeripheral(EmulatedPeripheral):
    """A plain peripheral with one writable characteristic that reads back what was written."""

    def __init__(self, **options: object) -> None:
        super().__init__(address="F0:22:22:22:22:02", name="Echo", **options)  # type: ignore[arg-type]
        self.written: list[bytes] = []

    def advertised_service_uuids(self) -> list[int]:
        return [0x180D]

    def build_services(self) -> list[gatt.Service]:
        def write(_connection: object, value: bytes) -> None:
            self.written.append(bytes(value))

        echo = gatt.Characteristic(
            ECHO_UUID,
            gatt.Characteristic.Properties.READ
            | gatt.Characteristic.Properties.WRITE
            | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE,
            gatt.CharacteristicValue(read=lambda _c: self.written[-1] if self.written else b"", write=write),
        )
        return [gatt.Service("180D", [echo])]


async def test_scan_with_service_filter_finds_the_oximeter_only() -> None:
    async with emulated_oximeter() as rig:
        await rig.radio.add(EchoPeripheral())
        seen: list[tuple[str, list[str]]] = []
        scanner = BleakScanner(
            lambda device, adv: seen.append((device.address, adv.service_uuids)),
            service_uuids=[PLX_SERVICE_UUID],
            backend=BumbleScanner,
        )
        async with scanner:
            device = await BleakScanner.find_device_by_filter(
                lambda d, adv: PLX_SERVICE_UUID in adv.service_uuids, timeout=2.0, backend=BumbleScanner
            )
        assert device is not None and device.address == rig.oximeter.address and device.name == "Heima PLX 1"
        assert seen, "the detection callback was called"
        assert {address for address, _ in seen} == {rig.oximeter.address}  # the echo device filtered out
        # Bumble echoes the advertising data as scan response: no AD structure comes twice
        assert all(uuids == [PLX_SERVICE_UUID] for _, uuids in seen)
        _, adv = scanner.discovered_devices_and_advertisement_data[rig.oximeter.address]
        assert adv.local_name == "Heima PLX 1" and adv.rssi is not None


async def test_connect_discover_and_read_device_information() -> None:
    async with emulated_oximeter(serial="PLX1-4242", system_id="00A050FFFE123456") as rig:
        device = await BleakScanner.find_device_by_address(rig.oximeter.address, timeout=2.0, backend=BumbleScanner)
        assert device is not None
        async with BleakClient(device, backend=BumbleClient) as client:
            assert client.is_connected and client.name == "Heima PLX 1"
            uuids = {service.uuid for service in client.services}
            assert {PLX_SERVICE_UUID, "0000180a-0000-1000-8000-00805f9b34fb"} <= uuids
            spot = client.services.get_characteristic(PLX_SPOT_CHECK_UUID)
            assert spot is not None and spot.properties == ["indicate"]
            assert [d.uuid for d in spot.descriptors] == ["00002902-0000-1000-8000-00805f9b34fb"]
            manufacturer = parse_utf8_string(bytes(await client.read_gatt_char(MANUFACTURER_NAME_UUID)), "m")
            serial = parse_utf8_string(bytes(await client.read_gatt_char(SERIAL_NUMBER_UUID)), "s")
            system_id = parse_system_id(bytes(await client.read_gatt_char(SYSTEM_ID_UUID)))
            features = parse_features(bytes(await client.read_gatt_char(PLX_FEATURES_UUID)))
        assert (manufacturer, serial, system_id) == ("Heima Test Devices", "PLX1-4242", "00A050FFFE123456")
        assert features.spot_check_timestamp and features.measurement_status_supported
        assert not client.is_connected


async def test_spot_check_indication_arrives_and_parses() -> None:
    async with emulated_oximeter() as rig:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        async with BleakClient(rig.oximeter.address, backend=BumbleClient) as client:
            await client.start_notify(PLX_SPOT_CHECK_UUID, lambda _c, data: received.put_nowait(bytes(data)))
            sent = await rig.oximeter.take_live_spot_check(97, 64, status=PlxMeasurementStatus.from_flags(validated=True))
            measurement = parse_spot_check(await asyncio.wait_for(received.get(), 2.0))
        assert measurement == sent
        assert measurement.spo2 == 97.0 and measurement.pulse_rate == 64.0 and measurement.timestamp is not None
        assert not measurement.measurement_status.from_storage  # live, not from memory
        assert rig.oximeter.indications_sent == 1  # the indication was confirmed


async def test_stored_records_are_indicated_on_subscription_with_from_storage() -> None:
    async with emulated_oximeter(records=[(96, 61), (SpecialValue.NRES, 62)]) as rig:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        async with BleakClient(rig.oximeter.address, backend=BumbleClient) as client:
            await client.start_notify(PLX_SPOT_CHECK_UUID, lambda _c, data: received.put_nowait(bytes(data)))
            first = parse_spot_check(await asyncio.wait_for(received.get(), 2.0))
            second = parse_spot_check(await asyncio.wait_for(received.get(), 2.0))
        assert (first.spo2, second.spo2) == (96.0, SpecialValue.NRES)
        assert first.measurement_status.from_storage and second.measurement_status.from_storage


async def test_continuous_notifications_and_stop_notify() -> None:
    async with emulated_oximeter() as rig:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        async with BleakClient(rig.oximeter.address, backend=BumbleClient) as client:
            await client.start_notify(PLX_CONTINUOUS_UUID, lambda _c, data: received.put_nowait(bytes(data)))
            stream = [PlxContinuous(spo2=95 + i, pulse_rate=70 + i, spo2_fast=95, pulse_rate_fast=71) for i in range(3)]
            rig.oximeter.start_continuous(stream, rate_hz=100.0)
            values = [parse_continuous(await asyncio.wait_for(received.get(), 2.0)) for _ in range(3)]
            assert values == stream
            await client.stop_notify(PLX_CONTINUOUS_UUID)
            await rig.oximeter.send_continuous(stream[0])
            # A round trip over the same link: whatever the device sent before its answer is in.
            await client.read_gatt_char(PLX_FEATURES_UUID)
            assert received.empty()  # unsubscribed: nothing more arrives


async def test_write_with_and_without_response() -> None:
    async with VirtualRadio() as radio:
        echo = await radio.add(EchoPeripheral())
        async with BleakClient(echo.address, backend=BumbleClient) as client:
            await client.write_gatt_char(ECHO_UUID, b"\x01\x02", response=True)
            assert await client.read_gatt_char(ECHO_UUID) == bytearray(b"\x01\x02")
            await client.write_gatt_char(ECHO_UUID, b"\x03", response=False)
            await echo.wait_until(lambda: echo.written[-1:] == [b"\x03"], timeout=1.0)


async def test_att_error_surfaces_as_a_clean_bleak_error() -> None:
    async with emulated_oximeter() as rig:
        rig.oximeter.fail_with_att_error(PLX_FEATURES_UUID, 0x0E)  # unlikely error
        rig.oximeter.fail_with_att_error(PLX_SPOT_CHECK_UUID, 0x81)  # CCCD improperly configured
        async with BleakClient(rig.oximeter.address, backend=BumbleClient) as client:
            with pytest.raises(BleakError) as read_error:
                await client.read_gatt_char(PLX_FEATURES_UUID)
            with pytest.raises(AttError) as subscribe_error:
                await client.start_notify(PLX_SPOT_CHECK_UUID, lambda _c, _d: None)
            assert client.is_connected  # an ATT error does not end the link
        assert isinstance(read_error.value, AttError) and read_error.value.code == 0x0E
        assert "ATT error 0x0E" in str(read_error.value) and PLX_FEATURES_UUID in str(read_error.value)
        assert subscribe_error.value.code == 0x81 and "ATT error 0x81" in str(subscribe_error.value)


async def test_unknown_address_raises_device_not_found() -> None:
    async with VirtualRadio():
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient("F0:99:99:99:99:99", backend=BumbleClient).connect()


async def test_connecting_to_a_silent_device_times_out() -> None:
    async with emulated_oximeter(advertise_on_attach=False) as rig:
        with pytest.raises(TimeoutError):
            await BleakClient(rig.oximeter.address, backend=BumbleClient, timeout=0.2).connect()
        await rig.oximeter.start_advertising()  # the radio is usable again afterwards
        async with BleakClient(rig.oximeter.address, backend=BumbleClient, timeout=2.0) as client:
            assert client.is_connected


async def test_a_cancelled_connection_attempt_leaves_the_radio_usable() -> None:
    async with emulated_oximeter(advertise_on_attach=False) as rig:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):  # the caller gives up; bleak's own timeout is long
                await BleakClient(rig.oximeter.address, backend=BumbleClient, timeout=30.0).connect()
        await rig.oximeter.start_advertising()
        async with BleakClient(rig.oximeter.address, backend=BumbleClient, timeout=2.0) as client:
            assert client.is_connected


async def test_device_disconnecting_fires_the_disconnected_callback() -> None:
    async with emulated_oximeter() as rig:
        gone = asyncio.Event()
        client = BleakClient(rig.oximeter.address, disconnected_callback=lambda _c: gone.set(), backend=BumbleClient)
        await client.connect()
        await rig.oximeter.disconnect()
        await asyncio.wait_for(gone.wait(), 2.0)
        assert not client.is_connected
        with pytest.raises(BleakError):
            await client.read_gatt_char(PLX_FEATURES_UUID)


async def test_a_request_in_flight_when_the_link_drops_fails_cleanly() -> None:
    async with emulated_oximeter() as rig:
        client = BleakClient(rig.oximeter.address, backend=BumbleClient)
        await client.connect()
        assert rig.oximeter.device is not None
        # the device drops the link while our read is outstanding
        read = asyncio.create_task(client.read_gatt_char(PLX_FEATURES_UUID))
        await rig.oximeter.disconnect()
        with pytest.raises(BleakError):
            await asyncio.wait_for(read, 2.0)


async def test_establish_connection_works_with_the_backend() -> None:
    async with emulated_oximeter() as rig:
        device = await BleakScanner.find_device_by_address(rig.oximeter.address, timeout=2.0, backend=BumbleScanner)
        assert device is not None
        client = await establish_connection(BleakClient, device, "oximeter", max_attempts=2, backend=BumbleClient)
        try:
            assert client.is_connected
            assert parse_features(bytes(await client.read_gatt_char(PLX_FEATURES_UUID)))
        finally:
            await client.disconnect()


async def test_mtu_is_configurable() -> None:
    async with VirtualRadio(mtu=100) as radio:
        oximeter = await radio.add(EmulatedPulseOximeter())
        async with BleakClient(oximeter.address, backend=BumbleClient) as client:
            assert client.mtu_size == 100
        await oximeter.start_advertising()  # it went quiet after the first connection
        async with BleakClient(oximeter.address, backend=BumbleClient, mtu=23) as client:
            assert client.mtu_size == 23


async def test_backends_bound_to_a_radio_see_only_that_radio() -> None:
    async with VirtualRadio() as first, VirtualRadio() as second:
        await first.add(EmulatedPulseOximeter(address="F0:00:00:00:00:0A", name="First"))
        await second.add(EmulatedPulseOximeter(address="F0:00:00:00:00:0B", name="Second"))
        found = await BleakScanner.discover(timeout=0.15, backend=first.scanner_backend)
        assert [d.name for d in found] == ["First"]
        found = await BleakScanner.discover(timeout=0.15, backend=BumbleScanner)  # the current: innermost
        assert [d.name for d in found] == ["Second"]
        async with BleakClient("F0:00:00:00:00:0A", backend=first.client_backend) as client:
            assert client.is_connected
