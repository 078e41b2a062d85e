"""Share an outgoing resource that is not a measurement (the device inventory today; a
questionnaire response, a score, a zone alert, a missed task soon): stored with one outbox row
per destination that takes its kind, in one transaction, then delivered by the same worker, on the
same exactly-once path as a measurement. Measurements come through MeasurementService.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from hub.domain.outgoing import Outgoing, OutgoingKind, of_device
from hub.domain.readings import DeviceIdentity

log = logging.getLogger(__name__)


class OutgoingStore(Protocol):
    async def enqueue(self, item: Outgoing, destinations: Iterable[str]) -> bool: ...


class OutgoingService:
    def __init__(
        self,
        store: OutgoingStore,
        *,
        destinations_for: Callable[[OutgoingKind], Sequence[str]],
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """`destinations_for`: routing and consent (hub.services.consent.ConsentService.destinations_for_resource)."""
        self.store = store
        self.destinations_for = destinations_for
        self.on_queued = on_queued

    async def share(self, item: Outgoing) -> bool:
        """Queue `item` for every destination that takes its kind; True when it was new (the
        same identifier again is queued once, whatever happens in between)."""
        created = await self.store.enqueue(item, self.destinations_for(item.kind))
        if created:
            log.info("a %s was queued for sending", item.kind.value)
            if self.on_queued:
                self.on_queued()
        return created

    async def share_device(self, device: DeviceIdentity, *, id: uuid.UUID | None = None) -> Outgoing:
        """The device inventory's entry for `device`, named now (or by `id`), queued."""
        item = of_device(device, id)
        await self.share(item)
        return item
