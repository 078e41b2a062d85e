"""The contract between the outbox worker and a destination (a FHIR server, a folder, ...).

A destination takes a batch of measurements and says, per measurement, whether it was delivered
or permanently rejected. A failure of the whole exchange (network, 5xx, 429, a reply that cannot
be parsed) raises `DeliveryError`; the worker then retries the batch later. Reasons are written
for logs and for the technician: they never contain patient data.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.domain.measurements import Measurement


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"  # the destination holds it (created now, or already had it)
    REJECTED = "rejected"  # the destination will never take it as it is: dead-letter it


@dataclass(frozen=True, slots=True)
class EntryResult:
    measurement_id: uuid.UUID
    outcome: Outcome
    reason: str | None = None


class DeliveryError(Exception):
    """The batch as a whole did not get through.

    `permanent` means sending the same batch again cannot succeed (a 4xx other than 408/429):
    the worker then sends its entries one by one to find the one at fault. `retry_after` is the
    server's own advice in seconds, when it gave one.
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Destination(Protocol):
    """Where measurements go. One instance per configured destination."""

    name: str
    kind: str

    async def send(self, measurements: Sequence[Measurement]) -> list[EntryResult]: ...

    async def aclose(self) -> None: ...
