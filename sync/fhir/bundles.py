"""Bundles for a standard FHIR server (and for the directory destination), and the strict reading
of what the server answers.

Two kinds, built from the same parts:

- `transaction_bundle`: all or nothing. Entries reference each other by `urn:uuid:` fullUrls
  (Observation -> the sensor's Device and the hub's Device in the same bundle).
- `batch_bundle`: every entry stands alone (the server processes and answers each on its own;
  entries of a batch may not reference each other), so Observations reference the Devices
  logically, by identifier, and the Devices are conditionally created as entries beside them so
  the server holds them.

A bundle holds, in this order: the hub's Device, one Device per distinct device (the sensors the
Observations name, and Devices of the inventory sent in their own right — one entry per device),
then every other outgoing resource (an Observation per measurement), each mapped by its kind
through sync.fhir.resources. Every entry is a conditional create (`ifNoneExist` on its identifier), so sending
the same bundle twice — after a lost answer, a crash, a retry — changes nothing the second time.
fullUrls are derived from the identifiers, so the same batch always yields the same bundle, byte
for byte.

The Observation's fullUrl is deliberately NOT its identifier value (`urn:uuid:<measurement id>`):
servers rewrite fullUrls wherever they appear in the bundle, and at least one (Medplum) does so
inside `Identifier.value` too, which would break the identifier and with it the idempotency.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeVar, cast

import orjson

from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, as_outgoing
from hub.domain.readings import DeviceIdentity
from hub.domain.usual import UsualOutgoing, UsualValue, id_texts
from sync.fhir.context import FhirContext
from sync.fhir.observations import _fhir_time_text, device_reference_of, usual_observation, usual_observation_parts
from sync.fhir.devices import device_for, device_key, heima_urn, hub_device_for, hub_key, identifier_query, search_token
from sync.fhir.resources import (
    Mapped,
    device_full_url,
    mapper_for,
    observation_full_url,
)
from sync.fhir.codes import URI_IDENTIFIER
from sync.server_text import ISSUE_SEVERITIES, ISSUE_TYPES, coded

__all__ = [
    "BUNDLE_TYPES", "Built", "BundleResponseError", "BundleType", "EntryOutcome", "batch_bundle", "build",
    "device_full_url", "entry_count", "issue_codes", "measurement_id_of", "observation_full_url",
    "parse_batch_response", "parse_response", "parse_transaction_response", "split_batch", "transaction_bundle",
]

BundleType = Literal["batch", "transaction"]
BUNDLE_TYPES: tuple[BundleType, ...] = ("batch", "transaction")
PROFILE = "fhir"  # the mapping profile of a standard FHIR server and of the folder

Item = Outgoing | Measurement  # a measurement alone is accepted as the outgoing it is
T = TypeVar("T", Outgoing, Measurement, Item)

_UUID_URN = re.compile(r"^urn:uuid:([0-9a-fA-F-]{36})$")
_STATUS = re.compile(r"^\s*([1-5][0-9]{2})(\s|$)")


def _entry(full_url: str, resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": identifier_query(system, value)},
    }


# The ifNoneExist of an Observation named by a canonical urn:uuid (nothing in it to escape).
_BY_URN = f"identifier={search_token(URI_IDENTIFIER, '')}"


def _usual_entry_of(usual: UsualValue, ctx: FhirContext) -> dict[str, Any] | None:
    """The batch entry of the usual measurement (hub.domain.usual): what ObservationMapper.map
    and _entry make of it, byte for byte, without the Mapped in between; None when its
    Observation is not one usual_observation writes."""
    obs = usual_observation(usual, ctx)
    if obs is None:
        return None
    urn = "urn:uuid:" + usual.id
    return {
        "fullUrl": heima_urn(f"observation-entry:{usual.id}"),
        "resource": obs,
        "request": {"method": "POST", "url": "Observation", "ifNoneExist": _BY_URN + urn},
    }


# The usual entry as JSON text (issue 13): its JSON is the dict entry's (`_usual_entry_of`) with
# five values put in — its fullUrl, its id twice (identifier, ifNoneExist), its time, its number.
# The text around them is written once per Observation template and device by orjson itself, with
# marks where the values go; the values are canonical (hex, digits) and need no escaping.
_MARKS = re.compile(rb'"\\u0001v"|\\u0001([fut])')
_SLOTS = ["f", "u", "t", "v", "u"]  # the marks' order in the entry: fullUrl, identifier, time, value, ifNoneExist
_PIECES: dict[tuple[int, int], tuple[Any, Any, tuple[bytes, ...] | None]] = {}


def _entry_pieces(obs_template: dict[str, Any], quantity_template: dict[str, Any], device: DeviceIdentity) -> tuple[bytes, ...] | None:
    key = (id(obs_template), id(device))
    found = _PIECES.get(key)
    if found is not None and found[0] is obs_template and found[1] is device:
        return found[2]
    quantity = quantity_template.copy()
    quantity["value"] = "\x01v"
    obs = obs_template.copy()
    obs["identifier"] = [{"system": URI_IDENTIFIER, "value": "urn:uuid:\x01u"}]
    obs["effectiveDateTime"] = "\x01t"
    obs["valueQuantity"] = quantity
    obs["device"] = device_reference_of(device)
    entry = {"fullUrl": "\x01f", "resource": obs, "request": {"method": "POST", "url": "Observation", "ifNoneExist": _BY_URN + "urn:uuid:\x01u"}}
    split = _MARKS.split(orjson.dumps(entry))
    slots = [s.decode() if s is not None else "v" for s in split[1::2]]
    # Any other shape (a mark inside a template's own text) is written from the dict instead.
    pieces = tuple(split[0::2]) if slots == _SLOTS else None
    if len(_PIECES) > 1024:
        _PIECES.clear()
    _PIECES[key] = (obs_template, device, pieces)
    return pieces


class _UsualEncoder:
    """`_usual_entry_of` as its JSON text (None when it is not one this shortcut writes), for the
    rows of one batch: what an entry's kind, unit, number and device decide (the text around its
    values, the number as written) is worked out for the first row that has them and looked up
    for the rest — a backlog's rows share a handful of each — leaving each row its time, its id
    and its fullUrl (tests/unit/test_usual_delivery.py holds the body to the dict bundle's, byte
    for byte, a row at a time and in batches)."""

    __slots__ = ("ctx", "known")

    def __init__(self, ctx: FhirContext) -> None:
        self.ctx = ctx
        # (kind, unit, number, id(device)) -> (pieces, number's JSON): the device objects are
        # the batch's own, alive while it is built
        self.known: dict[tuple[Any, str, float, int], tuple[tuple[bytes, ...], bytes]] = {}

    def __call__(self, usual: UsualValue) -> orjson.Fragment | None:
        key = (usual.kind, usual.unit, usual.value, id(usual.device))
        found = self.known.get(key)
        if found is None:
            parts = usual_observation_parts(usual, self.ctx)
            if parts is None:
                return None
            obs_template, quantity_template, number, when = parts
            pieces = _entry_pieces(obs_template, quantity_template, usual.device)
            if pieces is None:
                return None
            found = self.known[key] = (pieces, orjson.dumps(number))
        else:
            when = _fhir_time_text(usual.effective_time)
            if when is None:
                return None
        (p0, p1, p2, p3, p4, p5), number_text = found
        uid = usual.id.encode()
        full = heima_urn(f"observation-entry:{usual.id}").encode()
        return orjson.Fragment(b"".join((p0, full, p1, uid, p2, when.encode(), p3, number_text, p4, uid, p5)))


def _richest(identities: list[DeviceIdentity]) -> DeviceIdentity:
    def known(i: DeviceIdentity) -> int:
        return sum(v is not None for v in (i.name, i.manufacturer, i.model, i.serial, i.firmware, i.system_id))

    # each identity once (a batch names one sensor 500 times, read back as one object: found by
    # identity first, not hashed 500 times), the first of equals as before
    distinct = dict.fromkeys({id(i): i for i in identities}.values())
    return max(distinct, key=known)


def _is_device(item: Outgoing) -> bool:
    return mapper_for(PROFILE, item.kind).resource_type == "Device"


def _device_keys(items: Sequence[Outgoing]) -> dict[tuple[str, str], list[DeviceIdentity]]:
    """Every device the bundle carries (sensors named, and Devices sent in their own right),
    by key, in the order first seen."""
    devices: dict[tuple[str, str], list[DeviceIdentity]] = {}
    seen: dict[int, list[DeviceIdentity]] = {}  # by object: rows read back share one per device
    for item in items:
        # the usual row names its one device (ObservationMapper.sensors, without the look-ups)
        sensors = (item.usual.device,) if type(item) is UsualOutgoing else mapper_for(PROFILE, item.kind).sensors(item)
        for identity in sensors:
            same = seen.get(id(identity))
            if same is None:
                same = seen[id(identity)] = devices.setdefault(device_key(identity), [])
            same.append(identity)
    return devices


def entry_count(items: Sequence[Item]) -> int:
    """How many entries the bundle for these resources has: the hub, each distinct device, each
    resource that is not itself one of those devices."""
    outgoing = [as_outgoing(i) for i in items]
    return 1 + len(_device_keys(outgoing)) + sum(not _is_device(i) for i in outgoing)


def split_batch(items: Sequence[T], max_entries: int | None) -> list[list[T]]:
    """The resources in order, cut into runs whose bundles have at most `max_entries` entries
    (Device entries included: every bundle repeats the hub and the devices its resources name).
    `None` means no limit: one run."""
    if max_entries is None:
        return [list(items)] if items else []
    runs: list[list[T]] = []
    run: list[T] = []
    keys: set[tuple[str, str]] = set()  # the devices the current run carries
    others = 0  # its entries that are not devices
    for original in items:
        item = as_outgoing(original)
        mapper = mapper_for(PROFILE, item.kind)
        own = {device_key(d) for d in mapper.sensors(item)}
        entry = 0 if mapper.resource_type == "Device" else 1
        if 1 + len(own) + entry > max_entries:  # the hub, its devices, itself
            raise ValueError(f"max_entries={max_entries} cannot hold even one resource with its Devices")
        if run and 1 + len(keys | own) + others + entry > max_entries:
            runs.append(run)
            run, keys, others = [], set(), 0
        run.append(original)
        keys |= own
        others += entry
    if run:
        runs.append(run)
    return runs


@dataclass(frozen=True, slots=True)
class Built:
    """A bundle, and which outgoing resources each of its entries delivers (none: the hub's
    Device or a sensor's, travelling with the resources that name them)."""

    bundle: dict[str, Any]
    owners: tuple[tuple[str, ...], ...]


def build(items: Sequence[Item], ctx: FhirContext, bundle_type: BundleType, *, encoded: bool = False) -> Built:
    """The bundle for a batch: the hub's Device, one Device per distinct device (a Device sent in
    its own right stands for its key), then every other resource in order. `encoded`: a usual
    Observation's entry is its JSON text already (an orjson.Fragment, for sending: the answer is
    then read with identify=False), not a dict."""
    outgoing = [i if isinstance(i, Outgoing) else as_outgoing(i) for i in items]
    if not outgoing:
        raise ValueError(f"a {bundle_type} bundle needs at least one resource")
    texts = id_texts(outgoing)
    if len(set(texts)) != len(outgoing):  # a UUID is its canonical text (kept by the store's ids)
        raise ValueError("a resource appears twice in one batch")
    transaction = bundle_type == "transaction"
    mapped: list[tuple[Outgoing, Mapped | dict[str, Any] | orjson.Fragment, bool]] = []
    encode = _UsualEncoder(ctx) if encoded else None
    for item in outgoing:
        if type(item) is UsualOutgoing and not transaction:  # the usual row of a backlog: its entry at once
            entry = encode(item.usual) if encode is not None else _usual_entry_of(item.usual, ctx)
            if entry is not None:
                mapped.append((item, entry, False))
                continue
        mapper = mapper_for(PROFILE, item.kind)
        mapped.append((item, mapper.map(item, ctx, transaction=transaction), mapper.resource_type == "Device"))
    sent_devices: dict[tuple[str, str], list[tuple[Outgoing, Mapped]]] = {}
    for item, m, is_device in mapped:
        if is_device:
            assert isinstance(m, Mapped)
            sent_devices.setdefault(m.key, []).append((item, m))

    hub_system, hub_value = hub_key(ctx.hub)
    entries = [_entry(device_full_url(hub_system, hub_value), hub_device_for(ctx.hub), hub_system, hub_value)]
    owners: list[tuple[str, ...]] = [()]
    for key, identities in _device_keys(outgoing).items():
        own = sent_devices.get(key)
        if own:  # the inventory's own Device for this key: one entry, delivering each of them
            entries.append(_entry(own[0][1].full_url, own[0][1].resource, *key))
            owners.append(tuple(str(i.id) for i, _ in own))
        else:
            entries.append(_entry(device_full_url(*key), device_for(_richest(identities)), *key))
            owners.append(())
    for (item, m, is_device), text in zip(mapped, texts, strict=True):
        if not is_device:
            entries.append(m if type(m) is dict or type(m) is orjson.Fragment else _entry(m.full_url, m.resource, *m.key))
            owners.append((text,))
    return Built({"resourceType": "Bundle", "type": bundle_type, "entry": entries}, tuple(owners))


def transaction_bundle(items: Sequence[Item], ctx: FhirContext) -> dict[str, Any]:
    """One transaction Bundle for a batch (all or nothing)."""
    return build(items, ctx, "transaction").bundle


def batch_bundle(items: Sequence[Item], ctx: FhirContext) -> dict[str, Any]:
    """One batch Bundle for a batch (each entry on its own)."""
    return build(items, ctx, "batch").bundle


# -- reading the answer ------------------------------------------------------------------------------------


class BundleResponseError(ValueError):
    """The server's answer is not a usable transaction-/batch-response. The message says what was
    wrong with it in structural terms only: never a value from the bundle or the reply."""


TransactionResponseError = BundleResponseError  # the older name


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What the server said about one request entry (same order as the request)."""

    index: int
    resource_type: str
    status: int  # 201 created, 200 already there (conditional create matched), ...; 0 unreadable
    location: str | None
    measurement_id: uuid.UUID | None  # set for Observation entries
    issues: tuple[str, ...] = ()  # the entry outcome's "severity/code" pairs (coded, never free text)
    problem: str | None = None  # (batch only) why this entry's answer is unusable; the entry is unknown

    @property
    def ok(self) -> bool:
        return self.problem is None and 200 <= self.status < 300


def measurement_id_of(resource: dict[str, Any]) -> uuid.UUID | None:
    """The measurement UUID in an Observation's urn:ietf:rfc:3986 identifier."""
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == URI_IDENTIFIER:
            match = _UUID_URN.match(str(identifier.get("value", "")))
            if match:
                return uuid.UUID(match.group(1))
    return None


def issue_codes(outcome: Any) -> tuple[str, ...]:
    """An OperationOutcome's distinct `severity/code` pairs, sorted, at most five. Only codes from
    FHIR's fixed IssueSeverity and IssueType lists: anything else is shown as `?`, so free text
    (which may echo patient data) never gets through."""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    if not isinstance(issues, list):
        return ()
    found = set()
    for issue in issues:
        if isinstance(issue, dict):
            severity, code = coded(issue.get("severity"), ISSUE_SEVERITIES), coded(issue.get("code"), ISSUE_TYPES)
            found.add(f"{severity or '?'}/{code or '?'}")
    return tuple(sorted(found)[:5])


def _has_error(outcome: Any) -> bool:
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


@lru_cache(maxsize=32)
def _location_of(resource_type: str) -> re.Pattern[str]:
    return re.compile(rf"(^|/){re.escape(resource_type)}/[^/]+")


def _read_entry(index: int, resource_type: str, got: Any) -> tuple[int, str | None, tuple[str, ...]]:
    """One reply entry's (status, location, issues); raises BundleResponseError when unusable.

    Read once per delivered resource, so the usual answer takes short cuts that say exactly what
    the plain checks say (tests/unit/test_fhir_fast_paths.py): the status text's number, the
    location's type and an outcome with one issue are looked up, not worked out each time."""
    response = got.get("response") if isinstance(got, dict) else None
    if not isinstance(response, dict):
        raise BundleResponseError(f"reply entry {index} has no response")
    status = _status_number(str(response.get("status", "")))
    if status is None:
        raise BundleResponseError(f"reply entry {index} has no valid HTTP status")
    location = response.get("location")
    if location is not None and not isinstance(location, str):
        raise BundleResponseError(f"reply entry {index} has a malformed location")
    if location and not _names_type(location, resource_type):
        raise BundleResponseError(f"reply entry {index} names a resource of another type than requested ({resource_type})")
    outcome = response.get("outcome")
    if outcome is None:  # the usual answer to a create: nothing more to read
        return status, location or None, ()
    has_error, issues = _outcome_codes(outcome)
    if 200 <= status < 300 and has_error:
        raise BundleResponseError(f"reply entry {index} says {status} but carries an error outcome")
    return status, location or None, issues


def _usual_entry(resource_type: str, got: Any) -> tuple[int, str, tuple[str, ...]] | None:
    """The usual answer to a create — `{"response": {"status": "201...", "location": "Type/id...",
    "outcome"?: one informational issue}}` — read in one step: (status, location, issues) exactly
    as _read_entry reads it (tests/unit/test_fhir_fast_paths.py); None for anything else (then
    _read_entry reads it, and says what is wrong)."""
    response = got.get("response") if type(got) is dict else None
    if type(response) is not dict:
        return None
    status = _status_number(response.get("status")) if type(response.get("status")) is str else None
    location = response.get("location")
    if status is None or type(location) is not str or not 200 <= status < 300 or not _names_type(location, resource_type):
        return None
    outcome = response.get("outcome")
    if outcome is None:
        return status, location, ()
    if _outcome_codes(outcome) != _INFORMATIONAL:
        return None
    return status, location, _INFORMATIONAL[1]


_INFORMATIONAL = (False, ("information/informational",))
# EntryOutcome's slots, set directly for the usual answer (one per delivered resource): what its
# frozen __init__ sets, without a setattr call per field.
_new = object.__new__
_SET_OUTCOME = tuple(
    EntryOutcome.__dict__[f].__set__
    for f in ("index", "resource_type", "status", "location", "measurement_id", "issues", "problem")
)


def _made_outcome(
    index: int, resource_type: str, status: int, location: str, measurement_id: uuid.UUID | None, issues: tuple[str, ...]
) -> EntryOutcome:
    """EntryOutcome(index, resource_type, status, location, measurement_id, issues)."""
    outcome = _new(EntryOutcome)
    set_index, set_type, set_status, set_location, set_id, set_issues, set_problem = _SET_OUTCOME
    set_index(outcome, index)
    set_type(outcome, resource_type)
    set_status(outcome, status)
    set_location(outcome, location)
    set_id(outcome, measurement_id)
    set_issues(outcome, issues)
    set_problem(outcome, None)
    return outcome


@lru_cache(maxsize=64)
def _status_number(text: str) -> int | None:
    """The HTTP status number an entry's `status` text starts with; None when it has none."""
    match = _STATUS.match(text)
    return int(match.group(1)) if match else None


def _names_type(location: str, resource_type: str) -> bool:
    """The location names a resource of `resource_type` (`Type/id`, possibly after a base URL)."""
    n = len(resource_type)
    if location.startswith(resource_type) and location[n : n + 1] == "/" and location[n + 1 : n + 2] not in ("", "/"):
        return True  # "Observation/123/_history/1": the usual answer
    return _location_of(resource_type).search(location) is not None


def _outcome_codes(outcome: Any) -> tuple[bool, tuple[str, ...]]:
    """(an error or fatal issue among them, issue_codes(outcome)) for an entry's outcome."""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    if isinstance(issues, list) and len(issues) == 1 and isinstance(issues[0], dict):
        severity, code = issues[0].get("severity"), issues[0].get("code")
        if isinstance(severity, str) and isinstance(code, str):  # the usual "information/informational"
            return _one_issue(severity, code)
    return _has_error(outcome), issue_codes(outcome)


@lru_cache(maxsize=256)
def _one_issue(severity: str, code: str) -> tuple[bool, tuple[str, ...]]:
    outcome = {"issue": [{"severity": severity, "code": code}]}
    return _has_error(outcome), issue_codes(outcome)


def _parse_response(
    reply: Any, request_bundle: dict[str, Any], bundle_type: BundleType, *, identify: bool = True, lean: bool = False
) -> list[EntryOutcome | None]:
    if request_bundle.get("type") != bundle_type:  # pragma: no cover - a caller's mistake
        raise ValueError(f"the request bundle is not a {bundle_type}")
    expected = f"{bundle_type}-response"
    if lean and bundle_type == "batch" and type(reply) is bytes:
        tail = _usual_tail(reply, request_bundle.get("entry") or [])
        if tail is not None:  # the usual Observations' answers checked as text: only the head read
            head, usual = tail
            requested_head = {"type": bundle_type, "entry": request_bundle["entry"][: len(head)]}
            answer_head = {"resourceType": "Bundle", "type": expected, "entry": head}
            return _parse_response(answer_head, requested_head, bundle_type, identify=False, lean=True) + [None] * usual
    if isinstance(reply, (bytes, bytearray, str)):
        try:
            reply = orjson.loads(reply)
        except (ValueError, UnicodeDecodeError):  # orjson.JSONDecodeError is a ValueError
            raise BundleResponseError("the reply is not JSON") from None
    if not isinstance(reply, dict):
        raise BundleResponseError("the reply is JSON but not a FHIR resource")
    kind = reply.get("resourceType")
    if kind == "OperationOutcome":
        raise BundleResponseError(f"the reply is an OperationOutcome (issues: {', '.join(issue_codes(reply)) or 'none'})")
    if kind != "Bundle":
        raise BundleResponseError("the reply is another kind of resource, not a Bundle")  # never quote it
    if reply.get("type") != expected:
        raise BundleResponseError(f"the reply is a Bundle of another type, not {expected}")

    requested = request_bundle.get("entry") or []
    answered = reply.get("entry")
    if answered is None:
        answered = []
    if not isinstance(answered, list):
        raise BundleResponseError("the reply's Bundle.entry is not a list")
    if len(answered) != len(requested):
        raise BundleResponseError(f"the reply has {len(answered)} entries for {len(requested)} requested")

    outcomes: list[EntryOutcome | None] = []
    usual_outcome: Any = None  # the last outcome found informational (Medplum: one per entry, all equal)
    for index, (asked, got) in enumerate(zip(requested, answered, strict=True)):
        if lean and type(asked) is orjson.Fragment:  # a usual Observation: is its answer the usual one?
            response = got.get("response") if type(got) is dict else None
            if type(response) is dict:
                status, location, outcome = response.get("status"), response.get("location"), response.get("outcome")
                if (
                    type(status) is str
                    and type(location) is str
                    and (outcome is None or (outcome == usual_outcome and usual_outcome is not None))
                    and 200 <= (_status_number(status) or 0) < 300
                    and location[:12] == "Observation/"  # _names_type's first test, inline
                    and location[12:13] not in ("", "/")
                ):
                    outcomes.append(None)
                    continue
                usual = _usual_entry("Observation", got)
                if usual is not None:  # the usual answer with an outcome not seen before
                    usual_outcome = response.get("outcome")
                    if usual_outcome is not None:
                        _learn_usual_outcome(usual_outcome)
                    outcomes.append(None)
                    continue
        if type(asked) is orjson.Fragment:  # a usual Observation's entry, already JSON (build(encoded=True))
            if identify:
                raise ValueError("an encoded bundle's answer is read with identify=False (Built.owners says what each entry carries)")
            resource, resource_type = None, "Observation"
        else:
            resource = asked.get("resource") or {}
            resource_type = str(resource.get("resourceType", ""))
        measurement_id = measurement_id_of(resource) if identify and resource_type == "Observation" else None
        usual = _usual_entry(resource_type, got)
        if usual is not None:
            outcomes.append(_made_outcome(index, resource_type, usual[0], usual[1], measurement_id, usual[2]))
            continue
        try:
            status, location, issues = _read_entry(index, resource_type, got)
        except BundleResponseError as exc:
            if bundle_type == "transaction":
                raise  # all or nothing: a reply we cannot read entirely tells us nothing
            # In a batch each entry stands alone: one unreadable answer makes that entry unknown
            # (retried later), not the whole batch.
            outcomes.append(EntryOutcome(index, resource_type, 0, None, measurement_id, problem=str(exc)))
            continue
        outcomes.append(EntryOutcome(index, resource_type, status, location, measurement_id, issues))
    return outcomes


def parse_transaction_response(reply: Any, request_bundle: dict[str, Any]) -> list[EntryOutcome]:
    """Check the server's reply to the transaction `request_bundle`; one outcome per request entry.

    `reply` may be the parsed JSON or the raw body (str/bytes). Raises BundleResponseError
    (alias TransactionResponseError) for anything that is not a well-formed transaction-response
    with one well-formed entry per request entry.
    """
    return cast("list[EntryOutcome]", _parse_response(reply, request_bundle, "transaction"))


def parse_batch_response(reply: Any, request_bundle: dict[str, Any]) -> list[EntryOutcome]:
    """Check the server's reply to the batch `request_bundle`; one outcome per request entry.

    Raises BundleResponseError when the reply as a whole is unusable (not JSON, not a
    batch-response, not exactly one entry per request entry). An entry whose own answer is
    unusable gets an outcome with `problem` set (and `ok` False): that entry is unknown, the
    others stand.
    """
    return cast("list[EntryOutcome]", _parse_response(reply, request_bundle, "batch"))


# The usual answer to a batch, as text (part D4): the reply's start as a server writes it compactly
# (Medplum does), and the informational outcomes seen on usual entries, as orjson writes them (a
# server that writes them so sends them byte for byte, 500 times a batch), a handful at most.
_BATCH_REPLY_START = b'{"resourceType":"Bundle","type":"batch-response","entry":['
_ENTRY_START = b',{"response":'
_USUAL_OUTCOMES: dict[bytes, None] = {}


def _learn_usual_outcome(outcome: Any) -> None:
    """Remember the text of an outcome _usual_entry found informational on a usual entry."""
    if len(_USUAL_OUTCOMES) < 4:
        _USUAL_OUTCOMES.setdefault(orjson.dumps(outcome))


@lru_cache(maxsize=16)
def _usual_run(outcome: bytes, count: int) -> re.Pattern[bytes]:
    """`count` usual answers to the creation of an Observation, each after a comma, then the
    reply's end — each exactly what _usual_entry accepts, in a stricter spelling: a 2xx status
    (with a reason phrase or none), a location `Observation/id` (with a version or none), the
    outcome `outcome` (informational: learnt from _usual_entry). Any other text: no match."""
    entry = (
        rb'\{"response":\{"outcome":' + re.escape(outcome) + rb',"status":"2[0-9]{2}(?: [A-Za-z ]{1,40})?",'
        rb'"location":"Observation/[A-Za-z0-9.\-]{1,64}(?:/_history/[A-Za-z0-9.\-]{1,64})?"\}\}'
    )
    return re.compile(rb"(?:," + entry + rb"){%d}\]\}" % count)


def _usual_tail(reply: bytes, requested: Sequence[Any]) -> tuple[list[Any], int] | None:
    """(the head's entries, parsed; how many usual answers follow it) when the reply to a batch
    whose head (the hub's and the sensors' Devices) is followed only by usual Observations
    (build(encoded=True)'s Fragments) is exactly: the compact start, the head's entries, then one
    usual answer per Observation (_usual_run) and the end. None for anything else: the reply is
    then read in full. The reply is the same JSON either way — a valid head and a matched run,
    joined as they stand in the text, are the whole Bundle — so what is read is what a full
    reading reads (tests/unit/test_lean_answer.py)."""
    if not _USUAL_OUTCOMES or not reply.startswith(_BATCH_REPLY_START):
        return None
    head = 0
    while head < len(requested) and type(requested[head]) is not orjson.Fragment:
        head += 1
    usual = len(requested) - head
    if head == 0 or usual == 0 or any(type(e) is not orjson.Fragment for e in requested[head:]):
        return None
    split = len(_BATCH_REPLY_START) - 1
    for _ in range(head):  # the comma before the first usual answer, if the head is as it looks
        split = reply.find(_ENTRY_START, split + 1)
        if split < 0:
            return None
    if not any(_usual_run(outcome, usual).fullmatch(reply, split) for outcome in _USUAL_OUTCOMES):
        return None
    try:
        entries = orjson.loads(b"[" + reply[len(_BATCH_REPLY_START) : split] + b"]")
    except ValueError:
        return None
    return (entries, usual) if len(entries) == head else None


def parse_response_lean(reply: Any, request_bundle: dict[str, Any]) -> list[EntryOutcome | None]:
    """parse_response(reply, request_bundle, identify=False), with None in place of the outcome of
    each usual Observation (an entry build(encoded=True) wrote) that the server created or found —
    a 2xx status, a location naming an Observation, no outcome or one informational issue, as
    `_usual_entry` reads it — and an EntryOutcome, as ever, for every other entry. What the FHIR
    destination needs of a batch's answer (entry i delivered or not), without an outcome object
    per delivered Observation (issue 13, part D4). The same checks refuse the same replies."""
    bundle_type = request_bundle.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"cannot read the answer to a {str(bundle_type)[:40]!r} bundle")
    return _parse_response(reply, request_bundle, bundle_type, identify=False, lean=True)


def parse_response(reply: Any, request_bundle: dict[str, Any], *, identify: bool = True) -> list[EntryOutcome]:
    """parse_batch_response or parse_transaction_response, after the request bundle's type.
    `identify=False`: leave EntryOutcome.measurement_id unset (the caller knows which resource
    each entry carries: Built.owners)."""
    bundle_type = request_bundle.get("type")
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"cannot read the answer to a {str(bundle_type)[:40]!r} bundle")
    return cast("list[EntryOutcome]", _parse_response(reply, request_bundle, bundle_type, identify=identify))
