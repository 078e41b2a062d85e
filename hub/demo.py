"""The demo's script, beside the composition root (which loads it): the emulated devices `heima
demo` puts on the virtual radio, what each measures when the hub connects, who the demo's data
is about, and the lines it prints. No adapters are imported here: the root builds the radio and
the emulators from this table and hands them in."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from hub.config import HubConfig
from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind, Reading
from hub.services.events import HubEvent, MeasuringStarted

Transcript = Callable[[str], None]

DEMO_PASSKEY = 246810


@dataclass(frozen=True, slots=True)
class DemoDevice:
    """An emulated device of one family: the emulator's class (drivers.emulator…) and its options."""

    family: DeviceFamily
    module: str
    cls: str
    options: dict[str, Any] = field(default_factory=dict)


# One per family that has an emulator. A family whose emulator is missing or does not start is
# left out; the touch app then offers typing its values in by hand.
DEMO_DEVICES: tuple[DemoDevice, ...] = (
    DemoDevice(DeviceFamily.PULSE_OXIMETER, "drivers.emulator", "EmulatedPulseOximeter",
               {"name": "Heima PLX 1", "serial": "PLX1-DEMO-0001", "requires_bonding": True, "passkey": DEMO_PASSKEY}),
    DemoDevice(DeviceFamily.BLOOD_PRESSURE, "drivers.emulator.blood_pressure_monitor", "EmulatedBloodPressureMonitor",
               {"name": "Heima BP 1", "address": "F0:11:22:33:44:02"}),
    DemoDevice(DeviceFamily.WEIGHT, "drivers.emulator.scales", "EmulatedWeightScale",
               {"name": "Heima Scale 1", "address": "F0:11:22:33:44:03"}),
    DemoDevice(DeviceFamily.THERMOMETER, "drivers.emulator.thermometer", "EmulatedThermometer",
               {"name": "Heima Thermo 1", "address": "F0:11:22:33:44:05"}),
)


class SyntheticPerson(Protocol):
    @property
    def identifier(self) -> str | None: ...
    @property
    def identifier_system(self) -> str: ...
    @property
    def display(self) -> str | None: ...


def as_test_patient(config: HubConfig, test: SyntheticPerson) -> HubConfig:
    """The demo's data is about the synthetic test patient (and so HTEST), whoever is configured."""
    patient = replace(config.patient, identifier=test.identifier, identifier_system=test.identifier_system, display=test.display)
    return replace(config, patient=patient)


def forms_offered(forms: Sequence[Any]) -> str:
    """The questionnaires the hub offers (hub.api.FormSummary): without a centre, the example
    check-ins in packaging/examples/questionnaires, answered in the touch app."""
    if not forms:
        return "  7. No check-in questionnaires are offered"
    titles = ", ".join(f.title or f.url for f in forms)
    return f"  7. Check-ins offered in the touch app ({len(forms)}): {titles}"


def passkey_banner(passkey: int) -> str:
    """The line the README tells a new user to read, framed so it stands out in the terminal."""
    text = f"Pairing: the pulse oximeter asks once; type the passkey {passkey:06d} on the screen"
    rule = "=" * (len(text) + 4)
    return f"\n  {rule}\n  | {text} |\n  {rule}\n"


def describe(reading: Reading) -> str:
    """An oximeter's reading as the headless demo prints it."""
    label = {MeasurementKind.OXYGEN_SATURATION: "SpO2", MeasurementKind.PULSE_RATE: "pulse"}[reading.kind]
    if reading.value is None:
        return f"{label}: no value ({reading.absent_reason})"
    return f"{label} {reading.value:g} {reading.unit}"


def switched_on(family: DeviceFamily, event: HubEvent) -> bool | None:
    """Whether the patient starting to measure switches this family's device on (True) or off
    (False), so the hub finds the one the screen shows; None: the event changes nothing."""
    if not isinstance(event, MeasuringStarted) or event.family is None:
        return None
    return event.family is family


async def take(family: DeviceFamily, device: Any, rng: random.Random) -> None:
    """What the patient's device measures once the hub is connected."""
    if family is DeviceFamily.PULSE_OXIMETER:
        await device.take_live_spot_check(rng.randint(93, 99), rng.randint(58, 82))
    elif family is DeviceFamily.BLOOD_PRESSURE:
        systolic = rng.randint(118, 152)
        await device.inflate([round(systolic * 1.2 * i / 10) for i in range(1, 11)], interval=0.25)
        await device.take_measurement(systolic, rng.randint(72, 94))
    elif family is DeviceFamily.WEIGHT:
        await device.take_weighing(round(rng.uniform(70.0, 90.0), 1))
    elif family is DeviceFamily.THERMOMETER:
        await device.take_temperature(round(rng.uniform(36.4, 37.6), 1))


async def patient(family: DeviceFamily, device: Any, say: Transcript) -> None:
    """An emulated device's patient: whenever the hub connects, the device measures; after it
    hangs up it waits, switched off, until the touch app asks for its family again."""
    rng = random.Random()
    while True:
        await device.wait_until(lambda: device.is_connected, timeout=10**9)
        await asyncio.sleep(1.0)  # the finger goes in, the cuff goes on: the device measures
        if device.is_connected:
            try:
                await take(family, device, rng)
            except Exception as exc:  # an emulator that changed under us: say it, keep the demo
                say(f"  The emulated {family.value} could not measure ({type(exc).__name__}).")
        await device.wait_until(lambda: not device.is_connected, timeout=10**9)
