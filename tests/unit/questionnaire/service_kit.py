"""A questionnaire service on a real Store (SQLite in a temporary folder), with a fixed clock and
two destinations routed as the hub routes them: a FHIR server and Pasientens måledata."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.domain.outgoing import OutgoingKind, takes
from hub.services.events import EventBus, HubEvent
from hub.services.questionnaires import QuestionnaireService
from hub.store import Store
from hub.store.forms import FormStore

from .answers import EXAMPLES, c  # noqa: F401  (re-exported for the tests)
from .forms import NOW

DESTINATIONS = {"centre": "fhir", "pmd": "nhn-pmd"}


def destinations_for(kind: OutgoingKind) -> Sequence[str]:
    return tuple(name for name, dkind in DESTINATIONS.items() if takes(dkind, kind))


def example_json(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def all_examples() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Kit:
    """The service and what a test looks at: the store, the events published."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.forms = FormStore(store)
        self.events: list[HubEvent] = []
        bus = EventBus()
        bus.subscribe(self.events.append)
        self.service = QuestionnaireService(self.forms, destinations_for=destinations_for, clock=clock, events=bus)

    @classmethod
    async def open(cls, folder: Path, clock: Clock | None = None) -> Kit:
        clock = clock or Clock()
        return cls(await Store.open(folder / "heima.db", clock=clock), clock)

    async def close(self) -> None:
        await self.store.close()

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        return [tuple(r) for r in self.store.db.execute(sql, params).fetchall()]
