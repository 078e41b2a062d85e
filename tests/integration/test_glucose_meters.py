"""Glucose meters over the virtual radio, through the real bleak API, into the hub's real store.

Each test runs an emulated meter (real ATT/GATT/SMP over Bumble), the LinkManager with the
default registry, and the hub's SQLite store behind the measurement service: the store is the
DeviceHistory the driver asks for the last sequence it already has.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drivers.devices import Registry, default_registry
from drivers.emulator import VirtualRadio
from drivers.emulator.glucose_meter import (
    CONTOUR_CLOCK_UUID,
    DATE_TIME_UUID,
    EmulatedAccuChekGuide,
    EmulatedContourNextOne,
    EmulatedGlucoseMeter,
)
from drivers.gatt.glucose import GlucoseSampleLocation, GlucoseSampleType, GlucoseSensorStatus, Meal
from drivers.gatt.racp import report_all_records, report_records_from_sequence
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider
from hub.domain.measurements import Measurement
from hub.domain.readings import AbsentReason, DeviceIdentity, MeasurementKind, QualityFlag
from hub.services.measurements import MeasurementService
from hub.store import Store
from tests.emulated import FAST_LINK, EventLog

REPORT_LAST = bytes.fromhex("0106")
LOCAL_ZONE = datetime.now().astimezone().tzinfo  # the zone the driver's clock offset uses


@dataclass
class GlucoseRig:
    radio: VirtualRadio
    meter: EmulatedGlucoseMeter
    store: Store
    service: MeasurementService
    provider: FixedPasskeyProvider
    events: EventLog

    def link_manager(self, registry: Registry | None = None, **options: Any) -> LinkManager:
        settings: dict[str, Any] = {
            "scanner_backend": self.radio.scanner_backend,
            "client_backend": self.radio.client_backend,
            "passkey_provider": self.provider,
            "history": self.store,
            "on_event": self.events,
            **FAST_LINK,
            **options,
        }
        return LinkManager(registry or default_registry(), **settings)

    async def session(self, **options: Any) -> DeviceIdentity:
        """One session with the meter (it advertises again first if it stopped)."""
        if not self.meter.is_advertising and not self.meter.is_connected:
            await self.meter.start_advertising()
        identity = await self.link_manager(**options).read_once(self.service.record_reading, timeout=10)
        await self.meter.wait_until(lambda: not self.meter.is_connected)
        return identity

    async def stored(self) -> list[Measurement]:
        """The glucose measurements in the store, oldest record first."""
        found = await self.store.measurements(kind=MeasurementKind.BLOOD_GLUCOSE.value, limit=100_000)
        return sorted(found, key=lambda m: (m.reading.received_at, int(m.reading.record_id or 0)))

    async def values(self) -> list[tuple[str | None, float | None]]:
        return [(m.reading.record_id, m.reading.value) for m in await self.stored()]


@asynccontextmanager
async def glucose_rig(meter: EmulatedGlucoseMeter, data_dir: Path | str) -> AsyncIterator[GlucoseRig]:
    """A running radio with `meter` advertising on it, and an open store in `data_dir`."""
    os.makedirs(data_dir, exist_ok=True)
    store = await Store.open(Path(data_dir) / "heima.db")
    service = MeasurementService(store, destinations_for=lambda kind: (), local_zone=LOCAL_ZONE)
    try:
        async with VirtualRadio() as radio:
            await radio.add(meter)
            yield GlucoseRig(radio, meter, store, service, FixedPasskeyProvider(meter.passkey), EventLog())
    finally:
        await store.close()


def seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


# --- the standard meter ---------------------------------------------------------------------------


async def test_first_download_pairs_and_reads_every_record_with_its_context_and_the_clock_offset(tmp_path) -> None:
    meter = EmulatedGlucoseMeter(drift=timedelta(minutes=2))  # within the limit: the clock is left alone
    meter.add_record(5.6, meal=Meal.PREPRANDIAL)
    meter.add_record(7.9)
    meter.add_record(4.2, meal=Meal.FASTING, location=GlucoseSampleLocation.ALTERNATE_SITE_TEST)
    async with glucose_rig(meter, tmp_path) as rig:
        identity = await rig.session()
        stored = await rig.stored()
        assert await rig.radio.bonded_addresses() == [meter.address]

    assert rig.provider.asked, "the meter needs a passkey"
    assert "pairing-needed" in rig.events.names()
    assert identity.serial == "GLU1-000001" and identity.model == "GLU-1"
    assert [(m.reading.record_id, m.reading.value) for m in stored] == [("1", 5.6), ("2", 7.9), ("3", 4.2)]
    first, second, third = (m.reading for m in stored)
    assert first.kind is MeasurementKind.BLOOD_GLUCOSE and first.unit == "mmol/L"
    assert dict(first.context) == {"specimen": "capillary-whole-blood", "meal": "preprandial"}
    assert dict(second.context) == {"specimen": "capillary-whole-blood"}
    assert dict(third.context)["meal"] == "fasting" and third.body_site == "alternate-site"
    assert first.body_site == "finger"
    assert all(QualityFlag.FROM_STORAGE in m.reading.flags for m in stored)
    for m in stored:  # hub − device: the meter runs 2 minutes ahead
        assert abs(seconds(m.reading.device_clock_offset) + 120) <= 2
        assert m.reading.device_time == meter.records[int(m.reading.record_id) - 1].time
        assert abs((m.effective_time - m.reading.device_time.replace(tzinfo=LOCAL_ZONE)).total_seconds() + 120) <= 2
    assert meter.racp_requests == [REPORT_LAST, report_all_records()]
    assert meter.clock_writes == []


async def test_a_second_download_asks_only_for_newer_records_and_transfers_no_old_one(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    for value in (5.1, 6.2, 7.3):
        meter.add_record(value)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        sent_before = meter.records_sent
        meter.add_record(8.4, meal=Meal.POSTPRANDIAL)
        meter.add_record(9.5)
        meter.racp_requests.clear()
        await rig.session()
        transferred = meter.records_sent - sent_before
        assert meter.racp_requests == [REPORT_LAST, report_records_from_sequence(4)]
        assert transferred == 1 + 2  # the probe of the last record (new: 5), then 4 and 5
        assert await rig.values() == [("1", 5.1), ("2", 6.2), ("3", 7.3), ("4", 8.4), ("5", 9.5)]

        meter.racp_requests.clear()
        sent_before = meter.records_sent
        await rig.session()  # nothing new: only the probe
        assert meter.racp_requests == [REPORT_LAST]
        assert meter.records_sent - sent_before == 1
        assert len(await rig.stored()) == 5


async def test_memory_cleared_with_sequence_restart_downloads_everything_again_without_loss(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    for value in (5.0, 5.5, 6.0, 6.5):
        meter.add_record(value)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        meter.clear_memory(restart_sequence_at=1)
        meter.add_record(10.1)
        meter.add_record(11.2)
        meter.racp_requests.clear()
        await rig.session()
        assert meter.racp_requests == [REPORT_LAST, report_all_records()]  # last 2 < 4: cleared
        stored = await rig.stored()
    assert [(m.reading.record_id, m.reading.value) for m in stored] == [
        ("1", 5.0),
        ("2", 5.5),
        ("3", 6.0),
        ("4", 6.5),
        ("1", 10.1),  # same numbers, other records: the natural key holds the device time too
        ("2", 11.2),
    ]
    assert len({m.natural_key for m in stored}) == 6


async def test_an_interrupted_download_resumes_where_it_stopped_without_loss_or_duplicates(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    for i in range(10):
        meter.add_record(4.0 + i / 2, meal=Meal.PREPRANDIAL if i % 2 else None)
    meter.disconnect_after(1 + 4)  # records over the link: the probe of the last one, then 1..4
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        assert [rid for rid, _ in await rig.values()] == ["1", "2", "3", "4"]
        assert rig.events.events[-1][1]["ended_by"] == "device"
        meter.disconnect_after(None)
        meter.racp_requests.clear()
        await rig.session()
        assert meter.racp_requests == [REPORT_LAST, report_records_from_sequence(5)]
        stored = await rig.stored()
    assert [m.reading.record_id for m in stored] == [str(n) for n in range(1, 11)]
    assert [m.reading.value for m in stored] == [4.0 + i / 2 for i in range(10)]
    assert [dict(m.reading.context).get("meal") for m in stored] == [None, "preprandial"] * 5


async def test_a_record_whose_context_was_cut_off_is_fetched_again_with_it(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    for i in range(4):
        meter.add_record(5.0 + i, meal=Meal.BEDTIME)
    meter.disconnect_after(1 + 3, before_context=True)  # the probe, 1, 2, then 3 without its context
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        assert [rid for rid, _ in await rig.values()] == ["1", "2"]
        meter.disconnect_after(None)
        await rig.session()
        stored = await rig.stored()
    assert [m.reading.record_id for m in stored] == ["1", "2", "3", "4"]
    assert all(dict(m.reading.context)["meal"] == "bedtime" for m in stored)


async def test_a_control_solution_test_is_kept_and_marked_never_as_the_patients_value(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    meter.add_record(6.1)
    meter.add_record(
        5.9, sample_type=GlucoseSampleType.CONTROL_SOLUTION, location=GlucoseSampleLocation.CONTROL_SOLUTION
    )
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        patient, control = (m.reading for m in await rig.stored())
        outbox = await rig.store.outbox_counts()
    assert QualityFlag.CONTROL_SOLUTION not in patient.flags
    assert control.value == 5.9 and QualityFlag.CONTROL_SOLUTION in control.flags
    assert dict(control.context)["specimen"] == "control-solution" and control.body_site is None
    assert not outbox  # no destination here; the e2e test shows it is never sent


async def test_error_statuses_never_become_numbers(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    meter.add_record(2.0, status=GlucoseSensorStatus.from_flags(sample_size_insufficient=True))
    meter.add_record(None, status=GlucoseSensorStatus.from_flags(result_too_high=True))
    meter.add_record(33.3, status=GlucoseSensorStatus.from_flags(result_too_high=True, battery_low=True))
    meter.add_record(7.0, status=GlucoseSensorStatus.from_flags(time_fault=True))
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        too_small, too_high, high_with_number, time_fault = (m.reading for m in await rig.stored())
    assert (too_small.value, too_small.absent_reason) == (None, AbsentReason.ERROR)
    assert QualityFlag.SAMPLE_TOO_SMALL in too_small.flags
    assert (too_high.value, too_high.absent_reason) == (None, AbsentReason.ERROR)
    assert high_with_number.value == 33.3
    assert {QualityFlag.RESULT_TOO_HIGH, QualityFlag.BATTERY_LOW} <= high_with_number.flags
    assert {QualityFlag.DEVICE_TIME_FAULT, QualityFlag.TIME_QUESTIONABLE} <= time_fault.flags


async def test_a_meter_whose_clock_is_not_set_gets_its_records_flagged_not_guessed(tmp_path) -> None:
    meter = EmulatedGlucoseMeter(clock_set=False, current_time_writable=True)
    meter.add_record(6.6)  # the unset clock stamps "unknown"
    meter.add_record(6.7, time=datetime(2000, 1, 1, 0, 5))  # a reset clock's idea of time
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        unknown, reset = (m.reading for m in await rig.stored())
    assert unknown.device_time is None and reset.device_time == datetime(2000, 1, 1, 0, 5)
    for reading in (unknown, reset):
        assert {QualityFlag.DEVICE_CLOCK_NOT_SET, QualityFlag.TIME_QUESTIONABLE} <= reading.flags
        assert reading.device_clock_offset is None
    assert [uuid for uuid, _ in meter.clock_writes] == ["00002a2b-0000-1000-8000-00805f9b34fb"]  # set it after
    assert meter.clock_set


async def test_a_malformed_record_is_skipped_and_the_others_arrive(tmp_path) -> None:
    meter = EmulatedGlucoseMeter()
    meter.add_record(5.5)
    meter.add_raw_record(bytes.fromhex("02 0200 e907"))  # truncated
    meter.add_record(6.5)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        assert await rig.values() == [("1", 5.5), ("3", 6.5)]
    assert rig.events.events[-1][1]["skipped"] == 1


# --- Contour Next One -----------------------------------------------------------------------------


async def test_contour_next_one_pairs_reads_mg_per_dl_and_sets_its_clock_through_its_own_service(tmp_path) -> None:
    meter = EmulatedContourNextOne(drift=timedelta(minutes=-47))
    meter.add_record(mg_per_dl=104, meal=Meal.PREPRANDIAL)
    meter.add_record(mg_per_dl=180)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        stored = await rig.stored()
        found = [name for name, details in rig.events.events if name == "device-found"]
        assert rig.events.events[0][1]["driver"] == "glucose-contour-next-one" and found
    assert rig.provider.asked
    assert [round(m.reading.value, 3) for m in stored] == [round(104 / 18.0156, 3), round(180 / 18.0156, 3)]
    assert all(abs(seconds(m.reading.device_clock_offset) - 47 * 60) <= 2 for m in stored)
    [(uuid, written)] = meter.clock_writes
    assert uuid == CONTOUR_CLOCK_UUID
    assert abs((written - datetime.now()).total_seconds()) <= 5  # the meter's clock is right now
    assert abs(meter.drift.total_seconds()) <= 5


async def test_contour_next_one_refuses_racp_before_its_indications_and_the_driver_never_trips(tmp_path) -> None:
    from bleak import BleakClient

    from drivers.emulator import AttError
    from drivers.gatt.glucose import GLUCOSE_MEASUREMENT_UUID, RACP_UUID

    meter = EmulatedContourNextOne()
    meter.add_record(mg_per_dl=99)
    async with glucose_rig(meter, tmp_path) as rig:
        async with BleakClient(meter.address, backend=rig.radio.client_backend, passkey_provider=rig.provider) as client:
            await client.start_notify(GLUCOSE_MEASUREMENT_UUID, lambda _c, _d: None)
            try:
                await client.write_gatt_char(RACP_UUID, report_all_records(), response=True)
            except AttError as error:
                refused = int(error.args[0])
            else:
                refused = None
        assert refused == 0x81
        await meter.wait_until(lambda: not meter.is_connected)
        await rig.session()  # the driver subscribes first: no 0x81
        assert await rig.values() == [("1", 99 / 18.0156)]


# --- Accu-Chek Guide ------------------------------------------------------------------------------


async def test_accu_chek_guide_sets_its_clock_through_date_time_only_when_it_drifted(tmp_path) -> None:
    meter = EmulatedAccuChekGuide(drift=timedelta(seconds=50))
    meter.add_record(5.4, meal=Meal.CASUAL)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        assert meter.clock_writes == []  # 50 s: left alone
        meter.drift = timedelta(hours=-1, minutes=-3)  # summer time came, the meter did not follow
        meter.add_record(6.4)
        await rig.session()
        stored = await rig.stored()
        assert rig.events.events[0][1]["driver"] == "glucose-accu-chek-guide"
    assert [uuid for uuid, _ in meter.clock_writes] == [DATE_TIME_UUID]
    assert [m.reading.value for m in stored] == [5.4, 6.4]
    assert abs(seconds(stored[0].reading.device_clock_offset) + 50) <= 2
    assert abs(seconds(stored[1].reading.device_clock_offset) - 3780) <= 2  # measured before the write
    assert len(rig.provider.asked) == 1  # paired once, then bonded


async def test_a_clock_the_meter_does_not_let_us_write_is_left_alone_and_corrected_for(tmp_path) -> None:
    meter = EmulatedGlucoseMeter(drift=timedelta(minutes=25), current_time_writable=False)
    meter.add_record(8.8)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session()
        [stored] = await rig.stored()
    assert meter.clock_writes == [] and meter.drift == timedelta(minutes=25)
    assert abs(seconds(stored.reading.device_clock_offset) + 25 * 60) <= 2


async def test_an_untrusted_hub_clock_is_never_written_into_a_meter(tmp_path) -> None:
    meter = EmulatedAccuChekGuide(drift=timedelta(hours=5))
    meter.add_record(5.0)
    async with glucose_rig(meter, tmp_path) as rig:
        await rig.session(registry=default_registry(clock_trusted=lambda: False))
        [stored] = await rig.stored()
    assert meter.clock_writes == []  # a Pi before NTP answered: its own time may be the wrong one
    assert abs(seconds(stored.reading.device_clock_offset) + 5 * 3600) <= 2  # still measured


# --- the screen's progress while the memory downloads --------------------------------------------


def progress(events: EventLog) -> list[tuple[int, int]]:
    return [(d["done"], d["total"]) for name, d in events.events if name == "download-progress"]


async def test_a_memory_download_tells_its_progress_counting_the_records_asked_for(tmp_path, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    meter = EmulatedGlucoseMeter()
    values = [4.0 + i / 10 for i in range(12)]
    for value in values:
        meter.add_record(value)
    async with glucose_rig(meter, tmp_path) as rig:
        registry = default_registry(on_event=rig.events)
        await rig.session(registry=registry)
        first = progress(rig.events)
        assert first[-1] == (12, 12)  # everything asked for: counted from the first record to the last
        assert all(total == 12 for _, total in first)
        assert [done for done, _ in first] == sorted(done for done, _ in first)  # it only goes forward
        assert meter.racp_requests == [REPORT_LAST, report_all_records()]  # no extra request for it

        for value in (9.1, 9.2, 9.3):
            meter.add_record(value)
        rig.events.events.clear()
        await rig.session(registry=registry)
        assert progress(rig.events)[0] == (0, 3) and progress(rig.events)[-1] == (3, 3)  # records 13..15

        rig.events.events.clear()
        await rig.session(registry=registry)  # nothing new: nothing to show
        assert progress(rig.events) == []
    assert not any(f"{v:g}".replace(".", ",") in caplog.text or f"{v:g}" in caplog.text for v in (4.3, 9.2))
