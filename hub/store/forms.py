"""The questionnaire tables: the forms the hub offers (cached, usable offline) and the patient's
answers to them, beside the Store and on its one writer thread.

Every answer is saved in its own write transaction (WAL + synchronous=FULL, as everything the hub
keeps), so a half-answered form survives kill -9 and a power cut. Submitting moves the form to
'submitted' and puts its QuestionnaireResponse and scores into the outbox in ONE transaction: a
form is submitted once, whatever is tapped twice or cut off in between.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.store.rows import outgoing_from_payload, payload_to_json
from hub.store.store import Store, _queue


@dataclass(frozen=True, slots=True)
class CachedForm:
    """A Questionnaire the hub keeps (its JSON as the engine accepted it)."""

    url: str
    version: str
    source: str
    title: str | None
    imported_at: datetime
    offered: bool
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SavedForm:
    """A form being answered (or answered), as saved after the last answer."""

    id: str
    url: str
    version: str
    state: str  # in-progress | submitted | discarded
    response: dict[str, Any]  # every answer given, those of disabled items kept aside too
    step: Any  # the path on screen (JSON lists), None: the review
    answered_by: str | None
    started_at: datetime
    saved_at: datetime
    submission_id: str | None


_FORM_COLUMNS = "id, url, version, state, response, step, answered_by, started_at, saved_at, submission_id"
_CACHED_COLUMNS = "url, version, source, title, imported_at, offered"
FORM_KINDS = (OutgoingKind.QUESTIONNAIRE_RESPONSE.value, OutgoingKind.SCORE.value)


def _saved(row: Sequence[Any]) -> SavedForm:
    return SavedForm(
        id=row[0], url=row[1], version=row[2], state=row[3], response=json.loads(row[4]),
        step=json.loads(row[5]) if row[5] is not None else None, answered_by=row[6],
        started_at=datetime.fromisoformat(row[7]), saved_at=datetime.fromisoformat(row[8]), submission_id=row[9],
    )


def _cached(row: Sequence[Any], resource: str) -> CachedForm:
    return CachedForm(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]), bool(row[5]), json.loads(resource))


class FormStore:
    """hub.services.questionnaires.FormStorePort on the hub's Store (its thread, its transactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- the forms the hub keeps ------------------------------------------------------------

    async def keep_forms(
        self, source: str, forms: Sequence[tuple[str, str, str | None, dict[str, Any]]], *, offered: Sequence[tuple[str, str]]
    ) -> None:
        """Keep these forms (url, version, title, Questionnaire JSON) from `source`, and make `offered` (url, version) what `source` offers
        now, in one transaction: the source's other forms stop being offered but stay cached (a
        form half-answered on one is finished on it). A version already kept is not rewritten
        while a form is being answered on it."""
        now = self.store._now()

        def write(conn: Any) -> None:
            for url, version, title, resource in forms:
                conn.execute(
                    "INSERT INTO questionnaires (url, version, source, resource, title, imported_at, offered) "
                    "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (url, version) DO UPDATE SET "
                    "resource = CASE WHEN EXISTS (SELECT 1 FROM form_responses r WHERE r.url = excluded.url "
                    "AND r.version = excluded.version AND r.state = 'in-progress') THEN resource ELSE excluded.resource END, "
                    "title = excluded.title, source = excluded.source",
                    [url, version, source, json.dumps(resource, ensure_ascii=False), title, now],
                )
            conn.execute("UPDATE questionnaires SET offered = 0 WHERE source = ?", [source])
            conn.executemany(
                "UPDATE questionnaires SET offered = 1, source = ? WHERE url = ? AND version = ?",
                [(source, url, version) for url, version in offered],
            )

        await self.store._transaction(write)

    async def cached_forms(self, *, offered_only: bool = True) -> list[CachedForm]:
        """The forms kept (offered now, unless asked for all), newest import first."""

        def query() -> list[CachedForm]:
            where = "WHERE offered = 1" if offered_only else ""
            rows = self.store.db.execute(
                f"SELECT {_CACHED_COLUMNS}, resource FROM questionnaires {where} ORDER BY imported_at DESC, rowid DESC"
            ).fetchall()
            return [_cached(r[:6], r[6]) for r in rows]

        return await self.store._run(query)

    async def cached_form(self, url: str, version: str) -> CachedForm | None:
        def query() -> CachedForm | None:
            r = self.store.db.execute(
                f"SELECT {_CACHED_COLUMNS}, resource FROM questionnaires WHERE url = ? AND version = ?", [url, version]
            ).fetchone()
            return _cached(r[:6], r[6]) if r else None

        return await self.store._run(query)

    # --- the patient's answers ---------------------------------------------------------------

    async def begin_form(
        self, *, id: str, url: str, version: str, response: dict[str, Any], step: Any, answered_by: str | None, at: datetime
    ) -> SavedForm:
        """Save a form just started; if one of the same questionnaire is in progress already
        (started on another screen a moment ago), that one is returned instead."""
        form = SavedForm(id, url, version, "in-progress", response, step, answered_by, at, at, None)

        def write(conn: Any) -> SavedForm:
            existing = conn.execute(
                f"SELECT {_FORM_COLUMNS} FROM form_responses WHERE url = ? AND state = 'in-progress'", [form.url]
            ).fetchone()
            if existing:
                return _saved(existing)
            conn.execute(
                f"INSERT INTO form_responses ({_FORM_COLUMNS}) VALUES (?, ?, ?, 'in-progress', ?, ?, ?, ?, ?, NULL)",
                [form.id, form.url, form.version, json.dumps(form.response, ensure_ascii=False),
                 _step(form.step), form.answered_by, form.started_at.isoformat(), form.saved_at.isoformat()],
            )
            return form

        return await self.store._transaction(write)

    async def save_form(self, form_id: str, response: dict[str, Any], step: Any, *, at: datetime) -> bool:
        """Save the answers and the step on screen (returns after COMMIT); False when the form is
        no longer in progress (submitted or discarded: nothing is changed)."""

        def write(conn: Any) -> bool:
            return bool(conn.execute(
                "UPDATE form_responses SET response = ?, step = ?, saved_at = ? WHERE id = ? AND state = 'in-progress'",
                [json.dumps(response, ensure_ascii=False), _step(step), at.isoformat(), form_id],
            ).rowcount)

        return await self.store._transaction(write)

    async def forms_in_progress(self) -> list[SavedForm]:
        return await self._forms("WHERE state = 'in-progress' ORDER BY saved_at DESC", [])

    async def saved_form(self, form_id: str) -> SavedForm | None:
        found = await self._forms("WHERE id = ?", [form_id])
        return found[0] if found else None

    async def submitted_forms(self) -> list[SavedForm]:
        return await self._forms("WHERE state = 'submitted' ORDER BY saved_at", [])

    async def _forms(self, where: str, params: list[Any]) -> list[SavedForm]:
        def query() -> list[SavedForm]:
            return [_saved(r) for r in self.store.db.execute(f"SELECT {_FORM_COLUMNS} FROM form_responses {where}", params)]

        return await self.store._run(query)

    async def discard_form(self, form_id: str) -> bool:
        def write(conn: Any) -> bool:
            return bool(conn.execute(
                "UPDATE form_responses SET state = 'discarded' WHERE id = ? AND state = 'in-progress'", [form_id]
            ).rowcount)

        return await self.store._transaction(write)

    async def submit_form(
        self, form_id: str, response: dict[str, Any], items: Sequence[tuple[Outgoing, Sequence[str]]], *, at: datetime
    ) -> str | None:
        """In ONE transaction: the form becomes 'submitted', and each outgoing resource (the
        QuestionnaireResponse first, then its scores) is written with one outbox row per
        destination given (consent checked again here). Returns the submission's id; when the
        form was submitted already, that submission's id and nothing is written; None when the
        form is unknown or was discarded."""
        submission_id = str(items[0][0].id)

        def write(conn: Any) -> str | None:
            row = conn.execute("SELECT state, submission_id FROM form_responses WHERE id = ?", [form_id]).fetchone()
            if row is None or row[0] == "discarded":
                return None
            if row[0] == "submitted":
                return row[1]
            now = self.store._now()
            for item, destinations in items:
                conn.execute(
                    "INSERT INTO outgoing (id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
                    [str(item.id), item.kind.value, payload_to_json(item), now],
                )
                _queue(conn, str(item.id), tuple(destinations), now)
            conn.execute(
                "UPDATE form_responses SET state = 'submitted', submission_id = ?, response = ?, step = NULL, saved_at = ? "
                "WHERE id = ?",
                [submission_id, json.dumps(response, ensure_ascii=False), at.isoformat(), form_id],
            )
            return submission_id

        return await self.store._transaction(write)

    # --- what was submitted: for export and "sent ✓" -------------------------------------

    async def submitted_resources(self) -> list[Outgoing]:
        """Every submitted QuestionnaireResponse and score, oldest first (`heima export`)."""

        def query() -> list[Outgoing]:
            rows = self.store.db.execute(
                f"SELECT id, kind, payload FROM outgoing WHERE kind IN ({', '.join('?' * len(FORM_KINDS))}) "
                "ORDER BY created_at, rowid",
                list(FORM_KINDS),
            ).fetchall()
            return [outgoing_from_payload(*r) for r in rows]

        return await self.store._run(query)

    async def unsent_submissions(self) -> set[str]:
        """The submissions (response ids) with a response or score still waiting at a destination."""

        def query() -> set[str]:
            rows = self.store.db.execute(
                "SELECT DISTINCT f.submission_id FROM form_responses f JOIN outgoing g "
                "ON g.id = f.submission_id OR (g.kind = 'score' AND json_extract(g.payload, '$.response_id') = f.submission_id) "
                "JOIN outbox o ON o.resource_id = g.id WHERE f.state = 'submitted' AND o.state = 'pending'"
            ).fetchall()
            return {r[0] for r in rows}

        return await self.store._run(query)


def _step(step: Any) -> str | None:
    return json.dumps(step) if step is not None else None
