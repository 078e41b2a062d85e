"""The contract between the outbox worker and a destination (a FHIR server, a folder, ...).

A destination takes a batch of outgoing resources (hub.domain.outgoing: measurements, Devices of
the inventory, ...) and says, per resource, whether it was delivered or permanently rejected; a
kind its destination kind does not take is rejected, never sent (routing never queues one). A failure of the whole exchange (network, 5xx, 429, a reply that cannot
be parsed) raises `DeliveryError`; the worker then retries the batch later. Reasons are written
for logs and for the technician: they never contain patient data.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.domain.outgoing import Outgoing


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"  # the destination holds it (created now, or already had it)
    REJECTED = "rejected"  # the destination will never take it as it is: dead-letter it


@dataclass(frozen=True, slots=True)
class EntryResult:
    resource_id: uuid.UUID  # the outgoing resource's identifier (a measurement's own UUID)
    outcome: Outcome
    reason: str | None = None

    @property
    def measurement_id(self) -> uuid.UUID:
        """The older name: a measurement's outgoing resource is named by the measurement's id."""
        return self.resource_id


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
    """Where outgoing resources go. One instance per configured destination."""

    name: str
    kind: str

    async def send(self, resources: Sequence[Outgoing]) -> list[EntryResult]: ...

    async def aclose(self) -> None: ...
