"""The kit list: paired devices with serial, model, firmware, battery, last seen and clock offset,
from the hub's bonds and its store; as FHIR R4 Device resources that fhir.resources' R4B models
accept. A technician's test measurement is stored marked, and never queued for a care provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device

from hub.app.technician import bonded_addresses, kit, kit_bundle, print_kit
from hub.config import DestinationConfig, HubConfig
from hub.domain.kit import kit_entries, shared_with_care_providers
from hub.domain.readings import DeviceIdentity, MeasurementKind, QualityFlag, Reading
from hub.services.measurements import MeasurementService
from hub.store import Store

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OXIMETER = DeviceIdentity(
    address="F0:11:22:33:44:01", name="Heima PLX 1", manufacturer="Heima Test Devices", model="PLX-1", serial="PLX1-0001", firmware="1.4.2"
)
CUFF = DeviceIdentity(address="F0:11:22:33:44:02", name="Heima BP 1", model="BP-1", serial="BP1-0001", firmware="2.0")


def bonds(path: Path, *peers: str) -> Path:
    # A Bumble JSON keystore, as the virtual radio writes it: {namespace (the hub): {peer/P: keys}}.
    path.write_text(json.dumps({"00:00:00:00:00:AA/P": {f"{p}/P": {"ltk": {"value": "00" * 16}} for p in peers}}))
    return path


async def record(store: Store, *readings: Reading) -> MeasurementService:
    service = MeasurementService(store, destinations_for=lambda kind: ("kommune",), local_zone=UTC, clock=lambda: T)
    for reading in readings:
        await service.record_reading(reading)
    return service


async def test_the_kit_lists_paired_devices_with_what_the_store_knows(tmp_path: Path) -> None:
    config = HubConfig(data_dir=tmp_path, destinations=(DestinationConfig(name="kommune", kind="directory", path=tmp_path / "out"),))
    bonds(tmp_path / "bonds.json", OXIMETER.address, CUFF.address, "F0:11:22:33:44:09")
    store = await Store.open(config.database_path)
    try:
        await record(
            store,
            Reading(MeasurementKind.OXYGEN_SATURATION, 97, "%", T - timedelta(hours=3), device=OXIMETER, device_clock_offset=timedelta(seconds=-42)),
            Reading(MeasurementKind.OXYGEN_SATURATION, 96, "%", T - timedelta(hours=1), device=OXIMETER, device_clock_offset=timedelta(seconds=-40)),
            Reading(MeasurementKind.PULSE_RATE, 70, "/min", T - timedelta(hours=2), device=CUFF, flags=frozenset({QualityFlag.BATTERY_LOW})),
        )
    finally:
        await store.close()
    entries = await kit(config)
    assert [e.address for e in entries] == ["F0:11:22:33:44:01", "F0:11:22:33:44:02", "F0:11:22:33:44:09"]
    ox, cuff, unknown = entries
    assert ox.paired and ox.identity == OXIMETER and ox.last_seen == T - timedelta(hours=1)
    assert ox.clock_offset == timedelta(seconds=-40) and ox.battery == "not reported low"
    assert cuff.battery == "low"
    assert unknown.paired and unknown.identity is None and unknown.last_seen is None


async def test_the_kit_is_printed_and_written_as_r4_devices(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bonds(tmp_path / "bonds.json", OXIMETER.address, "F0:11:22:33:44:09")
    from hub.domain.measurements import Measurement
    from hub.domain.readings import Provenance
    import uuid

    seen = Measurement(
        id=uuid.uuid4(),
        reading=Reading(MeasurementKind.OXYGEN_SATURATION, 97, "%", T, device=OXIMETER, device_clock_offset=timedelta(seconds=3)),
        provenance=Provenance.DEVICE,
        effective_time=T,
        natural_key=None,
    )
    entries = kit_entries(bonded_addresses(tmp_path / "bonds.json"), [seen])
    print_kit(entries, now=T)
    out = capsys.readouterr().out
    assert "PLX1-0001" in out and "PLX-1" in out and "1.4.2" in out and "+3 s" in out and "2026-03-02 09:00 UTC" in out
    bundle = kit_bundle(entries)
    Bundle.model_validate(bundle)
    devices = [Device.model_validate(e["resource"]) for e in bundle["entry"]]
    assert devices[0].serialNumber == "PLX1-0001" and devices[0].version[0].value == "1.4.2"
    assert devices[0].property[0].valueQuantity[0].value == 3
    assert devices[0].note[0].time is not None
    assert devices[1].serialNumber is None and devices[1].status == "active"


def test_a_technician_test_or_a_control_solution_is_never_shared() -> None:
    assert not shared_with_care_providers({QualityFlag.TECHNICIAN_TEST})
    assert not shared_with_care_providers({QualityFlag.CONTROL_SOLUTION, QualityFlag.BATTERY_LOW})
    assert shared_with_care_providers({QualityFlag.BATTERY_LOW})


async def test_a_test_measurement_is_stored_marked_and_never_queued(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "heima.db")
    try:
        test = Reading(MeasurementKind.OXYGEN_SATURATION, 98, "%", T, device=OXIMETER, flags=frozenset({QualityFlag.TECHNICIAN_TEST}))
        patient = Reading(MeasurementKind.OXYGEN_SATURATION, 95, "%", T + timedelta(minutes=5), device=OXIMETER)
        service = await record(store)
        tested = await service.record_reading(test)
        measured = await service.record_reading(patient)
        assert tested.measurement is not None and measured.measurement is not None
        assert await store.delivery_states(str(tested.measurement.id)) == []
        assert [s.destination for s in await store.delivery_states(str(measured.measurement.id))] == ["kommune"]
        kept = {m.id: m for m in await store.measurements()}
        assert QualityFlag.TECHNICIAN_TEST in kept[tested.measurement.id].reading.flags  # kept, marked
    finally:
        await store.close()


def test_the_observation_mapping_refuses_a_test_measurement() -> None:
    import uuid

    from hub.domain.measurements import Measurement
    from hub.domain.readings import Provenance
    from sync.fhir.observations import not_for_destination

    m = Measurement(
        id=uuid.uuid4(),
        reading=Reading(MeasurementKind.OXYGEN_SATURATION, 98, "%", T, device=OXIMETER, flags=frozenset({QualityFlag.TECHNICIAN_TEST})),
        provenance=Provenance.DEVICE,
        effective_time=T,
        natural_key=None,
    )
    assert "technician" in (not_for_destination(m) or "")
