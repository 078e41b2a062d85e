"""Transaction bundles for a standard FHIR server (and for the directory destination), and the
strict reading of what the server answers.

A bundle holds, in this order: the hub's Device, one Device per distinct sensor, one Observation
per measurement. Every entry is a conditional create (`ifNoneExist` on its identifier), so sending
the same bundle twice — after a lost answer, a crash, a retry — changes nothing the second time.
Entries reference each other by `urn:uuid:` fullUrls that are derived from the identifiers, so the
same batch always yields the same bundle, byte for byte.

The Observation's fullUrl is deliberately NOT its identifier value (`urn:uuid:<measurement id>`):
servers rewrite fullUrls wherever they appear in the bundle, and at least one (Medplum) does so
inside `Identifier.value` too, which would break the identifier and with it the idempotency.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.measurements import Measurement
from hub.domain.readings import DeviceIdentity, Provenance
from sync.fhir.codes import URI_IDENTIFIER
from sync.fhir.context import FhirContext
from sync.fhir.devices import (
    HEIMA_NAMESPACE,
    device_for,
    device_key,
    hub_device_for,
    hub_key,
    identifier_query,
)
from sync.fhir.observations import observation_for

_UUID_URN = re.compile(r"^urn:uuid:([0-9a-fA-F-]{36})$")
_STATUS = re.compile(r"^\s*([1-5][0-9]{2})(\s|$)")


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(HEIMA_NAMESPACE, name)}"


def observation_full_url(measurement: Measurement) -> str:
    return _urn(f"observation-entry:{measurement.id}")


def device_full_url(system: str, value: str) -> str:
    return _urn(f"device-entry:{system}|{value}")


def _entry(full_url: str, resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": identifier_query(system, value)},
    }


def _richest(identities: list[DeviceIdentity]) -> DeviceIdentity:
    def known(i: DeviceIdentity) -> int:
        return sum(v is not None for v in (i.name, i.manufacturer, i.model, i.serial, i.firmware, i.system_id))

    return max(identities, key=known)


def transaction_bundle(measurements: Sequence[Measurement], ctx: FhirContext) -> dict[str, Any]:
    """One transaction Bundle for a batch of measurements."""
    if not measurements:
        raise ValueError("a transaction bundle needs at least one measurement")
    seen: set[uuid.UUID] = set()
    for m in measurements:
        if m.id in seen:
            raise ValueError(f"measurement {m.id} appears twice in one batch")
        seen.add(m.id)

    hub_system, hub_value = hub_key(ctx.hub)
    hub_url = device_full_url(hub_system, hub_value)
    entries = [_entry(hub_url, hub_device_for(ctx.hub), hub_system, hub_value)]

    sensors: dict[tuple[str, str], list[DeviceIdentity]] = {}
    for m in measurements:
        if m.reading.device is not None and m.provenance is Provenance.DEVICE:
            sensors.setdefault(device_key(m.reading.device), []).append(m.reading.device)
    for (system, value), identities in sensors.items():
        entries.append(_entry(device_full_url(system, value), device_for(_richest(identities)), system, value))

    gateway = {"reference": hub_url}
    for m in measurements:
        device_ref = None
        if m.reading.device is not None and m.provenance is Provenance.DEVICE:
            device_ref = {"reference": device_full_url(*device_key(m.reading.device))}
        obs = observation_for(m, ctx, device_reference=device_ref, gateway_reference=gateway)
        entries.append(_entry(observation_full_url(m), obs, URI_IDENTIFIER, m.urn))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# -- reading the answer ------------------------------------------------------------------------------------


class TransactionResponseError(ValueError):
    """The server's answer is not a usable transaction-response. The message says what was wrong
    with it in structural terms only: never a value from the bundle or the reply."""


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What the server said about one request entry (same order as the request)."""

    index: int
    resource_type: str
    status: int  # 201 created, 200 already there (conditional create matched), ...
    location: str | None
    measurement_id: uuid.UUID | None  # set for Observation entries

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def measurement_id_of(resource: dict[str, Any]) -> uuid.UUID | None:
    """The measurement UUID in an Observation's urn:ietf:rfc:3986 identifier."""
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == URI_IDENTIFIER:
            match = _UUID_URN.match(str(identifier.get("value", "")))
            if match:
                return uuid.UUID(match.group(1))
    return None


def _issue_codes(outcome: Any) -> str:
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    if not isinstance(issues, list):
        return "none"
    codes = sorted({f"{i.get('severity', '?')}/{i.get('code', '?')}" for i in issues if isinstance(i, dict)})
    return ", ".join(codes[:5]) or "none"


def _has_error(outcome: Any) -> bool:
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


def parse_transaction_response(bundle_json: Any, request_bundle: dict[str, Any]) -> list[EntryOutcome]:
    """Check the server's reply to `request_bundle` and return one outcome per request entry.

    `bundle_json` may be the parsed JSON or the raw body (str/bytes). Raises
    TransactionResponseError for anything that is not a well-formed transaction-response with one
    entry per request entry.
    """
    if isinstance(bundle_json, (bytes, bytearray, str)):
        try:
            bundle_json = json.loads(bundle_json)
        except (ValueError, UnicodeDecodeError):
            raise TransactionResponseError("the reply is not JSON") from None
    if not isinstance(bundle_json, dict):
        raise TransactionResponseError("the reply is JSON but not a FHIR resource")
    kind = bundle_json.get("resourceType")
    if kind == "OperationOutcome":
        raise TransactionResponseError(f"the reply is an OperationOutcome (issues: {_issue_codes(bundle_json)})")
    if kind != "Bundle":
        raise TransactionResponseError(f"the reply is a {str(kind)[:40]!r} resource, not a Bundle")
    if bundle_json.get("type") != "transaction-response":
        kind = str(bundle_json.get("type"))[:40]
        raise TransactionResponseError(f"the reply is a Bundle of type {kind!r}, not transaction-response")

    requested = request_bundle.get("entry") or []
    answered = bundle_json.get("entry")
    if answered is None:
        answered = []
    if not isinstance(answered, list):
        raise TransactionResponseError("the reply's Bundle.entry is not a list")
    if len(answered) != len(requested):
        raise TransactionResponseError(f"the reply has {len(answered)} entries for {len(requested)} requested")

    outcomes = []
    for index, (asked, got) in enumerate(zip(requested, answered, strict=True)):
        response = got.get("response") if isinstance(got, dict) else None
        if not isinstance(response, dict):
            raise TransactionResponseError(f"reply entry {index} has no response")
        match = _STATUS.match(str(response.get("status", "")))
        if not match:
            raise TransactionResponseError(f"reply entry {index} has no valid HTTP status")
        status = int(match.group(1))
        resource = asked.get("resource") or {}
        resource_type = str(resource.get("resourceType", ""))
        location = response.get("location")
        if location is not None and not isinstance(location, str):
            raise TransactionResponseError(f"reply entry {index} has a malformed location")
        if location and not re.search(rf"(^|/){re.escape(resource_type)}/[^/]+", location):
            raise TransactionResponseError(
                f"reply entry {index} names a resource of another type than requested ({resource_type})"
            )
        if 200 <= status < 300 and _has_error(response.get("outcome")):
            raise TransactionResponseError(f"reply entry {index} says {status} but carries an error outcome")
        outcomes.append(
            EntryOutcome(
                index=index,
                resource_type=resource_type,
                status=status,
                location=location or None,
                measurement_id=measurement_id_of(resource) if resource_type == "Observation" else None,
            )
        )
    return outcomes
