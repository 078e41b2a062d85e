"""The pure rules of a technician's scan (hub.domain.nearby) and the bonds file (drivers.bonds):
a scan's sightings merged into one entry per device, strongest first, known or new, the signal in
bars, the kit without unpaired devices; a bond removed from bonds.json and nothing else."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.bonds import bonded_peers, forget_bond
from hub.domain.kit import KitEntry
from hub.domain.nearby import (
    MAX_BARS,
    NearbyDevice,
    heard,
    is_known,
    mark_known,
    norm_address,
    signal_bars,
    strongest_first,
    without_forgotten,
)

ADDRESSES = ["F0:11:22:33:44:01", "F0:11:22:33:44:02", "F0:11:22:33:77:01", "C4:7C:8D:6A:00:10"]


def spellings(address: str):
    """How stacks spell one address: case, dashes, Bumble's type suffix."""
    return st.sampled_from([address, address.lower(), address.replace(":", "-"), address + "/P"])


sightings = st.builds(
    NearbyDevice,
    address=st.sampled_from(ADDRESSES).flatmap(spellings),
    name=st.none() | st.sampled_from(["Heima PLX 1", "Heima Thermo 1", "A&D_UA-651_5B0A12"]),
    driver=st.sampled_from(["plx-standard", "thermometer-standard"]),
    family=st.none() | st.sampled_from(["pulse-oximeter", "thermometer"]),
    rssi=st.none() | st.integers(-127, 20),
)


@settings(max_examples=300)
@given(st.lists(sightings, max_size=40))
def test_a_scan_keeps_one_entry_per_device_with_its_latest_signal_and_name(seen):
    found: dict[str, NearbyDevice] = {}
    for s in seen:
        found = heard(found, s)
    assert set(found) == {norm_address(s.address) for s in seen}
    for address, entry in found.items():
        mine = [s for s in seen if norm_address(s.address) == address]
        assert entry.address == address
        assert entry.driver == mine[-1].driver
        assert entry.rssi == next((s.rssi for s in reversed(mine) if s.rssi is not None), None)
        assert entry.name == next((s.name for s in reversed(mine) if s.name is not None), None)


@given(st.lists(sightings, max_size=20))
def test_the_list_is_strongest_first_with_unknown_signals_last_and_the_same_on_every_refresh(devices):
    ranked = strongest_first(devices)
    assert sorted(map(id, ranked)) == sorted(map(id, devices))  # the same devices, reordered
    signals = [d.rssi for d in ranked]
    heard_ = [r for r in signals if r is not None]
    assert heard_ == sorted(heard_, reverse=True)
    assert signals == heard_ + [None] * (len(signals) - len(heard_))
    assert strongest_first(list(reversed(devices))) == ranked or _ties(ranked)


def _ties(ranked) -> bool:
    keys = [(d.rssi, (d.name or "").casefold(), d.address) for d in ranked]
    return len(set(keys)) < len(keys)  # fully equal keys may keep either order


@given(st.none() | st.integers(-200, 50), st.none() | st.integers(-200, 50))
def test_more_signal_never_shows_fewer_bars(a, b):
    assert 0 <= signal_bars(a) <= MAX_BARS
    if a is not None and b is not None and a <= b:
        assert signal_bars(a) <= signal_bars(b)
    assert signal_bars(None) == 0


def test_bars_at_the_floors():
    assert [signal_bars(r) for r in (-45, -60, -61, -70, -80, -90, -91)] == [4, 4, 3, 3, 2, 1, 0]


@given(st.sampled_from(ADDRESSES).flatmap(spellings), st.lists(st.sampled_from(ADDRESSES).flatmap(spellings)), st.lists(st.sampled_from(ADDRESSES)))
def test_a_device_is_known_when_bonded_or_in_the_kit_however_the_address_is_spelt(address, bonded, kit):
    expected = norm_address(address) in {norm_address(a) for a in (*bonded, *kit)}
    assert is_known(address, bonded, kit) is expected
    device = NearbyDevice(address, None, "plx-standard", None, -50)
    assert mark_known([device], bonded, kit)[0].known is expected


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def entry(address: str, *, paired: bool, seen: datetime | None) -> KitEntry:
    return KitEntry(address, paired, None, seen, None, False)


def test_an_unpaired_device_leaves_the_kit_until_it_is_paired_again_or_measures_again():
    forgotten = {"F0:11:22:33:44:01": NOW}
    measured_before = entry("f0:11:22:33:44:01", paired=False, seen=NOW - timedelta(days=2))
    assert without_forgotten([measured_before], forgotten) == []
    paired_again = entry("F0:11:22:33:44:01", paired=True, seen=NOW - timedelta(days=2))
    assert without_forgotten([paired_again], forgotten) == [paired_again]
    measured_after = entry("F0:11:22:33:44:01", paired=False, seen=NOW + timedelta(minutes=5))
    assert without_forgotten([measured_after], forgotten) == [measured_after]
    other = entry("F0:11:22:33:44:02", paired=False, seen=None)
    assert without_forgotten([other], forgotten) == [other]


# --- the bonds file -------------------------------------------------------------------------------


def bonds_file(tmp_path, peers: dict[str, list[str]]):
    path = tmp_path / "bonds.json"
    keys = {"ltk": {"value": "00" * 16, "authenticated": True}}
    path.write_text(json.dumps({hub: {peer: keys for peer in ps} for hub, ps in peers.items()}))
    return path


def test_forgetting_a_bond_removes_only_that_device_and_keeps_the_file_private(tmp_path):
    path = bonds_file(tmp_path, {"C0:FF:EE:00:00:01": ["F0:11:22:33:44:01/P", "F0:11:22:33:77:01/P"], "OTHER": ["F0:11:22:33:44:01"]})
    assert forget_bond(path, "f0-11-22-33-44-01") is True
    assert bonded_peers(path) == ["F0:11:22:33:77:01"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert forget_bond(path, "F0:11:22:33:44:01") is False  # nothing left to forget


def test_no_bonds_file_is_nothing_to_forget(tmp_path):
    assert forget_bond(tmp_path / "bonds.json", "F0:11:22:33:44:01") is False
    assert not (tmp_path / "bonds.json").exists()
    (tmp_path / "bonds.json").write_text("{damaged")
    assert forget_bond(tmp_path / "bonds.json", "F0:11:22:33:44:01") is False
    assert bonded_peers(tmp_path / "bonds.json") == []
