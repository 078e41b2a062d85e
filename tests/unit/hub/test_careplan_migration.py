"""The care plan's schema upgrade keeps a hub's data: a schema-4 database (measurements, their
evaluations as the house issue stored them, a queue) opens as schema 6 with nothing lost, its old
evaluations read back as the one Evaluation type and map to the very FHIR they mapped to before
(tests/fixtures/evaluation/apply_zone_before.json, written by that code), and new values are
stored with the whole decision beside them."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import sqlite_utils

from hub.domain.evaluation import Evaluation
from hub.domain.readings import MeasurementKind
from hub.store import SCHEMA_VERSION, Store
from hub.store.plans import PlanStore
from hub.store.rows import MEASUREMENT_COLUMNS, measurement_to_row
from hub.store.schema import MIGRATIONS
from sync.fhir.pmd import pmd_bundle
from tests.servers.samples import CTX, measurement

from .factories import T0

BEFORE = json.loads((Path(__file__).parents[2] / "fixtures" / "evaluation" / "apply_zone_before.json").read_text())
LATER = T0 + timedelta(days=1)


def _version_4_database(path) -> dict[str, str]:
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    for step in MIGRATIONS[:4]:
        step(db)
    db.execute("PRAGMA user_version = 4")
    columns = [c.strip() for c in MEASUREMENT_COLUMNS.split(",")]
    ids = {}
    for case, given in BEFORE.items():
        m = measurement(MeasurementKind(given["measurement"]["kind"]), given["measurement"]["value"], id=uuid.UUID(given["measurement"]["id"]))
        row = measurement_to_row(m)
        db.execute(f"INSERT INTO measurements ({MEASUREMENT_COLUMNS}) VALUES ({', '.join('?' * len(columns))})", [row[c] for c in columns])
        zone = given["zone"]
        db.execute(
            "INSERT INTO evaluations (measurement_id, level, display, ranges, advice) VALUES (?, ?, ?, ?, ?)",
            [row["id"], zone["level"], zone["display"], json.dumps(zone["ranges"]), "Mål igjen"],
        )
        db.execute("INSERT INTO outgoing (id, kind, measurement_id, created_at) VALUES (?, 'measurement', ?, ?)", [row["id"], row["id"], T0.isoformat()])
        db.execute(
            "INSERT INTO outbox (resource_id, destination, state, attempts, next_attempt_at) VALUES (?, 'kommune', 'pending', 1, ?)",
            [row["id"], T0.isoformat()],
        )
        ids[case] = row["id"]
    db.conn.close()
    return ids


async def test_a_schema_4_hub_keeps_its_measurements_evaluations_and_queue(tmp_path):
    path = tmp_path / "heima.db"
    ids = _version_4_database(path)
    store = await Store.open(path, clock=lambda: LATER)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 6
        due = await store.due("kommune", limit=10, now=LATER.replace(year=2100))
        assert sorted(str(o.id) for o in due) == sorted(ids.values())  # the queue, row for row
        for item in due:
            case = next(c for c, i in ids.items() if i == str(item.id))
            e = item.payload.evaluation
            assert isinstance(e, Evaluation) and e.advice == "Mål igjen"
            assert e.observation_interpretation == BEFORE[case]["zone"]["level"]
            obs = pmd_bundle([item], CTX, kommunenummer="0301")["entry"][0]["resource"]
            assert obs == BEFORE[case]["observation"]  # the nurse gets what the old Heima would have sent
        assert await PlanStore(store).plans() == []  # the new tables are there, empty
    finally:
        await store.close()
