"""Emulated Bluetooth rigs for any test (no pytest imports: plain async context managers).

    async with emulated_oximeter(records=[(97, 64)]) as rig:
        sink = CollectingSink()
        identity = await rig.link_manager().read_once(sink, timeout=15)
        assert [r.value for r in sink.readings] == [97.0, 64.0]

`rig.link_manager()` is a `LinkManager` bound to the rig's radio with timings short enough for
tests (settle 0.2 s, no reconnect delay) and the oximeter's passkey as the passkey provider.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from drivers.devices import Registry, default_registry
from drivers.emulator import EmulatedPulseOximeter, VirtualRadio
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider, PasskeyProvider
from hub.domain.readings import Reading

FAST_LINK: dict[str, Any] = {
    "settle": 0.2,
    "cooldown": 30.0,
    "readvertise_gap": 0.3,
    "min_reconnect_interval": 0.0,
    "connect_timeout": 5.0,
    "max_session": 10.0,
}


class CollectingSink:
    """An async sink that keeps every reading (optionally slowly, like a busy disk)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.readings: list[Reading] = []
        self.arrived = asyncio.Event()

    async def __call__(self, reading: Reading) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.readings.append(reading)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Reading]:
        async with asyncio.timeout(timeout):
            while len(self.readings) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.readings


async def until(condition: Callable[[], object], *, timeout: float = 5.0, what: str = "the condition") -> None:
    """Wait for a state (not for an amount of time): re-checked every few milliseconds, failing
    with `what` if it does not hold within `timeout`. The timeout only bounds a broken run."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout} s") from None


async def scanning(radio: VirtualRadio, timeout: float = 5.0) -> None:
    """Until the hub's side of the radio is scanning: advertisements from now on are seen."""
    await until(lambda: radio.running and radio.central.is_scanning, timeout=timeout, what="scanning")


@dataclass
class EventLog:
    """An `on_event` callback that records (name, details)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, name: str, details: dict[str, Any]) -> None:
        self.events.append((name, dict(details)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def count(self, name: str, **details: Any) -> int:
        """How many `name` events so far whose details include `details`."""
        return sum(1 for n, d in self.events if n == name and all(d.get(k) == v for k, v in details.items()))

    async def wait_for(self, name: str, count: int = 1, *, timeout: float = 5.0, **details: Any) -> None:
        """Until `count` `name` events (with these details) have been recorded."""
        await until(lambda: self.count(name, **details) >= count, timeout=timeout, what=f"{count} {name!r} event(s)")


@dataclass
class EmulatedRig:
    radio: VirtualRadio
    oximeter: EmulatedPulseOximeter

    def link_manager(
        self,
        registry: Registry | None = None,
        *,
        passkey_provider: PasskeyProvider | None = None,
        **options: Any,
    ) -> LinkManager:
        provider = passkey_provider
        if provider is None and self.oximeter.passkey is not None:
            provider = FixedPasskeyProvider(self.oximeter.passkey)
        settings: dict[str, Any] = {
            "scanner_backend": self.radio.scanner_backend,
            "client_backend": self.radio.client_backend,
            "passkey_provider": provider,
            **FAST_LINK,
            **options,
        }
        return LinkManager(registry or default_registry(), **settings)


@asynccontextmanager
async def emulated_oximeter(
    *,
    records: Iterable[tuple[Any, Any]] = (),
    keystore_path: str | os.PathLike[str] | None = None,
    radio: VirtualRadio | None = None,
    configure: Callable[[EmulatedPulseOximeter], None] | None = None,
    **oximeter_options: Any,
) -> AsyncIterator[EmulatedRig]:
    """A running virtual radio with one emulated pulse oximeter advertising on it.

    `records`: (spo2, pulse_rate) pairs stored in the device's memory before it starts.
    `radio`: reuse a running radio (it is left running); else a new one is made and stopped.
    """
    oximeter = EmulatedPulseOximeter(**oximeter_options)
    for spo2, pulse_rate in records:
        oximeter.record_spot_check(spo2, pulse_rate)
    if configure is not None:
        configure(oximeter)
    if radio is not None:
        await radio.add(oximeter)
        try:
            yield EmulatedRig(radio, oximeter)
        finally:
            await oximeter.detach()
        return
    async with VirtualRadio(keystore_path=keystore_path) as own_radio:
        await own_radio.add(oximeter)
        yield EmulatedRig(own_radio, oximeter)
