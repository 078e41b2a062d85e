"""Outgoing resource -> FHIR, by kind: the registry every destination maps through.

A mapping profile is the FHIR a destination kind speaks: `fhir` (a standard FHIR server, and the
folder's bundles) and `nhn-pmd` (Pasientens måledata, registered by sync.fhir.pmd). Each profile
maps the resource kinds it takes; a kind a profile has no mapper for is one its destinations do
not take (hub.domain.outgoing.TAKEN_BY says the same for routing, and a test holds the two
together). A new kind is added by registering its mapper here — the outbox worker and the
destinations do not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.domain.readings import DeviceIdentity, Provenance
from hub.domain.usual import UsualOutgoing
from sync.delivery import EntryResult, Outcome
from sync.fhir.codes import URI_IDENTIFIER
from sync.fhir.context import FhirContext
from sync.fhir.devices import device_for, device_key, heima_urn, hub_key
from sync.fhir.observations import observation_for, usual_observation
from sync.fhir.questionnaires import response_for, score_observation_for

# Destination kind -> the mapping profile it speaks.
PROFILE_OF = {"fhir": "fhir", "directory": "fhir", "nhn-pmd": "nhn-pmd"}


@dataclass(frozen=True, slots=True)
class Mapped:
    """One outgoing resource as FHIR: the resource, the identifier that names it (conditional
    create, logical references, dedupe within a bundle) and its entry's fullUrl."""

    resource: dict[str, Any]
    key: tuple[str, str]  # (system, value)
    full_url: str


class ResourceMapper(Protocol):
    resource_type: str  # what it maps to: "Observation", "Device", ...

    def sensors(self, item: Outgoing) -> Sequence[DeviceIdentity]:
        """The Devices the resource needs in a bundle that carries Devices: those it names, or —
        for a Device — itself (the bundle then holds one entry for that device, this one)."""
        ...

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        """`transaction`: references may point at other entries of the bundle (by fullUrl)."""
        ...


class NotTaken(LookupError):
    """The destination's profile has no mapper for this kind: it does not take it."""


_REGISTRY: dict[str, dict[OutgoingKind, ResourceMapper]] = {}


def register(profile: str, kind: OutgoingKind, mapper: ResourceMapper) -> None:
    _REGISTRY.setdefault(profile, {})[kind] = mapper


def mapper_for(profile: str, kind: OutgoingKind) -> ResourceMapper:
    try:
        return _REGISTRY[profile][kind]
    except KeyError:
        raise NotTaken(f"a {profile} destination does not take a {kind.value}") from None


def kinds_mapped(profile: str) -> frozenset[OutgoingKind]:
    return frozenset(_REGISTRY.get(profile, {}))


def takes(profile: str, item: Outgoing) -> bool:
    return item.kind in _REGISTRY.get(profile, {})


# -- shared names ------------------------------------------------------------------------------------------


_urn = heima_urn


def observation_full_url(measurement: Measurement) -> str:
    """Deliberately not the identifier value: see sync.fhir.bundles."""
    return _urn(f"observation-entry:{measurement.id}")


@lru_cache(maxsize=256)
def device_full_url(system: str, value: str) -> str:
    return _urn(f"device-entry:{system}|{value}")


def sensor_of(measurement: Measurement) -> DeviceIdentity | None:
    """The sensor that measured it, when it came from one (a manual entry has none)."""
    if measurement.reading.device is not None and measurement.provenance is Provenance.DEVICE:
        return measurement.reading.device
    return None


# -- the standard FHIR profile -----------------------------------------------------------------------------


class ObservationMapper:
    """A measurement -> its Observation (sync.fhir.observations), named by the measurement's UUID."""

    resource_type = "Observation"

    def sensors(self, item: Outgoing) -> Sequence[DeviceIdentity]:
        if type(item) is UsualOutgoing:  # from a device, by definition
            return (item.usual.device,)
        sensor = sensor_of(_measurement(item))
        return (sensor,) if sensor is not None else ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        if type(item) is UsualOutgoing and not transaction:  # the usual row of a backlog, as stored
            obs = usual_observation(item.usual, ctx)
            if obs is not None:
                return Mapped(obs, (URI_IDENTIFIER, obs["identifier"][0]["value"]), _urn(f"observation-entry:{item.usual.id}"))
        m = _measurement(item)
        # In a transaction references point at the Devices' entries (the server resolves them to
        # the stored Devices); in a batch they cannot, so observation_for's default — a logical
        # reference by identifier — is used.
        device_ref = gateway = None
        if transaction:
            gateway = {"reference": device_full_url(*hub_key(ctx.hub))}
            sensor = sensor_of(m)
            device_ref = {"reference": device_full_url(*device_key(sensor))} if sensor is not None else None
        obs = observation_for(m, ctx, device_reference=device_ref, gateway_reference=gateway)
        return Mapped(obs, (URI_IDENTIFIER, obs["identifier"][0]["value"]), observation_full_url(m))


class DeviceMapper:
    """An entry of the device inventory -> its Device (PHD IG PhdDevice), named by its device key:
    conditional create finds the Device the Observations of that sensor already created."""

    resource_type = "Device"

    def sensors(self, item: Outgoing) -> Sequence[DeviceIdentity]:
        assert isinstance(item.payload, DeviceIdentity)
        return (item.payload,)

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        identity = item.payload
        assert isinstance(identity, DeviceIdentity)
        key = device_key(identity)
        return Mapped(device_for(identity), key, device_full_url(*key))


def _measurement(item: Outgoing) -> Measurement:
    m = item.measurement
    if m is None:  # pragma: no cover - the registry is keyed by kind
        raise TypeError("not a measurement")
    return m


class QuestionnaireResponseMapper:
    """A submitted form -> its QuestionnaireResponse (sync.fhir.questionnaires), named by the
    identifier fixed at submit."""

    resource_type = "QuestionnaireResponse"

    def sensors(self, item: Outgoing) -> Sequence[DeviceIdentity]:
        return ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        return Mapped(response_for(item.payload, ctx), (URI_IDENTIFIER, item.urn), _urn(f"response-entry:{item.id}"))  # type: ignore[arg-type]


class ScoreMapper:
    """A score of a submitted form -> its Observation, derivedFrom the response by identifier
    (logical: the response may travel in another bundle, or — for PMD — not at all)."""

    resource_type = "Observation"

    def sensors(self, item: Outgoing) -> Sequence[DeviceIdentity]:
        return ()

    def map(self, item: Outgoing, ctx: FhirContext, *, transaction: bool) -> Mapped:
        return Mapped(score_observation_for(item.payload, ctx), (URI_IDENTIFIER, item.urn), _urn(f"score-entry:{item.id}"))  # type: ignore[arg-type]


register("fhir", OutgoingKind.MEASUREMENT, ObservationMapper())
register("fhir", OutgoingKind.DEVICE, DeviceMapper())
register("fhir", OutgoingKind.QUESTIONNAIRE_RESPONSE, QuestionnaireResponseMapper())
register("fhir", OutgoingKind.SCORE, ScoreMapper())


def not_taken(profile: str, items: Sequence[Outgoing]) -> tuple[list[EntryResult], list[Outgoing]]:
    """(a rejection for each resource of a kind `profile` does not take, the rest). Routing never
    queues such a row; one moved or configured by hand is set aside with the reason, never sent."""
    taken = _REGISTRY.get(profile, {})
    if all(kind in taken for kind in {item.kind for item in items}):  # a backlog: one or two kinds
        return [], list(items)
    refused: list[EntryResult] = []
    rest: list[Outgoing] = []
    for item in items:
        if takes(profile, item):
            rest.append(item)
        else:
            reason = f"a {profile} destination does not take a {item.kind.value}; set aside, not sent"
            refused.append(EntryResult(item.id, Outcome.REJECTED, reason))
    return refused, rest


# The self-care plan's kinds (a zone alert, a missed task) register their mappers there.
import sync.fhir.careplan  # noqa: E402,F401
