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

from hub.domain.measurements import Measurement
from hub.domain.questionnaire.submission import ScoreResult, Submission
from hub.domain.readings import DeviceIdentity


class OutgoingKind(enum.StrEnum):
    MEASUREMENT = "measurement"  # payload: Measurement (an Observation)
    DEVICE = "device"  # payload: DeviceIdentity (the device inventory: a Device resource)
    QUESTIONNAIRE_RESPONSE = "questionnaire-response"  # payload: Submission (a QuestionnaireResponse)
    SCORE = "score"  # payload: ScoreResult (an Observation derived from its response)


# The payload each kind carries. A new kind adds its type here, its codec in hub.store.payloads
# and its mapper in sync.fhir.resources; the worker and the destinations do not change.
Payload = Measurement | DeviceIdentity | Submission | ScoreResult
PAYLOAD_TYPES: dict[OutgoingKind, type] = {
    OutgoingKind.MEASUREMENT: Measurement,
    OutgoingKind.DEVICE: DeviceIdentity,
    OutgoingKind.QUESTIONNAIRE_RESPONSE: Submission,
    OutgoingKind.SCORE: ScoreResult,
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One thing to send: its kind, its identifier fixed at capture, and what it is."""

    kind: OutgoingKind
    id: uuid.UUID
    payload: Payload

    def __post_init__(self) -> None:
        if not isinstance(self.payload, PAYLOAD_TYPES[self.kind]):
            raise TypeError(f"an outgoing {self.kind.value} carries a {PAYLOAD_TYPES[self.kind].__name__}")
        if isinstance(self.payload, Measurement | Submission | ScoreResult) and self.payload.id != self.id:
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


def as_outgoing(item: Outgoing | Measurement) -> Outgoing:
    """A measurement is the commonest thing to send: accept it where an Outgoing is meant."""
    return item if isinstance(item, Outgoing) else of_measurement(item)


def as_outgoings(items: Iterable[Outgoing | Measurement]) -> list[Outgoing]:
    return [as_outgoing(i) for i in items]


ALL_KINDS = frozenset(OutgoingKind)
# Per destination kind, the resource kinds it takes. A destination kind not named takes none.
TAKEN_BY: dict[str, frozenset[OutgoingKind]] = {
    "fhir": ALL_KINDS,
    "directory": ALL_KINDS,
    # Observations only: measurements and the scores of a questionnaire, never the response itself
    "nhn-pmd": frozenset({OutgoingKind.MEASUREMENT, OutgoingKind.SCORE}),
}


def takes(destination_kind: str, kind: OutgoingKind) -> bool:
    return kind in TAKEN_BY.get(destination_kind, frozenset())
