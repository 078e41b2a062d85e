"""Device drivers, one module per device family, and the ordered registry that picks them.

Order matters: the first driver whose matcher accepts an advertisement wins, so vendor-specific
drivers go before the generic standard-profile ones they would otherwise be shadowed by.
"""

from collections.abc import Callable
from datetime import tzinfo

from drivers.devices.base import Advertisement, Driver, Matcher, Registry, Session
from drivers.devices.blood_pressure import (
    AndBloodPressureDriver,
    BloodPressureDriver,
    EventCallback,
    OmronBloodPressureDriver,
)
from drivers.devices.glucose import AccuChekGuideDriver, ContourNextOneDriver, GlucoseMeterDriver
from drivers.devices.proprietary_oximeters import BerryMedOximeterDriver, JumperOximeterDriver, Nonin3230Driver
from drivers.devices.pulse_oximeter import PulseOximeterDriver
from drivers.devices.scales import (
    AndWeightScaleDriver,
    MiBodyCompositionScaleDriver,
    MiScaleDriver,
    WeightScaleDriver,
)
from drivers.devices.thermometer import ThermometerDriver


def default_registry(
    *,
    on_event: EventCallback | None = None,
    local_zone: tzinfo | None = None,
    clock_trusted: Callable[[], bool] | None = None,
) -> Registry:
    """Every driver the hub ships, most specific first.

    For the BP, scale and thermometer drivers: `on_event` receives live events (cuff pressure),
    `local_zone` is the zone device clocks are kept in (default the system's), `clock_trusted`
    says whether the hub's clock may be written into a device (default: always). Glucose meters
    take `local_zone` and `clock_trusted` too.
    """
    clocked = {"on_event": on_event, "local_zone": local_zone, "clock_trusted": clock_trusted}
    zoned = {"local_zone": local_zone, "clock_trusted": clock_trusted}  # glucose meters
    return Registry(
        [
            Nonin3230Driver(),  # advertises PLX too: before the standard PLX driver
            JumperOximeterDriver(),
            BerryMedOximeterDriver(),
            PulseOximeterDriver(),
            AndBloodPressureDriver(**clocked),  # vendor BP monitors before the standard BP driver
            OmronBloodPressureDriver(**clocked),
            BloodPressureDriver(**clocked),
            AndWeightScaleDriver(**clocked),  # vendor scales before the standard scale driver
            MiScaleDriver(),  # broadcast only: service data, never connects
            MiBodyCompositionScaleDriver(),
            WeightScaleDriver(**clocked),
            ThermometerDriver(**clocked),
            ContourNextOneDriver(**zoned),  # by name: before the standard glucose driver
            AccuChekGuideDriver(**zoned),
            GlucoseMeterDriver(**zoned),
        ]
    )


__all__ = ["Advertisement", "Driver", "Matcher", "Registry", "Session", "default_registry"]
