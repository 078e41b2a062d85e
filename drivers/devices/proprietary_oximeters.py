"""Pulse oximeters that stream proprietary frames: Nonin 3230, Jumper JPD-500F, BerryMed BM1000.

Thin I/O drivers over pure parts: the vendors' frame codecs live in `drivers.frames` (`nonin`,
`jumper`, `berrymed`: layouts, markers, what is public and what is guessed) and the stability
rule in `drivers.protocol.oximeter_stability`. A driver subscribes through bleak, turns each frame
into an `OximetrySample`, feeds the rule, delivers ONE spot reading pair (SpO2 % + pulse rate
/min) per session, and sends live values to the screen through an `on_live` callback. Stream
frames themselves are stored only when the hub records continuous oximetry
(`record_continuous`): then every frame is also an `OximetryPoint` for the recorder.

A session that is not stable within `give_up_after` (120 s) delivers nothing. After the spot (or
giving up) the driver stops touching the session, so the link manager ends it once `settle`
passes, however chatty the stream.

Per device, beyond the frames (*guessed* = only a real unit can confirm):
Nonin 3230 — also has the standard PLX service: its spot-check is preferred (see
`Nonin3230Driver`). Bonding: required (passkey on the device's display, *guessed*). That the
SmartPoint bit is not needed for a good frame is *guessed*.
Jumper JPD-500F — *guessed*: needs no bonding and advertises the 128-bit service UUID (the
matcher relies on it).
BerryMed BM1000 — *guessed*: names other than "BerryMed" (BM1000x, accepted), no bonding.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from drivers.devices.base import Advertisement, Driver, Matcher, Registry, Session
from drivers.devices.pulse_oximeter import (
    PULSE_RATE_UNIT,
    SPO2_UNIT,
    read_device_identity,
    readings_from_spot_check_bytes,
)
from drivers.frames import MalformedFrame
from drivers.frames.berrymed import BERRYMED, BERRYMED_NOTIFY_UUID, BerryMedFrame, BerryMedStream
from drivers.frames.jumper import JUMPER_NOTIFY_UUID, JUMPER_SERVICE_UUID, JumperValues, parse_jumper_frame
from drivers.frames.nonin import NONIN_CONTINUOUS_OXIMETRY_UUID, NoninFrame, parse_nonin_frame
from drivers.gatt import MalformedPacket
from drivers.gatt.plx import PLX_SPOT_CHECK_UUID
from drivers.protocol.oximeter_stability import OximetrySample, StabilityRule, StabilityTracker, StableValue
from hub.domain.devices import DeviceFamily
from hub.domain.oximetry import OximetryPoint
from hub.domain.readings import DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)


def nonin_sample(frame: NoninFrame) -> OximetrySample:
    status = frame.status
    return OximetrySample(
        spo2=frame.spo2,
        pulse_rate=frame.pulse_rate,
        finger=status.sensor_connected,
        signal_ok=not (status.searching or status.weak_signal),
    )


def jumper_sample(values: JumperValues) -> OximetrySample:
    finger = False if values.spo2 is None and values.pulse_rate is None else None
    return OximetrySample(spo2=values.spo2, pulse_rate=values.pulse_rate, finger=finger)


def berrymed_sample(frame: BerryMedFrame) -> OximetrySample:
    return OximetrySample(
        spo2=frame.spo2,
        pulse_rate=frame.pulse_rate,
        finger=not (frame.no_finger or frame.probe_unplugged),
        signal_ok=not frame.pulse_searching,
    )


def stable_readings(
    value: StableValue,
    *,
    device: DeviceIdentity | None,
    received_at: datetime,
    flags: Iterable[QualityFlag] = (),
) -> tuple[Reading, Reading]:
    """The spot reading pair (SpO2, pulse rate) of a stable stretch: no device time (the stream
    has no clock), no record id. Pure."""
    flag_set = frozenset(flags)
    return (
        Reading(
            kind=MeasurementKind.OXYGEN_SATURATION,
            value=float(value.spo2),
            unit=SPO2_UNIT,
            received_at=received_at,
            device=device,
            flags=flag_set,
        ),
        Reading(
            kind=MeasurementKind.PULSE_RATE,
            value=float(value.pulse_rate),
            unit=PULSE_RATE_UNIT,
            received_at=received_at,
            device=device,
            flags=flag_set,
        ),
    )


# -- live values for the screen -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveOximetry:
    """What the screen shows while the patient measures. Values are left out of repr (logs)."""

    address: str
    spo2: int | None = field(repr=False)
    pulse_rate: int | None = field(repr=False)
    finger: bool | None
    signal_ok: bool
    progress: float  # 0..1 towards a stable reading
    final: bool = False  # the stable value that became the spot reading


LiveCallback = Callable[[LiveOximetry], None]


# -- drivers --------------------------------------------------------------------------------------


class _StreamRun:
    """One session of one streaming oximeter: stability, live values, the single spot delivery."""

    def __init__(
        self,
        driver: StreamingOximeterDriver,
        session: Session,
        identity: DeviceIdentity,
        client: BleakClient,
        *,
        spot_check_grace: float | None,
    ) -> None:
        self.driver = driver
        self.session = session
        self.identity = identity
        self.client = client
        self.tracker = StabilityTracker(driver.rule)
        self.spot_check_grace = spot_check_grace
        self.started = driver.monotonic()
        self.finished = False
        self.flags: set[QualityFlag] = set()
        self._pending: asyncio.TimerHandle | None = None
        self._last_live: tuple[float, bool | None] | None = None
        self.malformed = 0

    def malformed_frame(self, error: MalformedPacket) -> None:
        """A frame that could not be parsed (logged once per session without values)."""
        self.malformed += 1
        log = logger.warning if self.malformed == 1 else logger.debug
        log("%s: frame skipped: %s", self.identity.address, error)
        if not self.finished:
            self.session.skip()

    def offer(self, sample: OximetrySample) -> None:
        if self.driver.record_continuous:  # the whole stream is recorded, the spot rule aside
            good = sample.good
            self.session.deliver_point(
                OximetryPoint(
                    self.session.now(),
                    float(sample.spo2) if good and sample.spo2 else None,
                    float(sample.pulse_rate) if good and sample.pulse_rate else None,
                    self.identity,
                )
            )
        if self.finished:
            return
        self.session.touch()
        if self._pending is not None:
            return  # stable; waiting to see whether the device sends its own spot-check
        now = self.driver.monotonic()
        if now - self.started > self.driver.give_up_after:
            self.finished = True
            logger.info("%s: no stable reading within %g s; nothing stored", self.identity.address, self.driver.give_up_after)
            return
        stable = self.tracker.add(now, sample)
        if stable is not None:
            self._stable(stable)
            return
        self._live(now, sample)

    def _live(self, now: float, sample: OximetrySample) -> None:
        last = self._last_live
        if last is not None and sample.finger == last[1] and now - last[0] < self.driver.live_interval:
            return
        self._last_live = (now, sample.finger)
        self.driver.emit_live(
            LiveOximetry(
                address=self.identity.address,
                spo2=sample.spo2 or None,
                pulse_rate=sample.pulse_rate or None,
                finger=sample.finger,
                signal_ok=sample.signal_ok,
                progress=self.tracker.progress(now),
            )
        )

    def _stable(self, value: StableValue) -> None:
        if self.spot_check_grace is None:
            self._deliver(value)
            return
        logger.info("%s: stream stable; waiting %g s for the device's own spot-check", self.identity.address, self.spot_check_grace)
        self._pending = asyncio.get_running_loop().call_later(self.spot_check_grace, self._flush, value)

    def _flush(self, value: StableValue) -> None:
        self._pending = None
        if self.finished:
            return
        if not self.client.is_connected:
            self.finished = True
            logger.warning("%s: device left before the stable stream value could be kept", self.identity.address)
            return
        self._deliver(value)

    def _deliver(self, value: StableValue) -> None:
        self.finished = True
        logger.info("%s: stable over %d frames (%.1f s): one spot reading", self.identity.address, value.samples, value.seconds)
        for reading in stable_readings(value, device=self.identity, received_at=self.session.now(), flags=self.flags):
            self.session.deliver(reading)
        self.driver.emit_live(
            LiveOximetry(
                address=self.identity.address,
                spo2=value.spo2,
                pulse_rate=value.pulse_rate,
                finger=True,
                signal_ok=True,
                progress=1.0,
                final=True,
            )
        )

    def superseded(self) -> None:
        """The device sent its own live spot-check: that one is the measurement."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if not self.finished:
            self.finished = True
            logger.info("%s: device spot-check received; the stream gives no second reading", self.identity.address)


class StreamingOximeterDriver(Driver):
    """Common part of the streaming oximeter drivers (see the module docstring for the rule).

    `on_live(LiveOximetry)` is called (throttled to `live_interval`, and whenever the finger
    state changes) while the patient measures; set it on a registered driver with
    `set_live_callback`. It runs on the event loop and must not block.
    """

    notify_uuid: ClassVar[str]
    family: ClassVar[DeviceFamily] = DeviceFamily.PULSE_OXIMETER

    def __init__(
        self,
        *,
        rule: StabilityRule | None = None,
        on_live: LiveCallback | None = None,
        live_interval: float = 0.25,
        give_up_after: float = 120.0,
        monotonic: Callable[[], float] = time.monotonic,
        record_continuous: bool = False,
    ) -> None:
        """record_continuous: every frame also becomes an `OximetryPoint` (continuous oximetry,
        hub.domain.oximetry); the session then lasts as long as the stream."""
        self.record_continuous = record_continuous
        self.rule = rule or StabilityRule()
        self.on_live = on_live
        self.live_interval = live_interval
        self.give_up_after = give_up_after
        self.monotonic = monotonic

    def emit_live(self, live: LiveOximetry) -> None:
        if self.on_live is None:
            return
        try:
            self.on_live(live)
        except Exception:  # noqa: BLE001 - the screen must not break the link
            logger.exception("live oximetry callback failed")

    async def identify(self, client: BleakClient, advertisement: Advertisement) -> DeviceIdentity:
        return await read_device_identity(client, advertisement)

    def new_run(self, client: BleakClient, session: Session, identity: DeviceIdentity) -> _StreamRun:
        return _StreamRun(self, session, identity, client, spot_check_grace=None)

    def handler(self, run: _StreamRun) -> Callable[[bytes], None]:
        """The per-notification handler: bytes -> samples offered to `run`."""
        raise NotImplementedError

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        identity = await self.identify(client, advertisement)
        session.identify(identity)
        run = self.new_run(client, session, identity)
        await self.before_stream(client, session, identity, run)
        handle = self.handler(run)

        def on_notify(_: BleakGATTCharacteristic, data: bytearray) -> None:
            handle(bytes(data))

        await client.start_notify(self.notify_uuid, on_notify)
        return identity

    async def before_stream(self, client: BleakClient, session: Session, identity: DeviceIdentity, run: _StreamRun) -> None:
        """Subscribe to anything else first (Nonin: the standard PLX spot-check)."""


class Nonin3230Driver(StreamingOximeterDriver):
    """Nonin 3230: the standard PLX spot-check first, the proprietary 1 Hz stream for live values.

    Every PLX spot-check indication becomes readings as with the standard driver (stored records
    too). A live spot-check (not "from storage") is the measurement: the stream then gives none.
    When the stream becomes stable first, the driver waits `spot_check_grace` seconds for the
    device's own spot-check and only then keeps the stream value (a spot-check arriving later is
    still delivered: a device record is never dropped). Without a PLX spot-check characteristic the
    stream value is kept at once. Low battery in any frame flags the stream readings.
    """

    name: ClassVar[str] = "nonin-3230"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"Nonin3230_.*", example_name="Nonin3230_502201234")
    notify_uuid: ClassVar[str] = NONIN_CONTINUOUS_OXIMETRY_UUID

    def __init__(self, *, spot_check_grace: float = 3.0, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.spot_check_grace = spot_check_grace

    async def identify(self, client: BleakClient, advertisement: Advertisement) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        if identity.serial is None and advertisement.name and advertisement.name.startswith("Nonin3230_"):
            serial = advertisement.name.removeprefix("Nonin3230_").strip("\x00 ")
            identity = replace(identity, serial=serial or None)
        return identity

    def new_run(self, client: BleakClient, session: Session, identity: DeviceIdentity) -> _StreamRun:
        has_spot_check = client.services.get_characteristic(PLX_SPOT_CHECK_UUID) is not None
        return _StreamRun(
            self, session, identity, client, spot_check_grace=self.spot_check_grace if has_spot_check else None
        )

    async def before_stream(self, client: BleakClient, session: Session, identity: DeviceIdentity, run: _StreamRun) -> None:
        if run.spot_check_grace is None:
            return

        def on_spot_check(_: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                readings = readings_from_spot_check_bytes(bytes(data), device=identity, received_at=session.now())
            except MalformedPacket as error:
                logger.warning("%s: spot-check skipped: %s", identity.address, error)
                session.skip()
                return
            for reading in readings:
                session.deliver(reading)
            if QualityFlag.FROM_STORAGE not in readings[0].flags:
                run.superseded()

        await client.start_notify(PLX_SPOT_CHECK_UUID, on_spot_check)

    def handler(self, run: _StreamRun) -> Callable[[bytes], None]:
        def handle(data: bytes) -> None:
            try:
                frame = parse_nonin_frame(data)
            except MalformedFrame as error:
                run.malformed_frame(error)
                return
            if frame.status.low_battery:
                run.flags.add(QualityFlag.BATTERY_LOW)
            run.offer(nonin_sample(frame))

        return handle


class JumperOximeterDriver(StreamingOximeterDriver):
    """Jumper JPD-500F: 0x81 value frames feed the rule; 0x80 pleth frames only keep it alive."""

    name: ClassVar[str] = "jumper-jpd-500f"
    matcher: ClassVar[Matcher] = Matcher(service_uuids=frozenset({JUMPER_SERVICE_UUID}))
    notify_uuid: ClassVar[str] = JUMPER_NOTIFY_UUID

    def handler(self, run: _StreamRun) -> Callable[[bytes], None]:
        def handle(data: bytes) -> None:
            try:
                frame = parse_jumper_frame(data)
            except MalformedFrame as error:
                run.malformed_frame(error)
                return
            if isinstance(frame, JumperValues):
                run.offer(jumper_sample(frame))
            elif not run.finished:
                run.session.touch()

        return handle


_BERRYMED_NAME = re.compile(r"(BerryMed|BM1000[A-Z]?)[\x00 ]*")


class BerryMedOximeterDriver(StreamingOximeterDriver):
    """BerryMed BM1000: 100 Hz 5-byte frames over a transparent UART, reassembled per session.

    The name is advertised padded with NUL bytes: the matcher allows them, the stored device name
    has them stripped.
    """

    name: ClassVar[str] = "berrymed-bm1000"
    matcher: ClassVar[Matcher] = Matcher(local_name=_BERRYMED_NAME.pattern, example_name="BerryMed")
    notify_uuid: ClassVar[str] = BERRYMED_NOTIFY_UUID

    async def identify(self, client: BleakClient, advertisement: Advertisement) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        name = identity.name.rstrip("\x00 ") if identity.name else None
        return replace(identity, name=name or None)

    def handler(self, run: _StreamRun) -> Callable[[bytes], None]:
        stream = BerryMedStream()

        def handle(data: bytes) -> None:
            lost_before = stream.lost
            frames = stream.feed(data)
            for _ in range(stream.lost - lost_before):
                run.malformed_frame(MalformedFrame(BERRYMED, "broken or malformed frame in the stream"))
            if not frames and not run.finished:
                run.session.touch()
            for frame in frames:
                run.offer(berrymed_sample(frame))

        return handle


def streaming_drivers() -> list[StreamingOximeterDriver]:
    """One of each, default settings, in registry order."""
    return [Nonin3230Driver(), JumperOximeterDriver(), BerryMedOximeterDriver()]


def set_live_callback(registry: Registry, callback: LiveCallback | None) -> int:
    """Route every streaming oximeter driver's live values to `callback`; returns how many."""
    count = 0
    for driver in registry:
        if isinstance(driver, StreamingOximeterDriver):
            driver.on_live = callback
            count += 1
    return count


__all__ = [
    "BerryMedOximeterDriver",
    "JumperOximeterDriver",
    "LiveCallback",
    "LiveOximetry",
    "Nonin3230Driver",
    "StreamingOximeterDriver",
    "berrymed_sample",
    "jumper_sample",
    "nonin_sample",
    "set_live_callback",
    "stable_readings",
]
