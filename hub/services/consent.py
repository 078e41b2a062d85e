"""Where the patient's data goes, and the patient's say in it: routing and consent per destination.

Every configured destination says what it `receives` (vital signs, questionnaire responses,
alerts) and starts with the consent the configuration gives it (given, unless `consent =
"not-given"`). From then on the patient decides, per destination, on the hub:

- **withdraw**: from that moment nothing new is queued for that destination (checked again inside
  the recording transaction, so no reading slips through); rows already queued but not yet sent
  are set aside as `withdrawn` — kept, visible, never sent, not even if consent is given again;
  what was sent stays sent (a batch already on the wire when the patient withdrew may still
  arrive, and is then shown as sent);
- **give**: new data goes there again from that moment.

Every change is kept as an event (who: the configuration or the patient; when) for the record.

A destination that disappears from the configuration while rows are queued for it keeps those
rows: they are reported ("destination no longer configured"), never sent elsewhere by themselves
(the operator may: `heima outbox move`, hub.outbox_admin), and sent if the destination is
configured again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from hub.domain.outgoing import OutgoingKind, takes
from hub.domain.readings import MeasurementKind
from hub.services.events import ConsentChanged, EventBus

log = logging.getLogger(__name__)

VITAL_SIGNS = "vital-signs"
NOT_CONFIGURED = "destination no longer configured; its queued data is kept and not sent"
# Pasientens måledata takes VKP Observations, whose SpO2 and pulse profiles allow valueQuantity
# only: continuous-oximetry chunks (SampledData) and their summary go to the other destinations.
NOT_FOR_PMD = frozenset(
    {MeasurementKind.OXYGEN_SATURATION_SERIES, MeasurementKind.PULSE_RATE_SERIES, MeasurementKind.OXIMETRY_SUMMARY}
)


def data_category(kind: MeasurementKind) -> str:
    """Which `receives` category a measurement belongs to (every measurement kind today is a
    vital sign; questionnaire responses and alerts are routed by their own categories)."""
    del kind
    return VITAL_SIGNS


QUESTIONNAIRE_RESPONSES = "questionnaire-responses"
QUESTIONNAIRE_KINDS = frozenset({OutgoingKind.QUESTIONNAIRE_RESPONSE, OutgoingKind.SCORE})


def resource_category(kind: OutgoingKind) -> str:
    """Which `receives` category an outgoing resource other than a measurement belongs to: a
    questionnaire's response and its scores are questionnaire responses; the device inventory
    (and what else the plan raises) travels with the vital signs."""
    return QUESTIONNAIRE_RESPONSES if kind in QUESTIONNAIRE_KINDS else VITAL_SIGNS


class ConsentState(enum.StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"  # the patient withdrew it
    NOT_GIVEN = "not-given"  # the configuration asks the patient first; not given yet


class ConsentRecordLike(Protocol):
    destination: str
    state: str
    source: str
    at: datetime


class ConsentStore(Protocol):
    """What the service needs from the store (hub.store.Store implements it)."""

    async def consent_states(self) -> dict[str, ConsentRecordLike]: ...

    async def initialise_consent(self, defaults: dict[str, str], *, at: datetime) -> list[str]: ...

    async def set_consent(self, destination: str, state: str, *, at: datetime) -> int: ...

    async def outbox_counts(self) -> dict[str, dict[str, int]]: ...


@dataclass(frozen=True, slots=True)
class DestinationView:
    """One place the patient's data goes (or went), for the patient's "where does my data go"."""

    name: str
    kind: str  # fhir | nhn-pmd | directory | "" when no longer configured
    where: str  # the server's host name or the folder; "" when no longer configured
    receives: tuple[str, ...]
    consent: ConsentState
    consent_changed_at: datetime | None  # when the state in force began (None: never recorded)
    changed_by_patient: bool
    configured: bool  # False: no longer in the configuration; its queued rows are kept, not sent
    delivered: int
    waiting: int
    failed: int
    withdrawn: int  # queued when consent was withdrawn: kept, never sent
    note: str | None = None  # e.g. NOT_CONFIGURED


class UnknownDestination(KeyError):
    """No destination of that name is configured or holds any of the patient's data."""


class DestinationConfig(Protocol):
    """What consent needs of a configured destination (hub.config's DestinationConfig has it):
    services name what they need instead of importing the configuration."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def consent(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def receives(self) -> tuple[str, ...]: ...

    def receives_category(self, category: str) -> bool: ...


def _where(dest: DestinationConfig) -> str:
    if dest.url:
        return urlsplit(dest.url).hostname or ""
    return str(dest.path or "")


class ConsentService:
    def __init__(
        self,
        store: ConsentStore,
        destinations: Sequence[DestinationConfig],
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.configured = {d.name: d for d in destinations}
        self.events = events or EventBus()
        self.clock = clock
        self._given: dict[str, bool] = {d.name: d.consent == "given" for d in destinations}

    async def load(self) -> None:
        """Record the configuration's consent for destinations seen for the first time, read the
        consent in force, and report queued rows of destinations no longer configured."""
        defaults = {name: "given" if d.consent == "given" else "withdrawn" for name, d in self.configured.items()}
        await self.store.initialise_consent(defaults, at=self.clock())
        states = await self.store.consent_states()
        for name in self.configured:
            record = states.get(name)
            self._given[name] = record is None or record.state == "given"
        for name, counts in (await self.store.outbox_counts()).items():
            if name not in self.configured and counts.get("pending", 0):
                log.warning(
                    "outbox %s: %s (%d waiting); `heima outbox` shows how to move or export them",
                    name,
                    NOT_CONFIGURED,
                    counts.get("pending", 0),
                )

    # -- routing ---------------------------------------------------------------------------

    def allows(self, name: str) -> bool:
        return self._given.get(name, False)

    def destinations_for(self, kind: MeasurementKind) -> tuple[str, ...]:
        """The destinations a new measurement of this kind is queued for: configured, receiving
        its category, able to take it (see NOT_FOR_PMD), and with the patient's consent."""
        category = data_category(kind)
        return tuple(
            name
            for name, d in self.configured.items()
            if d.receives_category(category) and self.allows(name) and not (d.kind == "nhn-pmd" and kind in NOT_FOR_PMD)
        )

    def destinations_for_resource(self, kind: OutgoingKind) -> tuple[str, ...]:
        """The destinations a new outgoing resource of this kind is queued for: configured,
        receiving its category, of a kind that takes it (hub.domain.outgoing.TAKEN_BY: never a
        Device for Pasientens måledata), and with the patient's consent."""
        category = resource_category(kind)
        return tuple(
            name
            for name, d in self.configured.items()
            if d.receives_category(category) and takes(d.kind, kind) and self.allows(name)
        )

    # -- the patient's view and choices ----------------------------------------------------

    async def destinations(self) -> list[DestinationView]:
        """Every destination: the configured ones in configuration order, then any no longer
        configured that still hold the patient's data."""
        states = await self.store.consent_states()
        counts = await self.store.outbox_counts()
        views = []
        names = list(self.configured) + sorted(n for n in counts if n not in self.configured)
        for name in names:
            dest = self.configured.get(name)
            record = states.get(name)
            c = counts.get(name, {})
            if record is None:
                consent = ConsentState.GIVEN if dest is None or dest.consent == "given" else ConsentState.NOT_GIVEN
            elif record.state == "given":
                consent = ConsentState.GIVEN
            else:
                consent = ConsentState.WITHDRAWN if record.source == "patient" else ConsentState.NOT_GIVEN
            views.append(
                DestinationView(
                    name=name,
                    kind=dest.kind if dest else "",
                    where=_where(dest) if dest else "",
                    receives=dest.receives if dest else (),
                    consent=consent,
                    consent_changed_at=record.at if record else None,
                    changed_by_patient=record is not None and record.source == "patient",
                    configured=dest is not None,
                    delivered=c.get("delivered", 0),
                    waiting=c.get("pending", 0),
                    failed=c.get("dead", 0),
                    withdrawn=c.get("withdrawn", 0),
                    note=None if dest is not None else NOT_CONFIGURED,
                )
            )
        return views

    async def _known(self, name: str) -> None:
        if name not in self.configured and name not in await self.store.outbox_counts():
            raise UnknownDestination(name)

    async def withdraw(self, name: str) -> int:
        """The patient withdraws consent for `name`: nothing new is queued there from now on, and
        what is queued but not yet sent is set aside as withdrawn. Returns how many were set aside."""
        await self._known(name)
        self._given[name] = False  # stop routing at once; the store re-checks inside its transaction
        set_aside = await self.store.set_consent(name, "withdrawn", at=self.clock())
        log.info("consent withdrawn for destination %s; %d queued measurement(s) set aside, not sent", name, set_aside)
        self.events.publish(ConsentChanged(name, ConsentState.WITHDRAWN.value, set_aside))
        return set_aside

    async def give(self, name: str) -> None:
        """The patient gives (back) consent for `name`: new data goes there from now on. Rows set
        aside at an earlier withdrawal stay set aside."""
        if name not in self.configured:
            raise UnknownDestination(name)
        await self.store.set_consent(name, "given", at=self.clock())
        self._given[name] = True
        log.info("consent given for destination %s", name)
        self.events.publish(ConsentChanged(name, ConsentState.GIVEN.value, 0))
