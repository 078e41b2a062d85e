"""Proof 3: power cuts. Heima's own store code (hub.store.schema.connect with its pragmas and
migrations, hub.store.Store with its INSERTs, group commit and outbox updates, driven through
MeasurementService) runs on apsw over a VFS that keeps only synced bytes on "disk"
(tests/reliability/powercut.py). The power is cut at a random write/sync (seeded); the next boot
sees only the platter. One database lives through every cut in turn, as a hub would.

After each cut, stock SQLite opens the image: it must pass `PRAGMA integrity_check`, hold every
measurement whose record() had returned before the cut — and every device of the inventory whose
enqueue had returned (the outbox's second kind, mixed in) —, with its outbox row for every
destination, and keep every outbox row marked delivered as delivered. The next boot must open it with Heima's
code and go on.

Harsher, same run: a random part of the writes not yet synced reaches the platter as well, in a
random order (a disk reordering its write-back cache). Nothing acknowledged may be lost either.

Control, same run, same VFS, same code: `synchronous = NORMAL` (the only change, made as Heima's
connect() sets it). It must lose acknowledged commits, or this test could not fail.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apsw

from hub.domain.readings import MeasurementKind, Reading
from hub.services.measurements import MeasurementService
from hub.services.outgoing import OutgoingService
from hub.store import Store
from tests.reliability import powercut
from tests.reliability.powercut import ApswConnection, PowerCutVFS, check_image, close_everything, discard_database, power_on
from tests.reliability.support import inventory_device, scaled, seed
from tests.unit.hub.factories import OXIMETER

DESTINATIONS = ("centre", "gp")
MAX_CUT_AT = 300  # the cut falls on one of the first 300 writes/syncs after boot (~30 commits)
RECORDERS = 3  # concurrent readings: the store's group commit is exercised
DEVICE_EVERY = 4  # every 4th reading of a recorder is followed by a device of the inventory
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class Series:
    synchronous: str
    torn: bool = False
    cuts: int = 0
    acked_measurements: int = 0
    acked_deliveries: int = 0
    trials_losing_acked: int = 0
    acked_measurements_lost: int = 0
    outbox_rows_missing: int = 0
    delivered_marks_lost: int = 0
    corrupt: int = 0
    reopen_failures: int = 0
    cut_during: Counter = field(default_factory=Counter)
    pragmas: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "power cuts": self.cuts,
            "acknowledged measurements": self.acked_measurements,
            "acknowledged 'delivered' marks": self.acked_deliveries,
            "cuts that lost acknowledged commits": self.trials_losing_acked,
            "acknowledged measurements lost": self.acked_measurements_lost,
            "outbox rows missing": self.outbox_rows_missing,
            "'delivered' marks lost": self.delivered_marks_lost,
            "corrupt databases": self.corrupt,
            "boots that could not open the db": self.reopen_failures,
            "cut during": dict(sorted(self.cut_during.items())),
        }


class Boot:
    """One power-on: Heima's store and measurement service over the power-cut VFS."""

    def __init__(self, vfs: PowerCutVFS, series: Series, number: int) -> None:
        self.vfs = vfs
        self.series = series
        self.number = number
        self.acked: set[str] = set()
        self.delivered: set[str] = set()

    async def run(self, path: Path) -> None:
        await power_on(path, self.vfs, self._work)

    async def _work(self, store: Store) -> None:
        service = MeasurementService(store, destinations_for=lambda kind: DESTINATIONS, local_zone=UTC)
        inventory = OutgoingService(store, destinations_for=lambda kind: DESTINATIONS)
        await asyncio.gather(*(self._record(service, inventory, k) for k in range(RECORDERS)), self._deliver(store))

    async def _record(self, service: MeasurementService, inventory: OutgoingService, k: int) -> None:
        n = 0
        while not self.vfs.cut:
            n += 1
            reading = Reading(
                kind=MeasurementKind.OXYGEN_SATURATION,
                value=float(88 + n % 12),
                unit="%",
                received_at=datetime.now(UTC),
                device=OXIMETER,
                record_id=f"{self.series.synchronous}-{self.series.torn}-{self.number}-{k}-{n}",
            )
            try:
                outcome = await service.record_reading(reading)
            except apsw.Error:
                if self.vfs.cut:
                    return
                raise
            if self.vfs.cut:
                return  # the power went before anyone heard "stored": not acknowledged
            assert outcome.created and outcome.measurement is not None
            self.acked.add(str(outcome.measurement.id))
            if n % DEVICE_EVERY == 0:
                tag = f"{self.series.synchronous}-{self.series.torn}-{self.number}-{k}"
                try:
                    device = await inventory.share_device(inventory_device(tag, n))
                except apsw.Error:
                    if self.vfs.cut:
                        return
                    raise
                if self.vfs.cut:
                    return
                self.acked.add(str(device.id))

    async def _deliver(self, store: Store) -> None:
        while not self.vfs.cut:
            try:
                due = await store.due("centre", limit=4, now=FAR_FUTURE)
                ids = [str(m.id) for m in due]
                if ids:
                    await store.mark_delivered("centre", ids)
            except apsw.Error:
                if self.vfs.cut:
                    return
                raise
            if self.vfs.cut:
                return
            self.delivered.update(ids)
            await asyncio.sleep(0.001 if not ids else 0)


async def run_series(directory: Path, vfs: PowerCutVFS, series: Series, cuts: int, rng: random.Random) -> None:
    directory.mkdir()
    path = directory / "heima.db"
    acked: set[str] = set()  # acknowledged (measurements and devices) and not yet found lost
    delivered: set[str] = set()
    for number in range(cuts):
        vfs.arm(cut_at=rng.randint(1, MAX_CUT_AT), torn=rng if series.torn else None)
        boot = Boot(vfs, series, number)
        try:
            await asyncio.wait_for(boot.run(path), timeout=60)
        except apsw.Error:
            series.reopen_failures += 1  # Heima's code could not open what the last cut left
        assert vfs.cut, "the workload ended without the power being cut"
        series.cuts += 1
        series.cut_during[vfs.cut_during] += 1
        series.acked_measurements += len(boot.acked)
        series.acked_deliveries += len(boot.delivered)
        acked |= boot.acked
        delivered |= boot.delivered
        close_everything()
        vfs.restore()  # the next boot: the real files are what the platter held

        integrity, ids, outbox = check_image(str(path))
        if integrity != "ok":
            series.corrupt += 1
            discard_database(path)
            acked.clear()
            delivered.clear()
            continue
        lost = acked - ids
        if lost:
            series.trials_losing_acked += 1
            series.acked_measurements_lost += len(lost)
            acked -= lost
            delivered -= lost
        series.outbox_rows_missing += sum((m, d) not in outbox for m in acked for d in DESTINATIONS)
        reverted = {m for m in delivered if outbox.get((m, "centre")) != "delivered"}
        series.delivered_marks_lost += len(reverted)
        delivered -= reverted

    # A last, uninterrupted boot: Heima opens what the last cut left and sees every acknowledged row.
    vfs.arm(cut_at=None)
    store = await Store.open(path)
    try:
        counts = await store.outbox_counts()
        rows = sum(sum(c.values()) for c in counts.values())
        assert rows >= len(acked) * len(DESTINATIONS)
    finally:
        await store.close()
        close_everything()


def heima_on_apsw(monkeypatch, vfs: PowerCutVFS, series: Series) -> None:
    """Heima's connect() on the VFS; the series keeps the pragmas its first connection applied."""

    def first_pragmas(conn: ApswConnection) -> None:
        if not series.pragmas:
            series.pragmas = conn.pragmas  # the live list: what connect() goes on to apply, as applied

    powercut.heima_on_apsw(monkeypatch, vfs, series.synchronous, opened=first_pragmas)


async def test_power_cuts_lose_no_acknowledged_measurement_and_corrupt_no_database(tmp_path, monkeypatch, vfs, record_result):
    cuts = scaled(500)
    torn_cuts = scaled(200, minimum=20)
    control_cuts = scaled(100, minimum=20)
    rng = random.Random(seed())

    full = Series("FULL")
    heima_on_apsw(monkeypatch, vfs, full)
    started = asyncio.get_running_loop().time()
    await run_series(tmp_path / "full", vfs, full, cuts, rng)
    full_seconds = asyncio.get_running_loop().time() - started

    torn = Series("FULL", torn=True)
    heima_on_apsw(monkeypatch, vfs, torn)
    await run_series(tmp_path / "torn", vfs, torn, torn_cuts, rng)
    torn_writes = vfs.torn_writes_landed

    normal = Series("NORMAL")
    heima_on_apsw(monkeypatch, vfs, normal)
    await run_series(tmp_path / "normal", vfs, normal, control_cuts, rng)

    applied = [p.lower().replace(" ", "") for p in full.pragmas]
    wal_full = "pragmajournal_mode=wal" in applied and "pragmasynchronous=full" in applied
    met = (
        full.cuts >= cuts
        and wal_full
        and full.acked_measurements_lost == 0
        and full.corrupt == 0
        and full.outbox_rows_missing == 0
        and full.delivered_marks_lost == 0
        and full.reopen_failures == 0
        and normal.trials_losing_acked > 0
        and all(
            getattr(torn, k) == 0
            for k in ("acked_measurements_lost", "corrupt", "outbox_rows_missing", "delivered_marks_lost", "reopen_failures")
        )
    )
    record_result(
        "power cut (apsw VFS, synced bytes only)",
        target=f">= {cuts} cuts, 0 acknowledged lost, 0 corrupt; control NORMAL must lose",
        result=(
            f"FULL: {full.cuts} cuts, {full.acked_measurements_lost} of {full.acked_measurements} acknowledged lost, "
            f"{full.corrupt} corrupt; +{torn.cuts} torn cuts: {torn.acked_measurements_lost} lost, {torn.corrupt} corrupt; "
            f"NORMAL: {normal.trials_losing_acked} of {normal.cuts} cuts lost acknowledged commits"
        ),
        met=met,
        **{
            "pragmas applied by hub.store.schema.connect": "; ".join(full.pragmas[:4]),
            **{f"FULL: {k}": v for k, v in full.counts().items()},
            "FULL: seconds": round(full_seconds, 1),
            **{f"FULL, unsynced writes partly landed: {k}": v for k, v in torn.counts().items() if k != "cut during"},
            "FULL, unsynced writes partly landed: writes that landed": torn_writes,
            **{f"control NORMAL: {k}": v for k, v in normal.counts().items() if k != "cut during"},
        },
    )
    assert wal_full, f"Heima's connect() did not apply WAL + synchronous=FULL: {full.pragmas}"
    assert full.cuts >= cuts
    assert full.corrupt == 0
    assert full.reopen_failures == 0
    assert full.acked_measurements_lost == 0, f"{full.acked_measurements_lost} acknowledged measurements lost"
    assert full.outbox_rows_missing == 0
    assert full.delivered_marks_lost == 0
    assert full.acked_measurements > full.cuts  # the cuts fell among real work
    # Harsher: part of the unsynced writes reached the platter too, in any order.
    assert (torn.acked_measurements_lost, torn.corrupt, torn.outbox_rows_missing) == (0, 0, 0)
    assert (torn.delivered_marks_lost, torn.reopen_failures) == (0, 0)
    # The control: the same cuts under NORMAL lose acknowledged commits; the VFS can tell.
    assert normal.trials_losing_acked > 0, "synchronous=NORMAL lost nothing: the power-cut VFS is not cutting"
