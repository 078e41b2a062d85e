"""The outbox of outgoing resources: any kind, queued once per destination that takes it, and an
existing hub's queue kept across the upgrade (pending, delivered, set aside, withdrawn)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from hub.config import DestinationConfig
from hub.domain.outgoing import Outgoing, OutgoingKind, of_device, of_measurement
from hub.domain.readings import DeviceIdentity
from hub.services.consent import ConsentService
from hub.services.outgoing import OutgoingService
from hub.store import SCHEMA_VERSION, Store
from hub.store.rows import MEASUREMENT_COLUMNS, measurement_to_row
from hub.store.schema import MIGRATIONS
from sync.destinations import DirectoryDestination
from sync.fhir.context import FhirContext, HubIdentity, PatientRef
from sync.outbox import OutboxWorker

from .factories import T0, measurement, spo2

SCALE = DeviceIdentity(address="C0:FF:EE:00:00:31", name="Heima Scale", manufacturer="Heima Emulated", model="SC-1", serial="SN-SCALE")
CTX = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-OUTGOING-1"))
LATER = T0 + timedelta(days=1)


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db", clock=lambda: T0)
    yield s
    await s.close()


async def test_a_device_and_measurements_leave_through_one_outbox_in_the_order_captured(store):
    first, second = measurement(spo2(95)), measurement(spo2(96))
    device = of_device(SCALE)
    await store.record(first, ["centre"])
    assert await store.enqueue(device, ["centre", "usb"])
    await store.record(second, ["centre"])

    due = await store.due("centre", limit=10, now=LATER)
    assert [(o.kind, o.id) for o in due] == [
        (OutgoingKind.MEASUREMENT, first.id),
        (OutgoingKind.DEVICE, device.id),
        (OutgoingKind.MEASUREMENT, second.id),
    ]
    assert due[1] == device and due[0].payload == first  # what was captured, as it was
    assert [o.id for o in await store.due("usb", limit=10, now=LATER)] == [device.id]
    assert (await store.outbox_counts())["centre"] == {"pending": 3}

    await store.mark_delivered("centre", [str(device.id)])
    await store.dead_letter("usb", str(device.id), reason="refused")
    assert [s.state for s in await store.delivery_states(str(device.id))] == ["delivered", "dead"]
    [aside] = await store.set_aside()
    assert (aside.measurement_id, aside.destination, aside.kind, aside.taken_at) == (str(device.id), "usb", "device", T0)


async def test_the_same_resource_is_queued_once_and_never_for_a_destination_without_consent(store):
    device = of_device(SCALE)
    await store.set_consent("gp", "withdrawn", at=T0)
    assert await store.enqueue(device, ["centre", "gp"])
    assert not await store.enqueue(device, ["centre", "gp", "usb"])  # captured once: queued once
    assert [(s.destination, s.state) for s in await store.delivery_states(str(device.id))] == [("centre", "pending")]
    with pytest.raises(ValueError):
        await store.enqueue(of_measurement(measurement()), ["centre"])  # a measurement goes through record()


async def test_routing_never_queues_a_device_for_pasientens_maledata(store):
    destinations = [
        DestinationConfig(name="kommune", kind="nhn-pmd", url="https://pmd.example/fhir", kommunenummer="0301"),
        DestinationConfig(name="sykehus", kind="fhir", url="https://fhir.example/R4"),
        DestinationConfig(name="usb", kind="directory", path="/tmp/heima-usb"),
    ]
    consent = ConsentService(store, destinations, clock=lambda: T0)
    await consent.load()
    service = OutgoingService(store, destinations_for=consent.destinations_for_resource)
    device = await service.share_device(SCALE)
    assert [s.destination for s in await store.delivery_states(str(device.id))] == ["sykehus", "usb"]
    assert consent.destinations_for_resource(OutgoingKind.MEASUREMENT) == ("kommune", "sykehus", "usb")


async def test_requeue_moves_a_removed_destinations_devices_only_to_a_destination_that_takes_them(store):
    device, m = of_device(SCALE), measurement()
    await store.enqueue(device, ["old"])
    await store.record(m, ["old"])
    moved = await store.requeue("old", "new", kinds=["oxygen-saturation"])  # what Part G's caller passes
    assert (moved.queued, moved.left) == (1, 1)  # the device stays waiting for the old one
    moved = await store.requeue("old", "new", kinds=[], resource_kinds=["device"])
    assert (moved.queued, moved.left) == (1, 0)
    assert [o.id for o in await store.due("new", limit=10, now=LATER)] == [m.id, device.id]


# -- the upgrade from schema version 2 ----------------------------------------------------------------------


def _version_2_database(path) -> dict[str, str]:
    """A hub's database as the previous Heima left it: schema 2 with pending, delivered, set aside
    and withdrawn rows, an acknowledged PMD entry and an unanswered PMD batch."""
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    for step in MIGRATIONS[:2]:
        step(db)
    db.execute("PRAGMA user_version = 2")
    ms = {name: measurement(spo2(90 + n)) for n, name in enumerate(("pending", "delivered", "dead", "withdrawn", "acked"))}
    columns = [c.strip() for c in MEASUREMENT_COLUMNS.split(",")]
    for m in ms.values():
        row = measurement_to_row(m)
        db.execute(f"INSERT INTO measurements ({MEASUREMENT_COLUMNS}) VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns])
    rows = [
        ("pending", "centre", "pending", 2, "server answered 503; will retry"),
        ("delivered", "centre", "delivered", 1, None),
        ("dead", "centre", "dead", 2, "FHIR server rejected this entry (422)"),
        ("withdrawn", "centre", "withdrawn", 0, "consent withdrawn by the patient; not sent"),
        ("acked", "kommune", "pending", 1, "no answer"),
    ]
    for name, dest, state, attempts, error in rows:
        db.execute(
            "INSERT INTO outbox (measurement_id, destination, state, attempts, next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?, ?)",
            [str(ms[name].id), dest, state, attempts, T0.isoformat(), error],
        )
    db.execute(
        "INSERT INTO sent_batches (destination, bundle_identifier, measurement_ids, first_sent_at) VALUES ('kommune', 'b-1', ?, ?)",
        [json.dumps([str(ms["acked"].id)]), T0.isoformat()],
    )
    db.execute(
        "INSERT INTO ack_ledger (destination, measurement_id, bundle_identifier, status, acknowledged_at) VALUES ('kommune', ?, 'b-1', 201, ?)",
        [str(ms["acked"].id), T0.isoformat()],
    )
    db.conn.close()
    return {name: str(m.id) for name, m in ms.items()}


async def test_an_existing_hubs_queue_is_kept_by_the_upgrade_and_delivered_exactly_once(tmp_path):
    path = tmp_path / "heima.db"
    ids = _version_2_database(path)
    store = await Store.open(path, clock=lambda: LATER)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        states = {name: [(s.destination, s.state, s.attempts, s.last_error) for s in await store.delivery_states(i)] for name, i in ids.items()}
        assert states == {
            "pending": [("centre", "pending", 2, "server answered 503; will retry")],
            "delivered": [("centre", "delivered", 1, None)],
            "dead": [("centre", "dead", 2, "FHIR server rejected this entry (422)")],
            "withdrawn": [("centre", "withdrawn", 0, "consent withdrawn by the patient; not sent")],
            "acked": [("kommune", "pending", 1, "no answer")],
        }
        assert [a.measurement_id for a in await store.set_aside()] == [ids["dead"]]
        # PMD's ledger still knows what it acknowledged and which batch is open: never sent twice
        assert await store.acknowledged("kommune", list(ids.values())) == {ids["acked"]}
        [open_batch] = await store.open_batches("kommune")
        assert open_batch.resource_ids == (ids["acked"],)

        folder = tmp_path / "centre"
        worker = OutboxWorker(store, DirectoryDestination("centre", folder, ctx=CTX), clock=lambda: LATER)
        report = await worker.drain()
        again = await worker.drain()
        assert (report.delivered, report.dead, again.batches) == (1, 0, 0)
        sent = [
            i["value"]
            for f in folder.glob("heima-*.fhir.json")
            for e in json.loads(f.read_text())["entry"]
            for i in e["resource"].get("identifier", [])
            if e["resource"]["resourceType"] == "Observation"
        ]
        assert sent == [f"urn:uuid:{ids['pending']}"]  # the waiting one, once; nothing sent before goes again
        assert [s.state for s in await store.delivery_states(ids["pending"])] == ["delivered"]
        assert [s.state for s in await store.delivery_states(ids["dead"])] == ["dead"]
    finally:
        await store.close()


async def test_a_device_payload_survives_the_round_trip_through_the_database(store):
    item = Outgoing(OutgoingKind.DEVICE, uuid.UUID(int=7), DeviceIdentity(address="AA:BB:CC:DD:EE:FF", system_id="FEEDABEEDEAD77C3"))
    await store.enqueue(item, ["centre"])
    assert await store.due("centre", limit=10, now=datetime.now(UTC) + timedelta(days=1)) == [item]
