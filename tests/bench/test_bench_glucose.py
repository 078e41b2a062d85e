"""A glucose meter's memory through the emulated link: a first download of 1,000 stored records
into the hub's store, then incremental downloads that must transfer no old record.

Baseline in the same run: the same second download by a session without the hub's history
(what a driver that always asks for "all records" does), which sends the whole memory again and
leaves the dedupe to the store.
"""

from __future__ import annotations

import time
import pytest

from drivers.emulator.glucose_meter import EmulatedGlucoseMeter
from drivers.gatt.glucose import Meal
from hub.domain.readings import MeasurementKind
from tests.integration.test_glucose_meters import glucose_rig

pytestmark = pytest.mark.bench
RECORDS = 1_000
NEW = 10


async def test_download_1000_records_then_incrementally(tmp_path, report) -> None:
    meter = EmulatedGlucoseMeter()
    for i in range(RECORDS):
        meter.add_record(4.0 + (i % 80) / 10, meal=Meal.PREPRANDIAL if i % 3 == 0 else None)
    async with glucose_rig(meter, tmp_path) as rig:
        started = time.perf_counter()
        await rig.session(settle=0.05)
        first = time.perf_counter() - started
        stored_first = len(await rig.stored())

        for i in range(NEW):
            meter.add_record(6.0 + i / 10)
        mark = len(meter.sent_sequences)
        started = time.perf_counter()
        await rig.session(settle=0.05)
        second = time.perf_counter() - started
        second_sent = meter.sent_sequences[mark:]
        probe, downloaded = second_sent[:1], second_sent[1:]
        stored_second = len(await rig.stored())

        mark = len(meter.sent_sequences)
        started = time.perf_counter()
        await rig.session(settle=0.05)
        third = time.perf_counter() - started
        third_sent = meter.sent_sequences[mark:]

        mark = len(meter.sent_sequences)
        started = time.perf_counter()
        await rig.session(settle=0.05, history=None)  # baseline: no history, "all records"
        naive = time.perf_counter() - started
        naive_sent = len(meter.sent_sequences) - mark
        stored_after_naive = len(await rig.stored())
        last_sequence = await rig.store.last_sequence(
            (await rig.stored())[0].reading.device, MeasurementKind.BLOOD_GLUCOSE
        )

    old_in_second = [s for s in downloaded if s <= RECORDS]
    assert stored_first == RECORDS and stored_second == RECORDS + NEW == stored_after_naive
    assert downloaded == list(range(RECORDS + 1, RECORDS + NEW + 1)) and not old_in_second
    assert third_sent == [RECORDS + NEW]  # nothing new: only the probe of the last record
    assert last_sequence == RECORDS + NEW
    report(
        "glucose: first download of 1,000 records",
        f"{first:.2f} s ({RECORDS / first:.0f} records/s)",
        "<= 30 s",
        first <= 30,
        f"{stored_first} committed; RACP 'last' probe + 'all records'",
    )
    report(
        "glucose: incremental download (10 new)",
        f"{second:.2f} s, {len(downloaded)} records sent, {len(old_in_second)} old",
        "0 old records",
        not old_in_second,
        f"probe 1 record (seq {probe[0]}); baseline without history: {naive:.2f} s, {naive_sent} records sent "
        f"({naive / second:.0f}x slower)",
    )
    report(
        "glucose: incremental download (nothing new)",
        f"{third:.2f} s, {len(third_sent) - 1} records sent",
        "0 old records",
        len(third_sent) == 1,
        "only the probe of the last record's sequence crosses the link",
    )
    assert first <= 30, f"first download {first:.2f} s"
    assert not old_in_second, f"{len(old_in_second)} old records sent again"
    assert len(third_sent) == 1, f"{len(third_sent) - 1} records sent with nothing new"
