"""The composition root hands every part what it needs."""

from zoneinfo import ZoneInfo

from hub.app import hub_registry, start_hub
from hub.config import HubConfig


async def test_the_link_learns_what_the_hub_already_stored(tmp_path):
    from drivers.link import LinkManager

    config = HubConfig(data_dir=tmp_path)
    link = LinkManager(hub_registry(config))
    hub = await start_hub(config, link=link, deliver=False)
    try:
        assert link._history is hub.store  # meters are read incrementally, not whole each time
    finally:
        await hub.stop()


def test_device_clocks_are_placed_in_the_hubs_zone_and_not_written_before_ntp(tmp_path):
    config = HubConfig(data_dir=tmp_path, timezone="Europe/Oslo", clock="wait-for-ntp")
    drivers = list(hub_registry(config))
    zoned = [d for d in drivers if hasattr(d, "local_zone") or hasattr(d, "_local_zone")]
    assert zoned, "no driver was told the hub's zone"
    for d in zoned:
        assert getattr(d, "local_zone", getattr(d, "_local_zone", None)) == ZoneInfo("Europe/Oslo")
