"""Reading an enrolment profile's QR code from the hub's camera.

`qr_texts(frame)` is the pure part: the texts of the QR codes in one picture (zxing-cpp).
`scan_for_profile` looks at the camera's pictures until one holds a Heima code (`HEIMA1:` …)
whose data unpacks; that text then goes the way a hand scanner's typed text goes (the PIN, then
hub.services.enrolment: signature, expiry, this hub, the other patient's data). A code that is
something else (a web address, a damaged Heima code) is noted for the screen and the scan goes on.

The camera is a port (`OpenCamera`: hub/platform/camera.py's `frames`), opened for the scan only
and closed when it ends, for any reason. The scan runs in a thread of its own (reading a camera
blocks); the screen reads `ScanView` — the newest picture and what was seen — from the UI's side.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from hub.domain.camera import CAMERA_LOST, CameraUnavailable, Frame

log = logging.getLogger(__name__)

OpenCamera = Callable[[], AbstractContextManager[Iterator[Frame]]]

# How a scan ended.
FOUND = "found"  # a Heima profile's code: ScanEnd.text
STOPPED = "stopped"  # the technician cancelled (or left the screen)
UNAVAILABLE = "unavailable"  # no camera, or it failed: ScanEnd.reason (hub.domain.camera's codes)

# What was seen last that was not a profile (the screen says it in words).
OTHER_CODE = "other-code"  # a QR code that is not a Heima enrolment profile
DAMAGED_CODE = "damaged-code"  # a Heima code whose data does not unpack (misread, or cut off)


def qr_texts(frame: Frame) -> list[str]:
    """The texts of the QR codes in the picture, in the order zxing-cpp finds them (none: [])."""
    import zxingcpp

    view = zxingcpp.ImageView(memoryview(frame.rgb), frame.width, frame.height, zxingcpp.ImageFormat.RGB)
    return [code.text for code in zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode) if code.valid]


def profile_text(texts: list[str]) -> tuple[str | None, str | None]:
    """(the first Heima profile's text, None) or (None, what was seen instead, if anything)."""
    # Enrolment's profile reading (and its TOML, signature and PIN modules) only once a camera
    # scan runs: the touch app imports this module at start for ScanView (docs/performance.md, part M6).
    from hub.domain.enrolment import ProfileRefused
    from hub.services.enrolment import QR_PREFIX, decode_qr

    seen = None
    for text in texts:
        if not text.strip().startswith(QR_PREFIX):
            seen = seen or OTHER_CODE
            continue
        try:
            decode_qr(text)
        except ProfileRefused:
            seen = DAMAGED_CODE
            continue
        return text.strip(), None
    return None, seen


@dataclass(frozen=True, slots=True)
class ScanEnd:
    how: str  # FOUND, STOPPED or UNAVAILABLE
    text: str = ""  # FOUND: the QR code's text (HEIMA1:…)
    reason: str = ""  # UNAVAILABLE: hub.domain.camera.NO_CAMERA / CAMERA_FAILED / CAMERA_LOST


class ScanView:
    """What the screen shows while scanning, written by the scan's thread, read by the UI's."""

    def __init__(self) -> None:
        self.frame: Frame | None = None  # the newest picture
        self.pictures = 0  # how many were read (the screen redraws when it changed)
        self.seen: str | None = None  # OTHER_CODE / DAMAGED_CODE: the last code that was not a profile
        self.stop = threading.Event()  # set to end the scan (Cancel, leaving the screen)


def scan_for_profile(open_camera: OpenCamera, view: ScanView) -> ScanEnd:
    """Look at the camera's pictures until one holds a Heima profile's code or `view.stop` is
    set. Blocking: run it in a thread. The camera is closed before this returns."""
    try:
        with open_camera() as pictures:
            for frame in pictures:
                view.frame = frame
                view.pictures += 1
                if view.stop.is_set():
                    return ScanEnd(STOPPED)
                text, seen = profile_text(qr_texts(frame))
                if text is not None:
                    log.info("enrolment QR code read from the camera")  # never its content
                    return ScanEnd(FOUND, text=text)
                if seen is not None:
                    view.seen = seen
                if view.stop.is_set():
                    return ScanEnd(STOPPED)
    except CameraUnavailable as exc:
        log.warning("camera: %s", exc)  # a device path and a cause only
        return ScanEnd(UNAVAILABLE, reason=exc.reason)
    return ScanEnd(UNAVAILABLE, reason=CAMERA_LOST)  # the pictures ended


__all__ = [
    "DAMAGED_CODE", "FOUND", "OTHER_CODE", "OpenCamera", "STOPPED", "ScanEnd", "ScanView", "UNAVAILABLE",
    "profile_text", "qr_texts", "scan_for_profile",
]  # fmt: skip
