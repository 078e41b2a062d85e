"""The patient's self-care plans in the store: every version applied, in order, each with the time
from which it judges new values; where the plan's clockwork stands (how far missed tasks were
closed, how far reminders were given); and what was done when (the completions a due list reads).

A plan is stored only after it was checked (hub.domain.careplan.parse_plan): a bad plan never
reaches this table, so the last good one stays in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.careplan.due import Completion
from hub.store.store import SERIES_KINDS, Store


@dataclass(frozen=True, slots=True)
class StoredPlan:
    seq: int
    plan_id: str
    version: str  # '' when the CarePlan had no meta.versionId
    source: str
    document: dict[str, Any]
    in_force_from: datetime
    received_at: datetime


class PlanStore:
    """The care-plan tables of one open Store (its writer thread, its transactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def plans(self) -> list[StoredPlan]:
        """Every plan applied, oldest first."""

        def query() -> list[StoredPlan]:
            rows = self.store.db.execute(
                "SELECT seq, plan_id, version, source, document, in_force_from, received_at FROM careplans ORDER BY seq"
            ).fetchall()
            return [
                StoredPlan(seq, pid, ver, src, json.loads(doc), datetime.fromisoformat(since), datetime.fromisoformat(got))
                for seq, pid, ver, src, doc, since, got in rows
            ]

        return await self.store._run(query)

    async def add(self, plan_id: str, version: str, source: str, document: dict[str, Any], *, in_force_from: datetime) -> bool:
        """Store a checked plan; False when this id and version were stored already (nothing written)."""
        text = json.dumps(document, ensure_ascii=False, sort_keys=True)

        def write(conn: Any) -> bool:
            return bool(
                conn.execute(
                    "INSERT INTO careplans (plan_id, version, source, document, in_force_from, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [plan_id, version, source, text, in_force_from.astimezone(UTC).isoformat(), self.store._now()],
                ).rowcount
            )

        return await self.store._transaction(write)

    async def state(self, name: str) -> str | None:
        def query() -> str | None:
            row = self.store.db.execute("SELECT value FROM careplan_state WHERE name = ?", [name]).fetchone()
            return row[0] if row else None

        return await self.store._run(query)

    async def set_state(self, name: str, value: str) -> None:
        def write(conn: Any) -> None:
            conn.execute(
                "INSERT INTO careplan_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [name, value],
            )

        await self.store._transaction(write)

    async def completions(self, since: datetime, until: datetime) -> list[Completion]:
        """What was done in [since, until): every value of the patient's (device, typed in, the
        nurse's) by kind, and every form submitted, by its canonical|version."""

        def query() -> list[Completion]:
            a, b = since.astimezone(UTC).isoformat(), until.astimezone(UTC).isoformat()
            marks = ", ".join("?" * len(SERIES_KINDS))
            rows = self.store.db.execute(
                "SELECT kind, effective_time FROM measurements WHERE effective_time >= ? AND effective_time < ? "
                f"AND kind NOT IN ({marks}) AND time_pending = 0 ORDER BY effective_time",
                [a, b, *SERIES_KINDS],
            ).fetchall()
            done = [Completion(kind, datetime.fromisoformat(at)) for kind, at in rows]
            forms = self.store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'form_responses'").fetchone()
            if forms:  # the questionnaire part's table: a submitted form completes its task
                rows = self.store.db.execute(
                    "SELECT url || '|' || version, saved_at FROM form_responses WHERE state = 'submitted' AND saved_at >= ? AND saved_at < ?",
                    [a, b],
                ).fetchall()
                done += [Completion(what, datetime.fromisoformat(at)) for what, at in rows]
            return done

        return await self.store._run(query)
