"""A picture from the hub's camera, as the QR reader and the scan screen use it; and why a camera
could not be used. Plain data: the camera itself is an adapter (hub/platform/camera.py)."""

from __future__ import annotations

from dataclasses import dataclass

# Why the camera gave no pictures (the scan screen words these in its language).
NO_CAMERA = "no-camera"  # nothing at the camera's path: none is connected (or the setting is wrong)
CAMERA_FAILED = "camera-failed"  # something is there but cannot be opened or read (busy, no permission, not a camera)
CAMERA_LOST = "camera-lost"  # it gave pictures, then stopped (unplugged)


@dataclass(frozen=True, slots=True)
class Frame:
    """One picture: `rgb` is width × height × 3 bytes, rows packed top to bottom."""

    width: int
    height: int
    rgb: bytes

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or len(self.rgb) != self.width * self.height * 3:
            raise ValueError(f"a {self.width}x{self.height} RGB picture needs {max(0, self.width * self.height * 3)} bytes")


class CameraUnavailable(Exception):
    """The camera could not be opened or stopped giving pictures; `reason` is one of the codes above.
    The message names the device path only (never anything of a patient's)."""

    def __init__(self, message: str, reason: str = CAMERA_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


__all__ = ["CAMERA_FAILED", "CAMERA_LOST", "NO_CAMERA", "CameraUnavailable", "Frame"]
