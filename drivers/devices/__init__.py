"""Device drivers, one module per device family, and the ordered registry that picks them.

Order matters: the first driver whose matcher accepts an advertisement wins, so vendor-specific
drivers go before the generic standard-profile ones they would otherwise be shadowed by.
"""

from drivers.devices.base import Advertisement, Driver, Matcher, Registry, Session
from drivers.devices.proprietary_oximeters import BerryMedOximeterDriver, JumperOximeterDriver, Nonin3230Driver
from drivers.devices.pulse_oximeter import PulseOximeterDriver


def default_registry() -> Registry:
    """Every driver the hub ships, most specific first."""
    return Registry(
        [
            Nonin3230Driver(),  # advertises PLX too: before the standard PLX driver
            JumperOximeterDriver(),
            BerryMedOximeterDriver(),
            PulseOximeterDriver(),
        ]
    )


__all__ = ["Advertisement", "Driver", "Matcher", "Registry", "Session", "default_registry"]
