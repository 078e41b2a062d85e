"""A standard FHIR R4 server: Bundles of conditional creates (ifNoneExist on the identifier).

Two modes:
- `batch` (the default): one `batch` Bundle per batch of outgoing resources (Observations, the
  inventory's Devices, ...: sync.fhir.resources maps each by kind); the server answers each entry
  on its own, so one bad entry is rejected alone and the rest are delivered.
- `transaction`: all or nothing, cut into transactions of at most `max_entries` entries (see
  MEDPLUM_MAX_TRANSACTION_ENTRIES for why the limit is small).

Only a parsed transaction-/batch-response counts as success. Everything that might be the server's or
the network's passing trouble is a transient DeliveryError (the batch is retried as it is, which is
safe: every entry is a conditional create). Only answers that blame the content of the batch are
permanent (the worker then sends entries one by one, and a single entry rejected is dead-lettered).
Reasons name what happened and what happens next; they never quote the bundle, nor anything the
server said beyond a status number and coded values from fixed lists (sync.server_text): its
diagnostics, reason phrase and headers may echo patient data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from hub.domain.ids import TextUUID
from hub.domain.outgoing import Outgoing, as_outgoing
from hub.domain.usual import UsualOutgoing, id_texts
from sync.auth import AuthError, describe_tls_error
from sync.delivery import DeliveryError, EntryResult, Outcome
from sync.fhir.bundles import (
    BUNDLE_TYPES,
    Built,
    BundleResponseError,
    BundleType,
    EntryOutcome,
    build,
    issue_codes,
    parse_response,
    parse_response_lean,
    split_batch,
)
from sync.fhir.context import FhirContext
from sync.fhir.resources import PROFILE_OF, not_taken
from sync.server_text import quiet_http_logs, seconds_text, status_text

log = logging.getLogger(__name__)
quiet_http_logs()  # httpx/httpcore would log the server's reason phrase and headers

FHIR_JSON = "application/fhir+json"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Why transactions are small: a transaction with a conditional create (our every entry) must run
# with strict (serializable) isolation, and Medplum — the reference server, and a production
# server — refuses such a transaction when it has more than 8 entries ("Transaction requires
# strict isolation but has too many entries", maxSerializableTransactionEntries in
# @medplum/fhir-router). The limit counts every entry, the Device entries included, so a
# transaction carries the hub, the sensor and at most 6 Observations. Batches have no such limit.
MEDPLUM_MAX_TRANSACTION_ENTRIES = 8
# The smallest bundle that can carry a measurement: the hub's Device, the sensor's, the Observation.
MIN_ENTRIES = 3


def whole_request_seconds(timeout: httpx.Timeout) -> float | None:
    """The bound on a whole request: the longest of httpx's per-operation limits. httpx applies
    each to one connect, one read, one write — a server that sends a byte a second never trips a
    read limit — so the destination bounds the whole exchange (token, request, answer) too."""
    limits = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
    return max(limits) if limits else None


# 4xx answers that blame the batch itself: sending entries one by one finds the culprit.
PERMANENT_STATUSES = frozenset({400, 412, 413, 414, 422})
# Every other 4xx (401/403 credentials, 404/405/410 wrong URL, 406/415 content negotiation,
# 408 timeout, 409 concurrent write, 429 slow down, ...) would fail every entry alike: dead-
# lettering one by one would throw away good data for a configuration or server problem, so those
# are transient — retried, and visible as the destination's error.


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_status_text = status_text


def _issue_codes(body: bytes) -> str:
    """The OperationOutcome's severity/code pairs (coded, never free text), or ''."""
    try:
        outcome = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    return _issues_text(issue_codes(outcome))


def _issues_text(codes: Sequence[str]) -> str:
    return f" (issues: {', '.join(codes)})" if codes else ""


def _is_https(exc: httpx.HTTPError) -> bool:
    try:
        return exc.request.url.scheme == "https"
    except RuntimeError:  # no request attached
        return False


def _network_reason(exc: httpx.HTTPError, timeout: str) -> str:
    tls = describe_tls_error(exc, "the FHIR server")
    if tls is not None:
        return tls
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from the FHIR server within {timeout}; will retry (re-sending is safe)"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return (
                "the FHIR server's TLS certificate could not be verified; "
                "check the centre's certificate and the hub's CA store; will retry"
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the FHIR server; will retry"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)) and _is_https(exc):
        # With TLS 1.3 a server that refuses the client's certificate says so only after the
        # handshake: the client sees the connection broken off, with no reason it can read.
        return (
            "the FHIR server broke off the secure connection without answering; if it requires the hub's "
            "client certificate (mutual TLS), check client_cert/client_key and that the centre has registered "
            "this hub's certificate; will retry"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the FHIR server closed the connection without a complete answer; will retry (re-sending is safe)"
    return f"talking to the FHIR server failed ({type(exc).__name__}); will retry"


def _ready_to_send() -> None:
    """What httpx's first request would import — anyio's asyncio backend, ~30 modules, ~30 ms of
    CPU on this machine — imported when the destination is made (the hub's start), not inside its
    first delivery: a one-time cost, 3 us per Observation of a first 10,000 (issue 13, part D3)."""
    import anyio._backends._asyncio  # noqa: F401


def _unbound(response: httpx.Response) -> httpx.Response:
    """The response, read and closed by httpx, without the reference cycle httpx leaves it in
    (its stream, bound to it, refers back to it): freed — with the request and the body sent, a
    batch's ~0.8 MB — as soon as it is dropped, not at the cyclic collector's next run. Its
    content is kept as its stream, as httpx makes a response built from content."""
    response.stream = httpx.ByteStream(response.content)
    return response


def _serialise(bundle: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (orjson: the floor for this work, with arm64 wheels for the Pi)."""
    return orjson.dumps(bundle)


_new = object.__new__
_SET_ID, _SET_OUTCOME, _SET_REASON = (EntryResult.__dict__[f].__set__ for f in ("resource_id", "outcome", "reason"))


def _delivered(resource_id: uuid.UUID) -> EntryResult:
    """EntryResult(resource_id, Outcome.DELIVERED), one per delivered resource: its slots set
    directly, without the frozen dataclass's setattr per field."""
    result = _new(EntryResult)
    _SET_ID(result, resource_id)
    _SET_OUTCOME(result, Outcome.DELIVERED)
    _SET_REASON(result, None)
    return result


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch as requests ready to send: each bundle with its body, and the resources of kinds
    this destination does not take (rejected, never sent)."""

    refused: list[EntryResult]
    requests: list[tuple[Built, bytes]]
    ids: dict[str, uuid.UUID]  # each resource's id by its text: the answer names them by it


class FhirServerDestination:
    kind = "fhir"
    resend_note = " (re-sending is safe)"  # every entry is a conditional create
    # Each exchange is freed as soon as it is read (_unbound): the worker need not run the
    # collector after each batch for this destination's requests (sync.outbox, part D4).
    frees_its_requests = True

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        ctx: FhirContext,
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
        bundle_type: BundleType = "batch",
        max_entries: int | None = None,
        auth: httpx.Auth | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """`bundle_type`: "batch" (default; each entry answered on its own) or "transaction" (all
        or nothing). `max_entries`: the most entries one request may carry, Device entries
        included; a batch of measurements that needs more is sent as several requests. Default:
        no limit for batches, MEDPLUM_MAX_TRANSACTION_ENTRIES for transactions.
        `auth`: an httpx Auth for every request (e.g. sync.auth.PrivateKeyJwtAuth).
        `verify`: a TLS context (sync.auth.tls_context: a pinned CA, the hub's client
        certificate); only for a client this destination makes itself. Verification is never off."""
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("a FHIR destination needs an http:// or https:// base URL")
        if bundle_type not in BUNDLE_TYPES:
            raise ValueError(f"bundle_type must be one of {', '.join(BUNDLE_TYPES)}")
        if max_entries is None and bundle_type == "transaction":
            max_entries = MEDPLUM_MAX_TRANSACTION_ENTRIES
        if max_entries is not None and max_entries < MIN_ENTRIES:
            raise ValueError(f"max_entries must be at least {MIN_ENTRIES} (the hub, a sensor and one Observation)")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.ctx = ctx
        self.bundle_type: BundleType = bundle_type
        self.max_entries = max_entries
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.deadline = whole_request_seconds(self.timeout)
        self._owns_client = client is None
        if verify is not None and client is not None:
            raise ValueError("give TLS settings (verify) or a client, not both")
        # TLS verification stays on: the default client verifies, and we never build one that does not.
        self._client = client or httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, verify=verify if verify is not None else True
        )
        self._auth = auth
        _ready_to_send()
        # Prefer: return=minimal — the server need not echo every resource back (Medplum's does:
        # ~1.9 KB per Observation, read and thrown away); a server that echoes anyway is read the same.
        self._headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, "Prefer": "return=minimal", **(headers or {})}

    def _timeout_text(self) -> str:
        return f"{self.deadline:g} s" if self.deadline else "the time limit"

    async def send(self, resources: Sequence[Outgoing]) -> list[EntryResult]:
        """Deliver the resources in as many requests as `max_entries` demands, in order.

        If the first request fails, its DeliveryError is raised (nothing was delivered). If a later
        one fails, the results of the requests that got through are returned — those rows ARE
        delivered and must be marked so — and the rest are left out, so the worker retries them.
        A kind this destination does not take is rejected without being sent.
        """
        return await self.send_prepared(self.prepare(resources))

    def prepare(self, resources: Sequence[Outgoing]) -> Prepared:
        """The requests for a batch, built and serialised before it is sent: the worker prepares
        the next batch while the server works on this one (sync.outbox). Sending a prepared batch
        is the same as `send(resources)`."""
        items = [i if isinstance(i, Outgoing) else as_outgoing(i) for i in resources]
        refused, items = not_taken(PROFILE_OF[self.kind], items)
        requests = []
        for run in split_batch(items, self.max_entries):
            # the usual Observations' entries as JSON text already (read back with identify=False)
            built = build(run, self.ctx, self.bundle_type, encoded=True)
            requests.append((built, _serialise(built.bundle)))
        return Prepared(refused, requests, {text: i.id for text, i in zip(id_texts(items), items, strict=True)})

    async def send_prepared(self, prepared: Prepared) -> list[EntryResult]:
        """`send` for a batch `prepare` built: the same requests, in order, with the same rules."""
        results = list(prepared.refused)
        for number, (built, body) in enumerate(prepared.requests):
            try:
                response = await self._post(built.bundle, body)
                results.extend(self._results(self._outcomes(response, built.bundle, lean=True), built.owners, prepared.ids))
            except DeliveryError as exc:
                if number == 0:
                    raise
                left = sum(len(ids) for b, _ in prepared.requests[number:] for ids in b.owners)
                log.info(
                    "FHIR destination %s: request %d of %d failed (%s); %d resources left for a retry",
                    self.name,
                    number + 1,
                    len(prepared.requests),
                    exc.reason,
                    left,
                )
                break
        return results

    async def _post(self, bundle: dict[str, Any], body: bytes | None = None) -> httpx.Response:
        """POST a bundle (`body`: already serialised) to the base URL; a failure to get any answer
        is a transient DeliveryError."""
        if body is None:
            body = _serialise(bundle)
        extra: dict[str, Any] = {"auth": self._auth} if self._auth is not None else {}
        deadline = asyncio.timeout(self.deadline)
        try:
            async with deadline:
                return _unbound(
                    await self._client.post(self.base_url, content=body, headers=self._headers, timeout=self.timeout, **extra)
                )
        except TimeoutError:
            if not deadline.expired():  # pragma: no cover - an OS-level timeout, not ours
                raise DeliveryError(f"no answer from the FHIR server within {self._timeout_text()}; will retry") from None
            # Given up on as a whole (a server that answers a byte at a time, a token endpoint
            # that hangs): the worker is free for the next try and the rows stay pending.
            raise DeliveryError(
                f"the FHIR server did not finish answering within {self._timeout_text()} (the destination's timeout "
                f"bounds the whole request); will retry{self.resend_note}"
            ) from None
        except AuthError as exc:
            raise DeliveryError(exc.reason, retry_after=exc.retry_after) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(_network_reason(exc, self._timeout_text())) from None
        except (ssl.SSLError, OSError) as exc:
            # A TLS alert read after the handshake (a refused client certificate under TLS 1.3) can
            # come through httpx unwrapped.
            reason = describe_tls_error(exc, "the FHIR server") or f"the connection to the FHIR server failed ({type(exc).__name__})"
            raise DeliveryError(reason if reason.endswith("will retry") else f"{reason}; will retry") from None

    def _outcomes(self, response: httpx.Response, bundle: dict[str, Any], *, lean: bool = False) -> list[EntryOutcome | None]:
        """The parsed answer, one outcome per request entry; DeliveryError when there is none.
        `lean`: None for each usual Observation the server created (parse_response_lean)."""
        status = response.status_code
        said = f"FHIR server answered {_status_text(status)}"
        if not 200 <= status < 300:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status in PERMANENT_STATUSES:
                # The worker adds what happens next (split the batch, or set the one entry aside).
                raise DeliveryError(f"{said}{_issue_codes(response.content)}: refused as sent", permanent=True)
            if 300 <= status < 400:
                raise DeliveryError(f"{said} (a redirect); check the destination's base URL; will retry")
            hint = {
                401: "; check the hub's credentials",
                403: "; check the hub's authorisation at the centre",
                404: "; check the destination's base URL",
                405: "; check the destination's base URL",
            }.get(status, "")
            wait = f" (server asked to wait {seconds_text(retry_after)})" if retry_after is not None else ""
            raise DeliveryError(
                f"{said}{_issue_codes(response.content)}{hint}; will retry{wait}", retry_after=retry_after
            )

        content_type = response.headers.get("content-type", "").lower()
        if "html" in content_type:
            raise DeliveryError(f"{said} with an HTML page, not FHIR (a proxy or login page?); will retry")
        try:
            if lean:
                return parse_response_lean(response.content, bundle)
            return list(parse_response(response.content, bundle, identify=False))
        except BundleResponseError as exc:
            raise DeliveryError(f"{said} but {exc}; will retry{self.resend_note}") from None

    def _results(
        self,
        outcomes: Sequence[EntryOutcome | None],
        owners: Sequence[tuple[str, ...]] | None = None,
        known: dict[str, uuid.UUID] | None = None,
    ) -> list[EntryResult]:
        """One result per outgoing resource an entry delivers (`owners`, per entry, as the bundle
        was built; without them, an Observation delivers its measurement). An entry that
        delivers none — the hub's Device, a sensor's — only travels with the others. `known`:
        the batch's ids by their text (the same objects the worker holds; none parsed again).
        An outcome None (parse_response_lean, with `owners`): the usual Observation, created."""
        results: list[EntryResult] = []
        known = known or {}
        for index, outcome in enumerate(outcomes):
            if outcome is None:  # a usual Observation the server created: its resources delivered
                assert owners is not None, "a lean answer is read with the bundle's owners"
                own = owners[index]
                if len(own) == 1:
                    results.append(_delivered(known.get(own[0]) or TextUUID.of(own[0])))
                else:
                    results.extend(_delivered(known.get(o) or TextUUID.of(o)) for o in own)
                continue
            if owners is not None:
                own = owners[outcome.index]
                if len(own) == 1 and outcome.ok:  # the usual entry: one resource, delivered
                    results.append(_delivered(known.get(own[0]) or TextUUID.of(own[0])))
                    continue
                ids = tuple(known.get(o) or TextUUID.of(o) for o in own)
            else:
                ids = (outcome.measurement_id,) if outcome.measurement_id is not None else ()
            if not ids:
                self._device_outcome(outcome)
                continue
            if outcome.ok:
                for i in ids:
                    results.append(EntryResult(i, Outcome.DELIVERED))
            elif outcome.problem is None and outcome.status in PERMANENT_STATUSES:
                reason = f"FHIR server rejected this entry ({_status_text(outcome.status)}{_issues_text(outcome.issues)})"
                results.extend(EntryResult(i, Outcome.REJECTED, reason) for i in ids)
            # any other status (429, 5xx, 409, 404, an unreadable entry answer, ...): not reported,
            # so the worker tries that entry again later
        return results

    def _device_outcome(self, outcome: EntryOutcome) -> None:
        if outcome.ok:
            return
        what = outcome.problem or _status_text(outcome.status)
        if self.bundle_type == "transaction":
            raise DeliveryError(f"FHIR server refused a Device entry ({what}) yet answered the transaction; will retry")
        # A batch: the Observations stand on their own (they name the Device by identifier), so a
        # Device the server did not take does not hold them back; the Device is sent again with
        # the next batch from that sensor.
        log.warning("FHIR destination %s: a Device entry was not accepted (%s)", self.name, what)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
        closer = getattr(self._auth, "aclose", None)
        if closer is not None:
            await closer()
