"""Emulated streaming pulse oximeters: Nonin 3230, Jumper JPD-500F, BerryMed BM1000.

Each plays a *script* while a central is subscribed to its stream: a sequence of
`OximetryPhase`s (seconds of frames with given values, finger in or out, signal good or not) and
raw `bytes` items (sent as they are: malformed frames, garbage). The script starts from the top
on every subscription; after its end the last phase repeats (`repeat_last=True`) as a device with
a finger in keeps streaming. Rates are parameters, so tests can run a 1 Hz device at 20 Hz.

Frame bytes come from the pure encoders in `drivers.frames` (the same codecs the drivers parse
with), never by hand. The layouts are what public decoders describe; what is guessed is listed there.

* `EmulatedNonin3230`: an `EmulatedPulseOximeter` (PLX + Device Information, bonding by default:
  passkey pairing before anything secured can be read or subscribed) plus the Nonin oximetry
  service streaming 10-byte frames (≈1 Hz on the real device). `take_live_spot_check` sends a
  PLX spot-check as the real device does at the end of a measurement.
* `EmulatedJumperOximeter`: service CDEACB80…, notify …CB81: a 0x80 pleth frame each tick and a
  0x81 values frame every `values_every` ticks. Advertises the 128-bit service UUID.
* `EmulatedBerryMed`: transparent UART, 5-byte frames (100 Hz) as a byte stream: cut into
  notifications of `notification_size` bytes (frames may straddle notifications), with
  `drop_bytes` (offsets in the stream) lost on the way. Its name is "BerryMed" padded with NULs.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bumble import att, gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from drivers.frames.berrymed import (
    BERRYMED_NOTIFY_UUID,
    BERRYMED_SERVICE_UUID,
    BERRYMED_WRITE_UUID,
    BerryMedFrame,
    encode_berrymed_frame,
)
from drivers.frames.jumper import (
    JUMPER_NOTIFY_UUID,
    JUMPER_SERVICE_UUID,
    JumperPleth,
    JumperValues,
    encode_jumper_pleth,
    encode_jumper_values,
)
from drivers.frames.nonin import (
    NONIN_CONTINUOUS_OXIMETRY_UUID,
    NONIN_OXIMETRY_SERVICE_UUID,
    NoninFrame,
    NoninStatus,
    encode_nonin_frame,
)
from drivers.emulator.peripheral import SECURE_READ, SECURE_WRITE, EmulatedPeripheral
from drivers.emulator.pulse_oximeter import EmulatedPulseOximeter
from drivers.gatt.device_information import MANUFACTURER_NAME_UUID, MODEL_NUMBER_UUID

logger = logging.getLogger(__name__)

JUMPER_WRITE_UUID = "cdeacb82-5235-4c07-8846-93a37ee6b86d"  # guessed: a write characteristic beside the notify one


@dataclass(frozen=True)
class OximetryPhase:
    """`seconds` of frames with these values. `spo2`/`pulse_rate` None: the device's marker."""

    seconds: float
    spo2: int | None = 97
    pulse_rate: int | None = 64
    finger: bool = True
    signal_ok: bool = True  # False: searching for a pulse / weak signal
    perfusion_index: float = 5.0  # %


def finger_out(seconds: float) -> OximetryPhase:
    """No finger in the sensor: the device's no-value markers."""
    return OximetryPhase(seconds, spo2=None, pulse_rate=None, finger=False, signal_ok=False)


ScriptItem = OximetryPhase | bytes


def _pleth(tick: int, rate_hz: float, pulse_rate: int | None) -> int:
    """A plausible pleth sample 0..100 (a sine at the pulse rate)."""
    beats_per_second = (pulse_rate or 60) / 60
    return int(50 + 45 * math.sin(2 * math.pi * beats_per_second * tick / rate_hz))


class _Streaming:
    """Mixin: plays a script of phases / raw bytes on one notify characteristic.

    Put it first in the bases; the concrete class sets `self._stream_characteristic` in
    `build_services` and implements `tick_notifications`.
    """

    device: Device | None
    _stream_characteristic: gatt.Characteristic

    def __init__(
        self,
        *,
        script: Iterable[ScriptItem] = (),
        rate_hz: float = 1.0,
        repeat_last: bool = True,
        stream_on_subscribe: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        self.script: list[ScriptItem] = list(script)
        self.rate_hz = rate_hz
        self.repeat_last = repeat_last
        self.stream_on_subscribe = stream_on_subscribe
        self.ticks = 0  # over all subscriptions
        self.notifications_sent = 0
        self._stream_task: asyncio.Task[None] | None = None

    # -- to implement --------------------------------------------------------------------------

    def tick_notifications(self, phase: OximetryPhase, tick: int) -> list[bytes]:
        raise NotImplementedError

    def raw_notifications(self, data: bytes) -> list[bytes]:
        return [data]

    # -- scripting -----------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._stream_task is not None and not self._stream_task.done()

    def start_stream(self, script: Iterable[ScriptItem] | None = None) -> None:
        """(Re)start playing `script` (default: `self.script`) from the top."""
        self.stop_stream()
        items = list(self.script if script is None else script)
        self._stream_task = self.spawn(self._play(items))  # type: ignore[attr-defined]

    def stop_stream(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None

    async def send_raw(self, data: bytes) -> None:
        """Notify these bytes now (through the device's byte pipeline, if it has one)."""
        for chunk in self.raw_notifications(bytes(data)):
            await self._notify(chunk)

    async def _notify(self, data: bytes) -> None:
        if self.device is None:
            return
        await self.device.notify_subscribers(self._stream_characteristic, data)
        self.notifications_sent += 1

    async def _play(self, items: list[ScriptItem]) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rate_hz
        next_at = loop.time()

        async def pace() -> None:
            nonlocal next_at
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

        last_phase: OximetryPhase | None = None
        for item in items:
            if isinstance(item, bytes):
                await self.send_raw(item)
                await pace()
                continue
            last_phase = item
            for _ in range(max(1, round(item.seconds * self.rate_hz))):
                await self._tick(item)
                await pace()
        while self.repeat_last and last_phase is not None:
            await self._tick(last_phase)
            await pace()

    async def _tick(self, phase: OximetryPhase) -> None:
        for data in self.tick_notifications(phase, self.ticks):
            await self._notify(data)
        self.ticks += 1

    # -- hooks ---------------------------------------------------------------------------------

    def on_subscription(self, connection: Connection, characteristic: gatt.Characteristic, notify: bool, indicate: bool) -> None:
        super().on_subscription(connection, characteristic, notify, indicate)  # type: ignore[misc]
        if characteristic is not self._stream_characteristic:
            return
        if notify and self.stream_on_subscribe:
            self.start_stream()
        elif not notify:
            self.stop_stream()

    def on_disconnected(self, connection: Connection, reason: int) -> None:
        super().on_disconnected(connection, reason)  # type: ignore[misc]
        self.stop_stream()


def _uuid(value: str) -> UUID:
    return UUID(value)


def _notify_characteristic(uuid: str, *, secure: bool = False) -> gatt.Characteristic:
    permissions = SECURE_READ | SECURE_WRITE if secure else att.Attribute.Permissions.READABLE | att.Attribute.Permissions.WRITEABLE
    return gatt.Characteristic(
        _uuid(uuid),
        gatt.Characteristic.Properties.NOTIFY,
        permissions,
        gatt.CharacteristicValue(read=lambda _connection: b""),
    )


def _write_characteristic(uuid: str) -> gatt.Characteristic:
    return gatt.Characteristic(
        _uuid(uuid),
        gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
        att.Attribute.Permissions.WRITEABLE,
        gatt.CharacteristicValue(write=lambda _connection, _value: None),
    )


def _text_characteristic(uuid: str, value: str) -> gatt.Characteristic:
    return gatt.Characteristic(
        _uuid(uuid),
        gatt.Characteristic.Properties.READ,
        att.Attribute.Permissions.READABLE,
        gatt.CharacteristicValue(read=lambda _connection: value.encode("utf-8")),
    )


def _advertising_data(name: bytes, *, uuids16: Sequence[int] = (), uuid128: str | None = None) -> bytes:
    structures: list[tuple[int, bytes]] = [(AdvertisingData.Type.FLAGS, bytes([0x06]))]
    if uuids16:
        structures.append(
            (
                AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                b"".join(u.to_bytes(2, "little") for u in uuids16),
            )
        )
    if uuid128 is not None:
        structures.append((AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, UUID(uuid128).to_bytes()))
    structures.append((AdvertisingData.Type.COMPLETE_LOCAL_NAME, name))
    data = bytes(AdvertisingData(structures))
    if len(data) > 31:
        raise ValueError(f"advertising data of {name!r} exceeds 31 bytes")
    return data


# -- Nonin 3230 -----------------------------------------------------------------------------------


class EmulatedNonin3230(_Streaming, EmulatedPulseOximeter):
    """Nonin 3230: standard PLX (spot-check, bonded) + the proprietary continuous oximetry stream."""

    def __init__(
        self,
        *,
        serial: str = "502201234",
        address: str = "F0:11:22:33:44:30",
        requires_bonding: bool = True,
        passkey: int | None = 123456,
        low_battery: bool = False,
        battery_decivolts: int = 30,
        **options: Any,
    ) -> None:
        options.setdefault("name", f"Nonin3230_{serial}")
        options.setdefault("manufacturer", "Nonin Medical, Inc.")
        options.setdefault("model", "3230")
        options.setdefault("firmware", "1.0.0")
        super().__init__(
            serial=serial, address=address, requires_bonding=requires_bonding, passkey=passkey, **options
        )
        self.low_battery = low_battery
        self.battery_decivolts = battery_decivolts

    def build_services(self) -> Sequence[gatt.Service]:
        self._stream_characteristic = _notify_characteristic(NONIN_CONTINUOUS_OXIMETRY_UUID, secure=self.requires_bonding)
        nonin = gatt.Service(_uuid(NONIN_OXIMETRY_SERVICE_UUID), [self._stream_characteristic])
        return [*super().build_services(), nonin]

    def configure_gatt(self, device: Device) -> None:
        super().configure_gatt(device)
        if self.requires_bonding:
            cccd = self.cccd_of(self._stream_characteristic)
            assert cccd is not None
            cccd.permissions |= SECURE_READ | SECURE_WRITE

    def tick_notifications(self, phase: OximetryPhase, tick: int) -> list[bytes]:
        good = phase.finger and phase.signal_ok
        status = NoninStatus.from_flags(
            sensor_connected=phase.finger,
            searching=phase.finger and not phase.signal_ok,
            smartpoint=good,
            low_battery=self.low_battery,
            encrypted=any(c.is_encrypted for c in self.connections),
        )
        frame = NoninFrame(
            status=status,
            battery_decivolts=self.battery_decivolts,
            pulse_amplitude_raw=int(phase.perfusion_index * 100) if phase.finger else 0,
            counter=tick & 0xFFFF,
            spo2=phase.spo2 if phase.finger else None,
            pulse_rate=phase.pulse_rate if phase.finger else None,
        )
        return [encode_nonin_frame(frame)]


# -- Jumper JPD-500F ------------------------------------------------------------------------------


class EmulatedJumperOximeter(_Streaming, EmulatedPeripheral):
    """Jumper JPD-500F: pleth frames every tick, value frames every `values_every` ticks."""

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:44:50",
        name: str = "JPD-500F",
        rate_hz: float = 50.0,
        values_every: int = 25,
        **options: Any,
    ) -> None:
        if values_every < 1:
            raise ValueError("values_every must be at least 1")
        super().__init__(address=address, name=name, rate_hz=rate_hz, **options)
        self.values_every = values_every

    def build_services(self) -> Sequence[gatt.Service]:
        self._stream_characteristic = _notify_characteristic(JUMPER_NOTIFY_UUID)
        return [gatt.Service(_uuid(JUMPER_SERVICE_UUID), [self._stream_characteristic, _write_characteristic(JUMPER_WRITE_UUID)])]

    def advertising_data(self) -> bytes:
        return _advertising_data(self.name.encode(), uuid128=JUMPER_SERVICE_UUID)

    def tick_notifications(self, phase: OximetryPhase, tick: int) -> list[bytes]:
        sample = _pleth(tick, self.rate_hz, phase.pulse_rate) if phase.finger else 0
        notifications = [encode_jumper_pleth(JumperPleth((sample,)))]
        if tick % self.values_every == 0:
            pi = round(phase.perfusion_index * 10)
            values = JumperValues(
                pulse_rate=phase.pulse_rate if phase.finger else None,
                spo2=phase.spo2 if phase.finger else None,
                perfusion_index_raw=max(1, min(254, pi)) if phase.finger else None,
            )
            notifications.append(encode_jumper_values(values))
        return notifications


# -- BerryMed BM1000 ------------------------------------------------------------------------------


class EmulatedBerryMed(_Streaming, EmulatedPeripheral):
    """BerryMed BM1000: a 100 Hz byte stream of 5-byte frames over a transparent UART."""

    def __init__(
        self,
        *,
        address: str = "F0:11:22:33:44:60",
        name: str = "BerryMed",
        name_padding: int = 8,
        rate_hz: float = 100.0,
        notification_size: int = 5,
        drop_bytes: Iterable[int] = (),
        manufacturer: str | None = "Berry",
        model: str | None = "BM1000C",
        **options: Any,
    ) -> None:
        if notification_size < 1:
            raise ValueError("notification_size must be at least 1")
        super().__init__(address=address, name=name + "\x00" * name_padding, rate_hz=rate_hz, **options)
        self.notification_size = notification_size
        self.drop_bytes = set(drop_bytes)
        self.manufacturer = manufacturer
        self.model = model
        self.bytes_generated = 0
        self.bytes_dropped = 0
        self._outgoing = bytearray()

    def build_services(self) -> Sequence[gatt.Service]:
        self._stream_characteristic = _notify_characteristic(BERRYMED_NOTIFY_UUID)
        services = [
            gatt.Service(
                _uuid(BERRYMED_SERVICE_UUID), [self._stream_characteristic, _write_characteristic(BERRYMED_WRITE_UUID)]
            )
        ]
        info = [
            _text_characteristic(uuid, value)
            for uuid, value in ((MANUFACTURER_NAME_UUID, self.manufacturer), (MODEL_NUMBER_UUID, self.model))
            if value is not None
        ]
        if info:
            services.insert(0, gatt.Service(_uuid("0000180a-0000-1000-8000-00805f9b34fb"), info))
        return services

    def start_stream(self, script: Iterable[ScriptItem] | None = None) -> None:
        self._outgoing.clear()
        super().start_stream(script)

    def _pipe(self, data: bytes) -> list[bytes]:
        """Bytes into the UART: drop the scripted losses, cut into notifications."""
        for byte in data:
            if self.bytes_generated in self.drop_bytes:
                self.bytes_dropped += 1
            else:
                self._outgoing.append(byte)
            self.bytes_generated += 1
        chunks = []
        size = self.notification_size
        while len(self._outgoing) >= size:
            chunks.append(bytes(self._outgoing[:size]))
            del self._outgoing[:size]
        return chunks

    def raw_notifications(self, data: bytes) -> list[bytes]:
        return self._pipe(data)

    def tick_notifications(self, phase: OximetryPhase, tick: int) -> list[bytes]:
        frame = BerryMedFrame(
            signal_strength=8 if phase.finger else 0,
            probe_unplugged=False,
            pulse_beep=False,
            pleth=_pleth(tick, self.rate_hz, phase.pulse_rate) if phase.finger else 0,
            bar_graph=5 if phase.finger else 0,
            no_finger=not phase.finger,
            pulse_searching=phase.finger and not phase.signal_ok,
            pulse_rate=phase.pulse_rate if phase.finger else None,
            spo2=phase.spo2 if phase.finger else None,
        )
        return self._pipe(encode_berrymed_frame(frame))


__all__ = [
    "EmulatedBerryMed",
    "EmulatedJumperOximeter",
    "EmulatedNonin3230",
    "OximetryPhase",
    "ScriptItem",
    "finger_out",
]
