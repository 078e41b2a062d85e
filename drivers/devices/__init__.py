"""Device drivers, one module per device family, and the ordered registry that picks them.

Order matters: the first driver whose matcher accepts an advertisement wins, so vendor-specific
drivers go before the generic standard-profile ones they would otherwise be shadowed by.
"""

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from drivers.devices.base import Advertisement, Driver, Matcher, Registry, Session
from drivers.devices.blood_pressure import AndBloodPressureDriver, BloodPressureDriver, OmronBloodPressureDriver
from drivers.devices.health_device import EventCallback
from drivers.devices.glucose import AccuChekGuideDriver, ContourNextOneDriver, GlucoseMeterDriver
from drivers.devices.proprietary_oximeters import (
    BerryMedOximeterDriver,
    JumperOximeterDriver,
    LiveCallback,
    LiveOximetry,
    Nonin3230Driver,
)
from drivers.devices.pulse_oximeter import PulseOximeterDriver
from drivers.devices.scales import (
    AndWeightScaleDriver,
    MiBodyCompositionScaleDriver,
    MiScaleDriver,
    WeightScaleDriver,
)
from drivers.devices.thermometer import ThermometerDriver
from hub.domain.plausibility import possible
from hub.domain.readings import MeasurementKind


LIVE_READING_EVENT = "live-reading"


def live_reading_events(on_event: EventCallback) -> LiveCallback:
    """A streaming oximeter's live values as the screen's events: one `("live-reading", {"address",
    "kind", "value", "unit"})` per possible value the frame has (SpO2 in %, pulse rate in /min), as often
    as the driver passes them on (it throttles). A frame without a finger or without values gives
    none. These events are for the screen only: never stored, never logged."""

    def on_live(live: LiveOximetry) -> None:
        if live.finger is False:
            return
        for kind, value, unit in ((MeasurementKind.OXYGEN_SATURATION, live.spo2, "%"), (MeasurementKind.PULSE_RATE, live.pulse_rate, "/min")):
            if possible(kind, value) is not None:  # a number no body can have is not shown either
                on_event(LIVE_READING_EVENT, {"address": live.address, "kind": kind.value, "value": value, "unit": unit})

    return on_live


def default_registry(
    *,
    on_event: EventCallback | None = None,
    local_zone: tzinfo | None = None,
    clock_trusted: Callable[[], bool] | None = None,
    record_continuous_oximetry: bool = False,
) -> Registry:
    """Every driver the hub ships, most specific first.

    `on_event` receives live events for the screen: cuff pressure (BP monitors), a glucose
    meter's memory download progress (`download-progress`), a streaming oximeter's live values
    (`live-reading`). `local_zone` is the zone device clocks are kept in (default the system's),
    `clock_trusted` says whether the hub's clock may be written into a device (default: always);
    the BP, scale, thermometer and glucose drivers take both. `record_continuous_oximetry`: the
    oximeters' streams are recorded (a night's SpO2 in chunks), not only shown.
    """
    clocked = {"on_event": on_event, "local_zone": local_zone, "clock_trusted": clock_trusted}
    live: dict[str, Any] = {"on_live": live_reading_events(on_event)} if on_event is not None else {}
    live["record_continuous"] = record_continuous_oximetry
    return Registry(
        [
            Nonin3230Driver(**live),  # advertises PLX too: before the standard PLX driver
            JumperOximeterDriver(**live),
            BerryMedOximeterDriver(**live),
            PulseOximeterDriver(on_event=on_event, record_continuous=record_continuous_oximetry),
            AndBloodPressureDriver(**clocked),  # vendor BP monitors before the standard BP driver
            OmronBloodPressureDriver(**clocked),
            BloodPressureDriver(**clocked),
            AndWeightScaleDriver(**clocked),  # vendor scales before the standard scale driver
            MiScaleDriver(),  # broadcast only: service data, never connects
            MiBodyCompositionScaleDriver(),
            WeightScaleDriver(**clocked),
            ThermometerDriver(**clocked),
            ContourNextOneDriver(**clocked),  # by name: before the standard glucose driver
            AccuChekGuideDriver(**clocked),
            GlucoseMeterDriver(**clocked),
        ]
    )


__all__ = [
    "LIVE_READING_EVENT",
    "Advertisement",
    "Driver",
    "Matcher",
    "Registry",
    "Session",
    "default_registry",
    "live_reading_events",
]
