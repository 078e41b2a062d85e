"""The mapping registry: each destination kind maps each resource kind it takes, routing and
mapping agree, and a Device of the inventory shares its bundle entry with its sensor's."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

import sync.fhir.pmd  # noqa: F401  (registers Pasientens måledata's mapper)
from hub.domain.outgoing import TAKEN_BY, OutgoingKind, of_device, of_measurement
from sync.delivery import Outcome
from sync.fhir.bundles import build, entry_count, split_batch
from sync.fhir.devices import device_key
from sync.fhir.resources import PROFILE_OF, kinds_mapped, not_taken
from tests.servers.samples import CTX, OXIMETER, batch


def test_every_destination_kind_maps_exactly_the_kinds_routing_sends_it():
    assert set(PROFILE_OF) == set(TAKEN_BY)
    for destination_kind, taken in TAKEN_BY.items():
        assert kinds_mapped(PROFILE_OF[destination_kind]) == taken, destination_kind
    assert OutgoingKind.DEVICE not in TAKEN_BY["nhn-pmd"]  # Observations only


def test_pasientens_maledata_rejects_a_device_without_sending_it():
    device, [m] = of_device(OXIMETER), batch(1)
    refused, rest = not_taken("nhn-pmd", [device, of_measurement(m)])
    assert [r.resource_id for r in refused] == [device.id] and refused[0].outcome is Outcome.REJECTED
    assert [r.id for r in rest] == [m.id]


def test_a_device_sent_in_its_own_right_is_the_one_entry_for_its_key():
    ms = batch(3)  # all from OXIMETER
    device = of_device(OXIMETER)
    for bundle_type in ("batch", "transaction"):
        built = build([ms[0], device, *ms[1:]], CTX, bundle_type)
        Bundle.model_validate(built.bundle)
        types = [e["resource"]["resourceType"] for e in built.bundle["entry"]]
        assert types == ["Device", "Device", "Observation", "Observation", "Observation"]  # the hub, the oximeter, 3
        assert built.owners == ((), (str(device.id),), *((str(m.id),) for m in ms))
        oximeter = built.bundle["entry"][1]
        assert oximeter["request"]["ifNoneExist"].endswith(device_key(OXIMETER)[1])
        if bundle_type == "transaction":  # the Observations reference that very entry
            assert {e["resource"]["device"]["reference"] for e in built.bundle["entry"][2:]} == {oximeter["fullUrl"]}
    assert entry_count([device, *ms]) == 5
    assert entry_count([device]) == 2  # the hub and the Device


def test_split_batch_counts_a_device_once_with_its_sensors_observations():
    ms = batch(12)
    device = of_device(OXIMETER)
    runs = split_batch([device, *ms], 8)
    assert [len(r) for r in runs] == [7, 6]  # hub + oximeter (the device itself) + 6; then hub + oximeter + 6
    assert all(entry_count(r) <= 8 for r in runs)
