"""A technician's test measurement over the real link (Bumble virtual radio, an emulated pulse
oximeter that asks to be paired): shown, stored marked as a test, never queued — a delivery
afterwards sends nothing — and the device then appears in the kit list as paired."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.app import hub_registry, sync_once
from hub.app.technician import kit, take_test_measurement
from hub.config import DestinationConfig, HubConfig
from hub.domain.readings import QualityFlag
from hub.store import Store
from tests.emulated import emulated_oximeter

from .hubs import observation_ids


async def test_a_test_measurement_is_stored_as_a_test_and_never_sent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    config = HubConfig(
        data_dir=data, destinations=(DestinationConfig(name="centre-inbox", kind="directory", path=tmp_path / "inbox"),)
    )
    said: list[str] = []
    async with emulated_oximeter(keystore_path=data / "bonds.json", serial="PLX1-KIT-7", requires_bonding=True, passkey=424242) as rig:

        async def technician_measures() -> None:
            await rig.oximeter.wait_until(lambda: rig.oximeter.spot_check_indicating)
            await rig.oximeter.take_live_spot_check(98, 66)

        asyncio.get_running_loop().create_task(technician_measures())
        link = rig.link_manager(hub_registry(config))
        taken = await take_test_measurement(config, link, timeout=15, say=said.append)
    assert [m.reading.value for m in taken] == [98, 66]
    assert all(QualityFlag.TECHNICIAN_TEST in m.reading.flags for m in taken)
    assert any("stored as a test, not sent" in line for line in said)

    store = await Store.open(config.database_path)
    try:
        assert await store.count_measurements() == 2
        assert await store.outbox_counts() == {}  # queued for nobody
    finally:
        await store.close()
    await sync_once(config)
    assert observation_ids(tmp_path / "inbox") == set()

    entries = await kit(config)
    oximeter = next(e for e in entries if e.identity is not None)
    assert oximeter.identity.serial == "PLX1-KIT-7" and oximeter.paired  # bonded while testing
