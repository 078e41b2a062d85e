"""A standard FHIR R4 server: one transaction Bundle per batch, conditional create on identifier.

Only a parsed transaction-response counts as success. Everything that might be the server's or
the network's passing trouble is a transient DeliveryError (the batch is retried as it is, which is
safe: every entry is a conditional create). Only answers that blame the content of the batch are
permanent (the worker then sends entries one by one, and a single entry rejected is dead-lettered).
Reasons name what happened and what happens next; they never quote the bundle or the server's
diagnostics, which may echo patient data.
"""

from __future__ import annotations

import json
import math
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from hub.domain.measurements import Measurement
from sync.delivery import DeliveryError, EntryResult, Outcome
from sync.fhir.bundles import TransactionResponseError, parse_transaction_response, transaction_bundle
from sync.fhir.context import FhirContext

FHIR_JSON = "application/fhir+json"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

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


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _issue_codes(body: bytes) -> str:
    """The OperationOutcome's severity/code pairs (coded, never free text), or ''."""
    try:
        outcome = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    if outcome.get("resourceType") != "OperationOutcome" or not isinstance(issues, list):
        return ""
    codes = sorted({f"{i.get('severity')}/{i.get('code')}" for i in issues if isinstance(i, dict)})
    return f" (issues: {', '.join(codes[:5])})" if codes else ""


def _network_reason(exc: httpx.HTTPError, timeout: str) -> str:
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
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the FHIR server closed the connection without a complete answer; will retry (re-sending is safe)"
    return f"talking to the FHIR server failed ({type(exc).__name__}); will retry"


class FhirServerDestination:
    kind = "fhir"

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        ctx: FhirContext,
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("a FHIR destination needs an http:// or https:// base URL")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.ctx = ctx
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._owns_client = client is None
        # TLS verification stays on: the default client verifies, and we never build one that does not.
        self._client = client or httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **(headers or {})}

    def _timeout_text(self) -> str:
        seconds = self.timeout.read or self.timeout.connect
        return f"{seconds:g} s" if seconds else "the time limit"

    async def send(self, measurements: Sequence[Measurement]) -> list[EntryResult]:
        if not measurements:
            return []
        bundle = transaction_bundle(measurements, self.ctx)
        body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = await self._client.post(self.base_url, content=body, headers=self._headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(_network_reason(exc, self._timeout_text())) from None
        return self._read(response, bundle)

    def _read(self, response: httpx.Response, bundle: dict[str, Any]) -> list[EntryResult]:
        status = response.status_code
        said = f"FHIR server answered {_status_text(status)}"
        if not 200 <= status < 300:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status in PERMANENT_STATUSES:
                raise DeliveryError(
                    f"{said}{_issue_codes(response.content)}: it refuses this batch as it is; "
                    "sending the entries one by one",
                    permanent=True,
                )
            if 300 <= status < 400:
                raise DeliveryError(f"{said} (a redirect); check the destination's base URL; will retry")
            hint = {
                401: "; check the hub's credentials",
                403: "; check the hub's authorisation at the centre",
                404: "; check the destination's base URL",
                405: "; check the destination's base URL",
            }.get(status, "")
            wait = f" (server asked to wait {retry_after:g} s)" if retry_after is not None else ""
            raise DeliveryError(
                f"{said}{_issue_codes(response.content)}{hint}; will retry{wait}", retry_after=retry_after
            )

        content_type = response.headers.get("content-type", "").lower()
        if "html" in content_type:
            raise DeliveryError(f"{said} with an HTML page, not FHIR (a proxy or login page?); will retry")
        try:
            outcomes = parse_transaction_response(response.content, bundle)
        except TransactionResponseError as exc:
            raise DeliveryError(f"{said} but {exc}; will retry (re-sending is safe)") from None

        results: list[EntryResult] = []
        for outcome in outcomes:
            if outcome.resource_type != "Observation":
                if not outcome.ok:
                    raise DeliveryError(
                        f"FHIR server refused a Device entry ({_status_text(outcome.status)}) "
                        "yet answered the batch; will retry"
                    )
                continue
            if outcome.measurement_id is None:  # pragma: no cover - we built the bundle
                continue
            if outcome.ok:
                results.append(EntryResult(outcome.measurement_id, Outcome.DELIVERED))
            elif outcome.status in PERMANENT_STATUSES:
                results.append(
                    EntryResult(
                        outcome.measurement_id,
                        Outcome.REJECTED,
                        f"FHIR server rejected this entry ({_status_text(outcome.status)})",
                    )
                )
            # any other status: not reported, so the worker tries that entry again later
        return results

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
