"""The driver catalogue: every registered driver can win a match with its own advertisement.

Fails when a driver is shadowed by one registered before it, or its matcher can never match.
"""

from __future__ import annotations

import pytest

from drivers.devices import Advertisement, Driver, Matcher, Registry, default_registry
from drivers.devices.pulse_oximeter import PulseOximeterDriver
from drivers.gatt.plx import PLX_SERVICE_UUID


def unreachable_drivers(registry: Registry) -> list[str]:
    """Drivers that do not win the match for the example advertisement of their own matcher."""
    return [driver.name for driver in registry if registry.match(driver.matcher.example()) is not driver]


@pytest.mark.parametrize("driver", list(default_registry()), ids=lambda d: d.name)
def test_each_registered_driver_wins_its_own_advertisement(driver: Driver) -> None:
    registry = default_registry()
    winner = registry.match(driver.matcher.example())
    assert winner is not None, f"{driver.name} can never match"
    assert winner.name == driver.name, f"{driver.name} is shadowed by {winner.name}"


def test_default_registry_is_not_empty_and_names_are_unique() -> None:
    names = [driver.name for driver in default_registry()]
    assert names and len(names) == len(set(names))


class _NoninLike(Driver):
    name = "nonin-like"
    matcher = Matcher(service_uuids=frozenset({PLX_SERVICE_UUID}), local_name=r"Nonin3230_\d+", example_name="Nonin3230_502")


class _NeverMatches(Driver):
    name = "never"
    matcher = Matcher(manufacturer_id=0x0157)

    def matches(self, advertisement: Advertisement) -> bool:
        return False


def test_the_catalogue_check_catches_shadowing_and_dead_drivers() -> None:
    # a specific driver after the generic one is shadowed; a driver whose matches() refuses is dead
    assert unreachable_drivers(Registry([PulseOximeterDriver(), _NoninLike(), _NeverMatches()])) == ["nonin-like", "never"]
    # the right order: specific first
    assert unreachable_drivers(Registry([_NoninLike(), PulseOximeterDriver()])) == []


def test_matcher_criteria_are_and_within_or() -> None:
    matcher = Matcher(
        service_uuids=frozenset({"1822", "180d"}),
        manufacturer_id=0x0001,
        local_name=r"PLX-\d{3}",
        example_name="PLX-001",
    )
    base = Advertisement(address="F0:00:00:00:00:01", name="PLX-123", service_uuids=frozenset({PLX_SERVICE_UUID}), manufacturer_data={1: b""})
    assert matcher.matches(base)
    assert matcher.matches(Advertisement(address="x", name="PLX-123", service_uuids=frozenset({"0000180d-0000-1000-8000-00805f9b34fb"}), manufacturer_data={1: b"\x00"}))
    assert not matcher.matches(Advertisement(address="x", name="PLX-12", service_uuids=base.service_uuids, manufacturer_data={1: b""}))
    assert not matcher.matches(Advertisement(address="x", name=None, service_uuids=base.service_uuids, manufacturer_data={1: b""}))
    assert not matcher.matches(Advertisement(address="x", name="PLX-123", service_uuids=base.service_uuids))
    assert not matcher.matches(Advertisement(address="x", name="PLX-123", manufacturer_data={1: b""}))


def test_connectable_drivers_skip_advertisements_that_say_not_connectable() -> None:
    matcher = Matcher(service_uuids=frozenset({0x1822}))
    uuids = frozenset({PLX_SERVICE_UUID})
    assert matcher.matches(Advertisement(address="x", service_uuids=uuids, connectable=True))
    assert matcher.matches(Advertisement(address="x", service_uuids=uuids, connectable=None))  # the stack did not say
    assert not matcher.matches(Advertisement(address="x", service_uuids=uuids, connectable=False))
    broadcast = Matcher(service_data_uuids=frozenset({0x181D}), connectable=False)
    assert broadcast.matches(Advertisement(address="x", service_data={"0000181d-0000-1000-8000-00805f9b34fb": b"\x02"}, connectable=False))


def test_matchers_refuse_to_be_empty_or_to_lack_a_name_example() -> None:
    with pytest.raises(ValueError):
        Matcher()
    with pytest.raises(ValueError):
        Matcher(local_name=r"Nonin.*")
    with pytest.raises(ValueError):
        Matcher(local_name=r"Nonin.*", example_name="Masimo")


def test_registry_rejects_duplicate_names_and_builds_a_scan_filter() -> None:
    registry = Registry([PulseOximeterDriver()])
    with pytest.raises(ValueError):
        registry.register(PulseOximeterDriver())
    assert registry.scan_filter() == [PLX_SERVICE_UUID]

    class _ByNameOnly(Driver):
        name = "by-name"
        matcher = Matcher(local_name=r"BerryMed.*", example_name="BerryMed")

    registry.register(_ByNameOnly())
    assert registry.scan_filter() is None  # a name-only driver needs every advertisement
