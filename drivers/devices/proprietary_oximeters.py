"""Pulse oximeters that stream proprietary frames: Nonin 3230, Jumper JPD-500F, BerryMed BM1000.

Three parts, pure first:

1. Frame codecs (no I/O): bytes in, frozen dataclasses out, or `MalformedFrame` (a
   `MalformedPacket`, so a `ValueError`) naming the device and the defect, never the values.
   A device's "no value" marker becomes `None`, never a number; a value outside what the frame
   layout allows rejects the whole frame (then no field of it can be trusted). Encoders exist for
   the emulator and the tests.
2. The stability rule (pure): which stretch of a live stream is one spot measurement.
3. Drivers: subscribe through bleak, feed frames to the rule, deliver ONE spot reading pair
   (SpO2 % + pulse rate /min) per session, and send live values to the screen through an
   `on_live` callback. Stream frames themselves are stored only when the hub records continuous
   oximetry (`record_continuous`): then every frame is also an `OximetryPoint` for the recorder.

The stability rule (`StabilityRule`, defaults)
----------------------------------------------
A frame is *good* when the device reports a finger (or does not say), a usable signal (not
searching, not weak / low perfusion, probe plugged in) and both values present and non-zero.
A frame that says "no finger" starts over; so does no good frame for `max_gap` seconds (other bad
frames in between are tolerated: one artefact must not restart a 100 Hz stream). The reading is
stable once good frames have run for at least `hold_seconds` (5 s), the last `hold_seconds`
hold at least `min_samples` (5) good frames, and within those SpO2 varies by at most
`max_spo2_spread` (2 %) and pulse rate by at most `max_pulse_spread` (5 /min). The spot value
is the lower median of each over that window: always a value the device actually sent, never an
average it did not. A session that is not stable within `give_up_after` (120 s) delivers nothing.

After the spot (or giving up) the driver stops touching the session, so the link manager ends it
once `settle` passes, however chatty the stream.

What is public and what is guessed (only a real unit can confirm what is marked *guessed*)
-----------------------------------------------------------------------------------------
Nonin 3230 — service 46A970E0-0D5F-11E2-8B5E-0002A5D5C51B, "continuous oximetry" notify
characteristic 0AAD7EA0-0D60-11E2-8E3C-0002A5D5C51B (public: open decoders citing Nonin's spec
113142-000-02, and a Nonin sample). Big-endian. Byte 0 frame length (10), 1 status
(b1 weak signal / low perfusion, b2 SmartPoint, b3 searching, b4 sensor on the finger, b5 low
battery, b6 encrypted link), 2 battery voltage × 0.1 V, 3-4 pulse amplitude index × 0.01 %,
5-6 frame counter, 7 SpO2 (127 = missing), 8-9 pulse rate (511 = missing). *Guessed*: longer
frames from newer firmware (accepted when byte 0 matches, extra bytes ignored), the valid ranges
(SpO2 0..100, PR 0..321), that no other marker exists, and that the SmartPoint bit is not needed
for a good frame. The device also has the standard PLX service: its spot-check is preferred (see
`Nonin3230Driver`). Bonding: required (passkey on the device's display, *guessed*).

Jumper JPD-500F — service CDEACB80-5235-4C07-8846-93A37EE6B86D, notify …CB81 (public: two open
gateways). A notification is one frame; byte 0 is its type. 0x81 = values: PR, SpO2, PI;
0x80 = plethysmogram samples (not stored). *Guessed*: PI in 0.1 % units; the markers (SpO2 0,
127 or 255 and PR 0 or 255 = no finger / no value); that a values frame has exactly these three
bytes after the type (longer ones: extra bytes ignored); that the pleth samples are plain bytes;
that the device needs no bonding and advertises the 128-bit service UUID (the matcher relies on
it).

BerryMed BM1000 — Microchip "transparent UART" 49535343-FE7D-4AE5-8FA9-9FAFD205E455, notify
49535343-1E4D-4BD9-BA61-23C647249616 (public: the BCI protocol as open libraries decode it).
A byte stream of 5-byte frames at 100 Hz; only byte 0 has b7 set (sync). Byte 0: b0-3 signal
strength, b5 probe unplugged, b6 pulse beep. Byte 1: pleth. Byte 2: b0-3 bar graph, b4 no
finger, b5 searching for a pulse, b6 = bit 7 of the pulse rate. Byte 3: pulse rate b0-6.
Byte 4: SpO2 (127 = invalid). Pulse rate 255 = invalid. Frames may be split across or packed into
notifications; a lost byte is detected (a sync byte inside a frame) and the stream resynchronises
on the next sync byte. *Guessed*: the meaning of byte 0 b4 (unused here), names other than
"BerryMed" (BM1000x, accepted), SpO2 101..126 never sent (rejected), no bonding.
"""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
from collections import deque
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
from drivers.gatt import MalformedPacket
from drivers.gatt.plx import PLX_SPOT_CHECK_UUID
from hub.domain.oximetry import OximetryPoint
from hub.domain.readings import DeviceIdentity, MeasurementKind, QualityFlag, Reading

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

NONIN_OXIMETRY_SERVICE_UUID = "46a970e0-0d5f-11e2-8b5e-0002a5d5c51b"
NONIN_CONTINUOUS_OXIMETRY_UUID = "0aad7ea0-0d60-11e2-8e3c-0002a5d5c51b"
JUMPER_SERVICE_UUID = "cdeacb80-5235-4c07-8846-93a37ee6b86d"
JUMPER_NOTIFY_UUID = "cdeacb81-5235-4c07-8846-93a37ee6b86d"
BERRYMED_SERVICE_UUID = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
BERRYMED_NOTIFY_UUID = "49535343-1e4d-4bd9-ba61-23c647249616"
BERRYMED_WRITE_UUID = "49535343-8841-43f4-a8d4-ecbe34729bb3"

_NONIN = "Nonin continuous oximetry frame"
_JUMPER = "Jumper oximeter frame"
_BERRYMED = "BerryMed oximeter frame"


class MalformedFrame(MalformedPacket):
    """A proprietary frame that does not follow its layout (message names no values)."""


# -- Nonin 3230 -----------------------------------------------------------------------------------

NONIN_FRAME_LENGTH = 10
NONIN_SPO2_MISSING = 127
NONIN_PULSE_RATE_MISSING = 511
_NONIN_PULSE_RATE_MAX = 321


@dataclass(frozen=True, slots=True)
class NoninStatus:
    """The status byte of a Nonin continuous oximetry frame."""

    raw: int

    @property
    def weak_signal(self) -> bool:
        """Pulse signal weak (low perfusion)."""
        return bool(self.raw & 0x02)

    @property
    def smartpoint(self) -> bool:
        """The data passed Nonin's SmartPoint algorithm."""
        return bool(self.raw & 0x04)

    @property
    def searching(self) -> bool:
        """Searching for consecutive pulse signals."""
        return bool(self.raw & 0x08)

    @property
    def sensor_connected(self) -> bool:
        """The finger is correctly in the sensor."""
        return bool(self.raw & 0x10)

    @property
    def low_battery(self) -> bool:
        return bool(self.raw & 0x20)

    @property
    def encrypted(self) -> bool:
        """The link is encrypted (the device's own view)."""
        return bool(self.raw & 0x40)

    @classmethod
    def from_flags(
        cls,
        *,
        weak_signal: bool = False,
        smartpoint: bool = False,
        searching: bool = False,
        sensor_connected: bool = False,
        low_battery: bool = False,
        encrypted: bool = False,
    ) -> NoninStatus:
        bits = (weak_signal, smartpoint, searching, sensor_connected, low_battery, encrypted)
        return cls(sum(1 << (i + 1) for i, on in enumerate(bits) if on))


@dataclass(frozen=True, slots=True)
class NoninFrame:
    """One ≈1 Hz notification of the Nonin continuous oximetry characteristic."""

    status: NoninStatus
    battery_decivolts: int  # battery voltage × 10
    pulse_amplitude_raw: int  # pulse amplitude index × 100 (%)
    counter: int
    spo2: int | None  # %, None = missing
    pulse_rate: int | None  # /min, None = missing

    @property
    def battery_volts(self) -> float:
        return self.battery_decivolts / 10

    @property
    def pulse_amplitude_index(self) -> float:
        return self.pulse_amplitude_raw / 100


def parse_nonin_frame(data: bytes) -> NoninFrame:
    """Bytes of one Nonin continuous oximetry notification -> `NoninFrame`, or `MalformedFrame`."""
    data = bytes(data)
    if len(data) < NONIN_FRAME_LENGTH:
        raise MalformedFrame(_NONIN, f"{len(data)} bytes, at least {NONIN_FRAME_LENGTH} expected")
    if data[0] != len(data):
        raise MalformedFrame(_NONIN, f"length byte {data[0]} but {len(data)} bytes received")
    spo2_raw = data[7]
    pulse_raw = int.from_bytes(data[8:10], "big")
    if spo2_raw != NONIN_SPO2_MISSING and spo2_raw > 100:
        raise MalformedFrame(_NONIN, "SpO2 outside 0..100 and not the missing marker")
    if pulse_raw != NONIN_PULSE_RATE_MISSING and pulse_raw > _NONIN_PULSE_RATE_MAX:
        raise MalformedFrame(_NONIN, "pulse rate outside 0..321 and not the missing marker")
    return NoninFrame(
        status=NoninStatus(data[1]),
        battery_decivolts=data[2],
        pulse_amplitude_raw=int.from_bytes(data[3:5], "big"),
        counter=int.from_bytes(data[5:7], "big"),
        spo2=None if spo2_raw == NONIN_SPO2_MISSING else spo2_raw,
        pulse_rate=None if pulse_raw == NONIN_PULSE_RATE_MISSING else pulse_raw,
    )


def encode_nonin_frame(frame: NoninFrame) -> bytes:
    """The 10 bytes of a `NoninFrame` (emulator, tests)."""
    spo2 = NONIN_SPO2_MISSING if frame.spo2 is None else frame.spo2
    pulse = NONIN_PULSE_RATE_MISSING if frame.pulse_rate is None else frame.pulse_rate
    return (
        bytes([NONIN_FRAME_LENGTH, frame.status.raw & 0xFF, frame.battery_decivolts & 0xFF])
        + (frame.pulse_amplitude_raw & 0xFFFF).to_bytes(2, "big")
        + (frame.counter & 0xFFFF).to_bytes(2, "big")
        + bytes([spo2])
        + pulse.to_bytes(2, "big")
    )


# -- Jumper JPD-500F ------------------------------------------------------------------------------

JUMPER_VALUES = 0x81
JUMPER_PLETH = 0x80
JUMPER_SPO2_MARKERS = frozenset({0, 127, 255})
JUMPER_PULSE_RATE_MARKERS = frozenset({0, 255})
JUMPER_PI_MARKERS = frozenset({0, 255})


@dataclass(frozen=True, slots=True)
class JumperValues:
    """A 0x81 frame: the device's current values (None = the device's "no value" marker)."""

    pulse_rate: int | None
    spo2: int | None
    perfusion_index_raw: int | None  # PI × 10 (%), guessed unit


@dataclass(frozen=True, slots=True)
class JumperPleth:
    """A 0x80 frame: plethysmogram samples for a live curve; never stored."""

    samples: tuple[int, ...]


JumperFrame = JumperValues | JumperPleth


def parse_jumper_frame(data: bytes) -> JumperFrame:
    """One Jumper notification -> `JumperValues` or `JumperPleth`, or `MalformedFrame`."""
    data = bytes(data)
    if not data:
        raise MalformedFrame(_JUMPER, "empty notification")
    kind = data[0]
    if kind == JUMPER_PLETH:
        if len(data) < 2:
            raise MalformedFrame(_JUMPER, "pleth frame without samples")
        return JumperPleth(tuple(data[1:]))
    if kind != JUMPER_VALUES:
        raise MalformedFrame(_JUMPER, f"unknown frame type 0x{kind:02X}")
    if len(data) < 4:
        raise MalformedFrame(_JUMPER, f"values frame of {len(data)} bytes, at least 4 expected")
    pulse, spo2, pi = data[1], data[2], data[3]
    if spo2 not in JUMPER_SPO2_MARKERS and spo2 > 100:
        raise MalformedFrame(_JUMPER, "SpO2 above 100 and not a no-value marker")
    return JumperValues(
        pulse_rate=None if pulse in JUMPER_PULSE_RATE_MARKERS else pulse,
        spo2=None if spo2 in JUMPER_SPO2_MARKERS else spo2,
        perfusion_index_raw=None if pi in JUMPER_PI_MARKERS else pi,
    )


def encode_jumper_values(values: JumperValues) -> bytes:
    return bytes(
        [
            JUMPER_VALUES,
            255 if values.pulse_rate is None else values.pulse_rate,
            127 if values.spo2 is None else values.spo2,
            0 if values.perfusion_index_raw is None else values.perfusion_index_raw,
        ]
    )


def encode_jumper_pleth(pleth: JumperPleth) -> bytes:
    return bytes([JUMPER_PLETH, *pleth.samples])


# -- BerryMed BM1000 ------------------------------------------------------------------------------

BERRYMED_FRAME_LENGTH = 5
BERRYMED_SPO2_INVALID = 127
BERRYMED_PULSE_RATE_INVALID = 255
_SYNC = 0x80


@dataclass(frozen=True, slots=True)
class BerryMedFrame:
    """One 5-byte BerryMed frame (≈100 Hz)."""

    signal_strength: int  # 0..15
    probe_unplugged: bool
    pulse_beep: bool
    pleth: int  # 0..127
    bar_graph: int  # 0..15
    no_finger: bool
    pulse_searching: bool
    pulse_rate: int | None  # /min, None = invalid
    spo2: int | None  # %, None = invalid
    status_raw: int = field(default=0, compare=False)  # byte 0 as sent (b4: meaning unknown)


def parse_berrymed_frame(data: bytes) -> BerryMedFrame:
    """Exactly one 5-byte frame -> `BerryMedFrame`, or `MalformedFrame`."""
    data = bytes(data)
    if len(data) != BERRYMED_FRAME_LENGTH:
        raise MalformedFrame(_BERRYMED, f"{len(data)} bytes, {BERRYMED_FRAME_LENGTH} expected")
    if not data[0] & _SYNC:
        raise MalformedFrame(_BERRYMED, "first byte lacks the sync bit")
    if any(byte & _SYNC for byte in data[1:]):
        raise MalformedFrame(_BERRYMED, "sync bit inside the frame (a byte was lost)")
    status, pleth, info, pulse_low, spo2 = data
    pulse = pulse_low | ((info & 0x40) << 1)
    if spo2 != BERRYMED_SPO2_INVALID and spo2 > 100:
        raise MalformedFrame(_BERRYMED, "SpO2 outside 0..100 and not the invalid marker")
    return BerryMedFrame(
        signal_strength=status & 0x0F,
        probe_unplugged=bool(status & 0x20),
        pulse_beep=bool(status & 0x40),
        pleth=pleth,
        bar_graph=info & 0x0F,
        no_finger=bool(info & 0x10),
        pulse_searching=bool(info & 0x20),
        pulse_rate=None if pulse == BERRYMED_PULSE_RATE_INVALID else pulse,
        spo2=None if spo2 == BERRYMED_SPO2_INVALID else spo2,
        status_raw=status,
    )


def encode_berrymed_frame(frame: BerryMedFrame) -> bytes:
    pulse = BERRYMED_PULSE_RATE_INVALID if frame.pulse_rate is None else frame.pulse_rate
    spo2 = BERRYMED_SPO2_INVALID if frame.spo2 is None else frame.spo2
    status = (
        _SYNC
        | (frame.status_raw & 0x10)
        | (frame.signal_strength & 0x0F)
        | (0x20 if frame.probe_unplugged else 0)
        | (0x40 if frame.pulse_beep else 0)
    )
    info = (
        (frame.bar_graph & 0x0F)
        | (0x10 if frame.no_finger else 0)
        | (0x20 if frame.pulse_searching else 0)
        | ((pulse & 0x80) >> 1)
    )
    return bytes([status, frame.pleth & 0x7F, info, pulse & 0x7F, spo2 & 0x7F])


class BerryMedStream:
    """Reassembles 5-byte frames from notifications that may cut, pack or lose bytes.

    A frame starts at a byte with b7 set. A new sync byte before a frame is complete means a
    byte was lost: the partial frame is dropped (`broken_frames`) and the new one begins; bytes
    before the first sync byte are dropped (`dropped_bytes`). Frames that are complete but do not
    parse count in `malformed_frames`. Counters only: no values are kept.
    """

    def __init__(self) -> None:
        self._partial = bytearray()
        self.dropped_bytes = 0
        self.broken_frames = 0
        self.malformed_frames = 0

    def feed(self, data: bytes) -> list[BerryMedFrame]:
        frames: list[BerryMedFrame] = []
        for byte in bytes(data):
            if byte & _SYNC:
                if self._partial:
                    self.dropped_bytes += len(self._partial)
                    self.broken_frames += 1
                self._partial = bytearray([byte])
            elif not self._partial:
                self.dropped_bytes += 1
            else:
                self._partial.append(byte)
                if len(self._partial) == BERRYMED_FRAME_LENGTH:
                    try:
                        frames.append(parse_berrymed_frame(bytes(self._partial)))
                    except MalformedFrame:
                        self.malformed_frames += 1
                    self._partial = bytearray()
        return frames

    @property
    def lost(self) -> int:
        """Frames that did not make it (broken + malformed)."""
        return self.broken_frames + self.malformed_frames


# -- the stability rule ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OximetrySample:
    """One frame's worth of live oximetry, device-independent.

    finger: True / False when the device says whether a finger is in, None when it cannot tell.
    signal_ok: False when the device says it is searching, the signal is weak, or the probe is out.
    """

    spo2: int | None
    pulse_rate: int | None
    finger: bool | None = None
    signal_ok: bool = True

    @property
    def good(self) -> bool:
        return (
            self.finger is not False
            and self.signal_ok
            and bool(self.spo2)  # None and 0 are not readings
            and bool(self.pulse_rate)
        )


@dataclass(frozen=True, slots=True)
class StabilityRule:
    """When a live stream counts as one spot measurement (see the module docstring)."""

    hold_seconds: float = 5.0
    min_samples: int = 5
    max_spo2_spread: int = 2
    max_pulse_spread: int = 5
    max_gap: float = 2.0

    def __post_init__(self) -> None:
        if self.hold_seconds <= 0 or self.min_samples < 1 or self.max_gap <= 0:
            raise ValueError("hold_seconds and max_gap must be positive, min_samples at least 1")
        if self.max_spo2_spread < 0 or self.max_pulse_spread < 0:
            raise ValueError("spreads cannot be negative")


@dataclass(frozen=True, slots=True)
class StableValue:
    """The spot value of a stable stretch: lower medians over the window."""

    spo2: int = field(repr=False)
    pulse_rate: int = field(repr=False)
    samples: int
    seconds: float


class StabilityTracker:
    """Feeds samples (with a monotonic time in seconds) through a `StabilityRule`. Pure."""

    def __init__(self, rule: StabilityRule) -> None:
        self.rule = rule
        self._window: deque[tuple[float, int, int]] = deque()
        self._run_start: float | None = None
        self._last_good: float | None = None

    def reset(self) -> None:
        self._window.clear()
        self._run_start = None
        self._last_good = None

    def progress(self, now: float) -> float:
        """How far the current run is towards `hold_seconds` (0..1)."""
        if self._run_start is None:
            return 0.0
        return max(0.0, min(1.0, (now - self._run_start) / self.rule.hold_seconds))

    def add(self, now: float, sample: OximetrySample) -> StableValue | None:
        rule = self.rule
        if sample.finger is False:
            self.reset()
            return None
        if self._last_good is not None and now - self._last_good > rule.max_gap:
            self.reset()
        if not sample.good:
            return None
        assert sample.spo2 is not None and sample.pulse_rate is not None
        if self._run_start is None:
            self._run_start = now
        self._last_good = now
        self._window.append((now, sample.spo2, sample.pulse_rate))
        while self._window and self._window[0][0] < now - rule.hold_seconds:
            self._window.popleft()
        if now - self._run_start < rule.hold_seconds or len(self._window) < rule.min_samples:
            return None
        spo2 = [s for _, s, _ in self._window]
        pulse = [p for _, _, p in self._window]
        if max(spo2) - min(spo2) > rule.max_spo2_spread or max(pulse) - min(pulse) > rule.max_pulse_spread:
            return None
        return StableValue(
            spo2=statistics.median_low(spo2),
            pulse_rate=statistics.median_low(pulse),
            samples=len(self._window),
            seconds=now - self._window[0][0],
        )


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
    family: ClassVar[str] = "pulse-oximeter"  # the device family the patient measures with (hub.api.DeviceFamily)

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
                run.malformed_frame(MalformedFrame(_BERRYMED, "broken or malformed frame in the stream"))
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
    "BERRYMED_NOTIFY_UUID",
    "BERRYMED_SERVICE_UUID",
    "BERRYMED_WRITE_UUID",
    "JUMPER_NOTIFY_UUID",
    "JUMPER_SERVICE_UUID",
    "NONIN_CONTINUOUS_OXIMETRY_UUID",
    "NONIN_OXIMETRY_SERVICE_UUID",
    "BerryMedFrame",
    "BerryMedOximeterDriver",
    "BerryMedStream",
    "JumperOximeterDriver",
    "JumperPleth",
    "JumperValues",
    "LiveCallback",
    "LiveOximetry",
    "MalformedFrame",
    "Nonin3230Driver",
    "NoninFrame",
    "NoninStatus",
    "OximetrySample",
    "StabilityRule",
    "StabilityTracker",
    "StableValue",
    "StreamingOximeterDriver",
    "berrymed_sample",
    "encode_berrymed_frame",
    "encode_jumper_pleth",
    "encode_jumper_values",
    "encode_nonin_frame",
    "jumper_sample",
    "nonin_sample",
    "parse_berrymed_frame",
    "parse_jumper_frame",
    "parse_nonin_frame",
    "set_live_callback",
    "stable_readings",
]
