"""NHN Pasientens måledata (`nhn-pmd`): Observation-only batch Bundles, no conditional create.

PMD cannot recognise an Observation it already holds (no `ifNoneExist`), so idempotency is ours,
in two parts, both kept in the hub's database (the `AckLedger`):

- **the ack ledger**: every entry PMD acknowledged (2xx in its batch-response) is written down
  with the batch's identifier and the entry's status before the outbox row is marked delivered.
  An acknowledged entry is never sent again — not after a crash between the two writes, not when
  the worker hands it over again;
- **stable batches**: a batch is written down (its Bundle.identifier and members) *before* it is
  sent. If the answer is lost (timeout, reset, a reply that cannot be read), the next try sends
  the very same batch with the very same Bundle.identifier — derived from the sorted measurement
  ids — so PMD can tell it is a repeat. Only if that batch can no longer be sent as it was (some
  of its measurements were withdrawn, set aside, or are not due together) are the rest sent in a
  new batch, with a new identifier.

What this cannot do alone: when an answer is lost after PMD stored the batch, the hub does not
know, and sends the batch again. Only the server, by recognising the Bundle.identifier (or the
Observations' own `urn:uuid:` identifiers), can keep that from becoming a second copy. See
docs/centre-integration.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from hub.domain.outgoing import Outgoing, as_outgoings
from sync.delivery import DeliveryError, EntryResult, Outcome
from sync.destinations.fhir_server import FhirServerDestination
from sync.fhir.pmd import PROFILE, PmdMappingError, identifier_of, pmd_build
from sync.fhir.resources import not_taken

log = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 50  # keep bundles small: a 10 MB bundle was refused at a 2025 hackathon


class OpenBatchLike(Protocol):
    bundle_identifier: str
    resource_ids: tuple[str, ...]


class AckLedger(Protocol):
    """What the destination keeps in the hub's database (hub.store.Store implements it)."""

    async def acknowledged(self, destination: str, resource_ids: Sequence[str]) -> set[str]: ...

    async def open_batches(self, destination: str) -> Sequence[OpenBatchLike]: ...

    async def batch_sending(self, destination: str, bundle_identifier: str, resource_ids: Sequence[str]) -> None: ...

    async def batch_answered(
        self, destination: str, bundle_identifier: str, acks: Sequence[tuple[str, int, str | None]]
    ) -> None: ...

    async def batch_superseded(self, destination: str, bundle_identifier: str) -> None: ...


class NhnPmdDestination(FhirServerDestination):
    kind = "nhn-pmd"
    resend_note = " with the same Bundle.identifier"
    # Not prepared ahead by the worker (sync.outbox): what is sent depends on the ack ledger and
    # the open batches at the moment of sending, so send() builds its batches then.
    prepare = None  # type: ignore[assignment]

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        ctx: Any,
        ledger: AckLedger,
        kommunenummer: str,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = 30.0,
        auth: httpx.Auth | None = None,
        verify: Any = None,
    ) -> None:
        super().__init__(
            name, base_url, ctx=ctx, client=client, timeout=timeout, bundle_type="batch", auth=auth, verify=verify
        )
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ledger = ledger
        self.kommunenummer = kommunenummer

    async def send(self, resources: Sequence[Outgoing]) -> list[EntryResult]:
        """Deliver in batches of at most `max_entries` Observations.

        Entries the ledger says PMD already acknowledged are reported delivered without being
        sent. A kind PMD does not take (anything but a measurement) is rejected, never sent. A
        later batch failing returns the results of the earlier ones; the first failing raises."""
        refused, measurements = not_taken(PROFILE, as_outgoings(resources))
        by_id = {str(m.id): m for m in measurements}
        done = await self.ledger.acknowledged(self.name, list(by_id))
        if done:
            log.info("PMD destination %s: %d entries were acknowledged before; not sent again", self.name, len(done))
        # If the first batch then fails, the error is raised and these are reported next time
        # (from the ledger again, still without sending them).
        results = refused + [EntryResult(by_id[i].id, Outcome.DELIVERED) for i in by_id if i in done]
        runs = await self._plan([m for m in measurements if str(m.id) not in done])
        for number, run in enumerate(runs):
            try:
                results.extend(await self._send_batch(run))
            except DeliveryError as exc:
                if number == 0:
                    raise
                log.info(
                    "PMD destination %s: batch %d of %d failed (%s); %d measurements left for a retry",
                    self.name,
                    number + 1,
                    len(runs),
                    exc.reason,
                    sum(len(r) for r in runs[number:]),
                )
                break
        return results

    async def _plan(self, measurements: Sequence[Outgoing]) -> list[list[Outgoing]]:
        """Batches to send: first every earlier unanswered batch that can be sent again exactly
        as it was, then the rest in new batches, in the order given."""
        by_id = {str(m.id): m for m in measurements}
        runs: list[list[Outgoing]] = []
        taken: set[str] = set()
        for batch in await self.ledger.open_batches(self.name):
            members = set(batch.resource_ids)
            if not members & by_id.keys():
                continue
            if members <= by_id.keys() - taken and len(members) <= self.max_entries:
                runs.append([by_id[i] for i in batch.resource_ids])
                taken |= members
            else:
                await self.ledger.batch_superseded(self.name, batch.bundle_identifier)
                log.info(
                    "PMD destination %s: an unanswered batch cannot be repeated as it was; its measurements "
                    "still due go in a new batch (new Bundle.identifier)",
                    self.name,
                )
        rest = [m for m in measurements if str(m.id) not in taken]
        runs.extend(rest[i : i + self.max_entries] for i in range(0, len(rest), self.max_entries))
        return runs

    async def _send_batch(self, run: Sequence[Outgoing]) -> list[EntryResult]:
        try:
            built = pmd_build(run, self.ctx, kommunenummer=self.kommunenummer)
        except PmdMappingError as exc:  # configuration, not data: never dead-letter for it
            raise DeliveryError(f"cannot build the PMD bundle: {exc}; check the configuration; will retry") from None
        bundle = built.bundle
        identifier = identifier_of(bundle)
        await self.ledger.batch_sending(self.name, identifier, [str(m.id) for m in run])
        outcomes = self._outcomes(await self._post(bundle), bundle)
        acks = [(rid, o.status, o.location) for o in outcomes if o.ok for rid in built.owners[o.index]]
        await self.ledger.batch_answered(self.name, identifier, acks)
        return self._results(outcomes, built.owners)
