"""BerryMed BM1000 oximeter frames and the stream that reassembles them. Pure.

Microchip "transparent UART" 49535343-FE7D-4AE5-8FA9-9FAFD205E455, notify
49535343-1E4D-4BD9-BA61-23C647249616 (public: the BCI protocol as open libraries decode it). A
byte stream of 5-byte frames at 100 Hz; only byte 0 has b7 set (sync). Byte 0: b0-3 signal
strength, b5 probe unplugged, b6 pulse beep. Byte 1: pleth. Byte 2: b0-3 bar graph, b4 no finger,
b5 searching for a pulse, b6 = bit 7 of the pulse rate. Byte 3: pulse rate b0-6. Byte 4: SpO2
(127 = invalid). Pulse rate 255 = invalid. Frames may be split across or packed into
notifications; a lost byte is detected (a sync byte inside a frame) and the stream
resynchronises on the next sync byte. *Guessed*: the meaning of byte 0 b4 (kept, unused), SpO2
101..126 never sent (rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.frames import MalformedFrame
from drivers.gatt.reader import as_bytes, check_uint

BERRYMED_SERVICE_UUID = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
BERRYMED_NOTIFY_UUID = "49535343-1e4d-4bd9-ba61-23c647249616"
BERRYMED_WRITE_UUID = "49535343-8841-43f4-a8d4-ecbe34729bb3"

BERRYMED_FRAME_LENGTH = 5
BERRYMED_SPO2_INVALID = 127
BERRYMED_PULSE_RATE_INVALID = 255
BERRYMED_SPO2_MAX = 100
_SYNC = 0x80

BERRYMED = "BerryMed oximeter frame"


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
    data = as_bytes(data, BERRYMED)
    if len(data) != BERRYMED_FRAME_LENGTH:
        raise MalformedFrame(BERRYMED, f"{len(data)} bytes, {BERRYMED_FRAME_LENGTH} expected")
    if not data[0] & _SYNC:
        raise MalformedFrame(BERRYMED, "first byte lacks the sync bit")
    if any(byte & _SYNC for byte in data[1:]):
        raise MalformedFrame(BERRYMED, "sync bit inside the frame (a byte was lost)")
    status, pleth, info, pulse_low, spo2 = data
    pulse = pulse_low | ((info & 0x40) << 1)
    if spo2 != BERRYMED_SPO2_INVALID and spo2 > BERRYMED_SPO2_MAX:
        raise MalformedFrame(BERRYMED, "SpO2 outside 0..100 and not the invalid marker")
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
    """The 5 bytes of a frame (emulator, tests); refuses a value the layout cannot carry."""
    check_uint(frame.signal_strength, 4, "BerryMed frame signal_strength")
    check_uint(frame.pleth, 7, "BerryMed frame pleth")
    check_uint(frame.bar_graph, 4, "BerryMed frame bar_graph")
    check_uint(frame.status_raw, 8, "BerryMed frame status_raw")
    if frame.pulse_rate is not None:
        check_uint(frame.pulse_rate, 8, "BerryMed frame pulse_rate")
        if frame.pulse_rate == BERRYMED_PULSE_RATE_INVALID:
            raise ValueError("BerryMed frame pulse_rate 255 is the invalid marker; use None")
    if frame.spo2 is not None:
        check_uint(frame.spo2, 7, "BerryMed frame spo2")
        if frame.spo2 > BERRYMED_SPO2_MAX:
            raise ValueError("BerryMed frame spo2 must be None or 0..100")
    pulse = BERRYMED_PULSE_RATE_INVALID if frame.pulse_rate is None else frame.pulse_rate
    spo2 = BERRYMED_SPO2_INVALID if frame.spo2 is None else frame.spo2
    status = (
        _SYNC
        | (frame.status_raw & 0x10)
        | frame.signal_strength
        | (0x20 if frame.probe_unplugged else 0)
        | (0x40 if frame.pulse_beep else 0)
    )
    info = (
        frame.bar_graph
        | (0x10 if frame.no_finger else 0)
        | (0x20 if frame.pulse_searching else 0)
        | ((pulse & 0x80) >> 1)
    )
    return bytes([status, frame.pleth, info, pulse & 0x7F, spo2])


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
        for byte in as_bytes(data, BERRYMED):
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


__all__ = [
    "BERRYMED",
    "BERRYMED_FRAME_LENGTH",
    "BERRYMED_NOTIFY_UUID",
    "BERRYMED_PULSE_RATE_INVALID",
    "BERRYMED_SERVICE_UUID",
    "BERRYMED_SPO2_INVALID",
    "BERRYMED_WRITE_UUID",
    "BerryMedFrame",
    "BerryMedStream",
    "encode_berrymed_frame",
    "parse_berrymed_frame",
]
