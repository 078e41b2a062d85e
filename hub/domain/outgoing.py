"""What leaves the hub: an outgoing resource, of a kind, named at capture for ever after.

Everything the hub shares with a destination — a measurement today; the device inventory; soon a
questionnaire response, a score, a zone alert, a missed task — is one `Outgoing`: its kind, a UUID
fixed when it was captured (the identifier every destination and every retry sees), and the
domain payload. The store keeps one row per outgoing resource and one outbox row per destination
that may receive it; the delivery worker sends them without knowing what they are, and the FHIR
mapping is chosen by kind (sync.fhir.resources).

Which destination kind takes which resource kind is decided here, once, so routing never queues
a row a destination cannot take: Pasientens måledata (nhn-pmd) stores Observations only.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from hub.domain.careplan.due import MissedTask
from hub.domain.digests import uuid5
from hub.domain.evaluation import ZoneAlert
from hub.domain.measurements import Measurement
from hub.domain.readings import DeviceIdentity

if TYPE_CHECKING:  # the questionnaire engine comes with the first form's payload, not with every hub
    from hub.domain.questionnaire.submission import ScoreResult, Submission


class OutgoingKind(enum.StrEnum):
    MEASUREMENT = "measurement"  # payload: Measurement (an Observation)
    DEVICE = "device"  # payload: DeviceIdentity (the device inventory: a Device resource)
    ZONE_ALERT = "zone-alert"  # payload: ZoneAlert (a confirmed red value: a DetectedIssue)
    MISSED_TASK = "missed-task"  # payload: MissedTask (a window closed undone: an Observation)
    QUESTIONNAIRE_RESPONSE = "questionnaire-response"  # payload: Submission (a QuestionnaireResponse)
    SCORE = "score"  # payload: ScoreResult (an Observation derived from its response)


# The payload each kind carries. A new kind adds its type here, its codec in hub.store.payloads
# and its mapper in sync.fhir.resources; the worker and the destinations do not change.
# A form's kinds are added by payload_type when first met (docs/performance.md, part M10).
if TYPE_CHECKING:
    Payload: TypeAlias = Measurement | DeviceIdentity | Submission | ScoreResult | ZoneAlert | MissedTask
PAYLOAD_TYPES: dict[OutgoingKind, type] = {
    OutgoingKind.MEASUREMENT: Measurement,
    OutgoingKind.DEVICE: DeviceIdentity,
    OutgoingKind.ZONE_ALERT: ZoneAlert,
    OutgoingKind.MISSED_TASK: MissedTask,
}
# The kinds whose payload carries the outgoing resource's own id.
NAMED_BY_PAYLOAD = frozenset((OutgoingKind.MEASUREMENT, OutgoingKind.QUESTIONNAIRE_RESPONSE, OutgoingKind.SCORE))


def payload_type(kind: OutgoingKind) -> type:
    """The payload an outgoing resource of this kind carries."""
    found = PAYLOAD_TYPES.get(kind)
    if found is None:
        from hub.domain.questionnaire.submission import ScoreResult, Submission

        PAYLOAD_TYPES.update({OutgoingKind.QUESTIONNAIRE_RESPONSE: Submission, OutgoingKind.SCORE: ScoreResult})
        found = PAYLOAD_TYPES[kind]
    return found


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One thing to send: its kind, its identifier fixed at capture, and what it is."""

    kind: OutgoingKind
    id: uuid.UUID
    payload: Payload

    def __post_init__(self) -> None:
        expected = PAYLOAD_TYPES.get(self.kind) or payload_type(self.kind)
        if not isinstance(self.payload, expected):
            raise TypeError(f"an outgoing {self.kind.value} carries a {expected.__name__}")
        if self.kind in NAMED_BY_PAYLOAD and self.payload.id != self.id:  # type: ignore[union-attr]
            raise ValueError(f"an outgoing {self.kind.value} is named by its own id, fixed when it was made")

    @property
    def urn(self) -> str:
        return f"urn:uuid:{self.id}"

    @property
    def measurement(self) -> Measurement | None:
        return self.payload if isinstance(self.payload, Measurement) else None


def of_measurement(measurement: Measurement) -> Outgoing:
    return Outgoing(OutgoingKind.MEASUREMENT, measurement.id, measurement)


def of_device(device: DeviceIdentity, id: uuid.UUID | None = None) -> Outgoing:
    """The device inventory's entry for one device; its identifier is fixed now (or given)."""
    return Outgoing(OutgoingKind.DEVICE, id or uuid.uuid4(), device)


def of_submission(submission: Submission) -> list[Outgoing]:
    """A submitted form: its QuestionnaireResponse, then each score as its own resource (so a
    destination that takes Observations only gets the scores alone)."""
    return [Outgoing(OutgoingKind.QUESTIONNAIRE_RESPONSE, submission.id, submission)] + [
        Outgoing(OutgoingKind.SCORE, s.id, s) for s in submission.scores
    ]


def of_zone_alert(alert: ZoneAlert) -> Outgoing:
    """A confirmed red value's alert, named by the value that raised it: one alert per value,
    however often it is made."""
    return Outgoing(OutgoingKind.ZONE_ALERT, uuid5(uuid.NAMESPACE_URL, "urn:heima:zone-alert:" + alert.measurements[-1]), alert)


def of_missed_task(task: MissedTask) -> Outgoing:
    """A missed task, named by its plan, activity and due time: recorded again after a restart
    it is the same resource, queued once."""
    return Outgoing(OutgoingKind.MISSED_TASK, uuid5(uuid.NAMESPACE_URL, "urn:heima:missed-task:" + task.key), task)


def as_outgoing(item: Outgoing | Measurement) -> Outgoing:
    """A measurement is the commonest thing to send: accept it where an Outgoing is meant."""
    return item if isinstance(item, Outgoing) else of_measurement(item)


def as_outgoings(items: Iterable[Outgoing | Measurement]) -> list[Outgoing]:
    # as_outgoing inlined: the outbox calls this for every row it drains
    return [i if isinstance(i, Outgoing) else of_measurement(i) for i in items]


ALL_KINDS = frozenset(OutgoingKind)
# Per destination kind, the resource kinds it takes. A destination kind not named takes none.
TAKEN_BY: dict[str, frozenset[OutgoingKind]] = {
    "fhir": ALL_KINDS,
    "directory": ALL_KINDS,
    # Observations only: measurements, the scores of a questionnaire and missed tasks; never the
    # response itself nor a zone alert (a DetectedIssue)
    "nhn-pmd": frozenset({OutgoingKind.MEASUREMENT, OutgoingKind.SCORE, OutgoingKind.MISSED_TASK}),
}


def takes(destination_kind: str, kind: OutgoingKind) -> bool:
    return kind in TAKEN_BY.get(destination_kind, frozenset())
