"""The hub's camera, for reading a QR code at enrolment: pictures through PyAV (FFmpeg), which
aiortc already brings for the video call.

On the Pi the source is a V4L2 device (`/dev/video0`, or `[video] camera`); anything else PyAV can
open works too (a video file: the tests, a demonstration). `frames(source)` is a context manager:
the device is opened when the scan view is shown and closed on leaving it, whatever happens, so
the video call (or another program) finds it free.

A file is played at its own pace and again from the start when it ends, as a camera that is
always there would be; a device that stops giving pictures (unplugged) ends the scan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hub.domain.camera import CAMERA_FAILED, CAMERA_LOST, NO_CAMERA, CameraUnavailable, Frame

log = logging.getLogger(__name__)

DEFAULT_CAMERA = "/dev/video0"
WIDTH, HEIGHT, FPS = 640, 480, 15  # enough for a code held a hand's width away; light on the Pi's CPU
MAX_WIDTH = 960  # a larger picture is scaled down: the reader and the screen need no more


def is_device(source: str) -> bool:
    return source.startswith("/dev/")


def _open(source: str) -> Any:
    try:
        import av
    except ImportError:  # a build without PyAV (the Android tablet: docs/android.md)
        raise CameraUnavailable("this build of Heima reads no camera (PyAV is not installed)", NO_CAMERA) from None

    try:
        if is_device(source):
            try:
                return av.open(source, format="v4l2", options={"video_size": f"{WIDTH}x{HEIGHT}", "framerate": str(FPS)})
            except av.FFmpegError as exc:
                if isinstance(exc, (FileNotFoundError, PermissionError)):
                    raise
                return av.open(source, format="v4l2")  # a camera without that size: its own default
        return av.open(source)
    except FileNotFoundError:
        raise CameraUnavailable(f"no camera at {source}", NO_CAMERA) from None
    except PermissionError:
        raise CameraUnavailable(f"the camera at {source} may not be opened by this user (is it in the video group?)", CAMERA_FAILED) from None
    except (av.FFmpegError, OSError) as exc:
        raise CameraUnavailable(f"the camera at {source} cannot be opened ({type(exc).__name__})", CAMERA_FAILED) from None


def to_frame(picture: Any) -> Frame:
    """A PyAV VideoFrame as packed RGB (scaled down when wider than MAX_WIDTH)."""
    width, height = picture.width, picture.height
    if width > MAX_WIDTH:
        width, height = MAX_WIDTH, max(2, round(height * MAX_WIDTH / width))
    rgb = picture.reformat(width=width, height=height, format="rgb24")
    plane = rgb.planes[0]
    row = width * 3
    data = memoryview(plane)
    if plane.line_size == row:
        packed = bytes(data[: row * height])
    else:  # FFmpeg pads rows for alignment
        packed = b"".join(data[y * plane.line_size : y * plane.line_size + row] for y in range(height))
    return Frame(width, height, packed)


def _pictures(container: Any, source: str) -> Iterator[Any]:
    import av

    device = is_device(source)
    stream = container.streams.video[0] if container.streams.video else None
    if stream is None:
        raise CameraUnavailable(f"{source} gives no pictures", CAMERA_FAILED)
    started, played, seen = time.monotonic(), 0.0, False
    while True:
        try:
            for picture in container.decode(stream):
                seen = True
                if not device and picture.time is not None:
                    # A file at its own pace, as a camera would give it (a pause, never a decision).
                    due = started + played + picture.time - time.monotonic()
                    if due > 0:
                        time.sleep(min(due, 0.5))
                yield picture
        except (av.FFmpegError, OSError) as exc:
            raise CameraUnavailable(f"the camera at {source} stopped giving pictures ({type(exc).__name__})", CAMERA_LOST) from None
        if device or not seen:
            raise CameraUnavailable(f"the camera at {source} stopped giving pictures", CAMERA_LOST if seen else CAMERA_FAILED)
        played = time.monotonic() - started  # a file ended: again from its start
        container.seek(0)


@contextmanager
def frames(source: str) -> Iterator[Iterator[Frame]]:
    """Pictures from `source` while the block runs; the camera is closed when it ends.
    CameraUnavailable when there is none (or it stops)."""
    container = _open(source)
    log.info("camera opened: %s", source)
    pictures = (to_frame(p) for p in _pictures(container, source))
    try:
        yield pictures
    finally:
        pictures.close()  # no decoding after the close
        container.close()
        log.info("camera closed: %s", source)


__all__ = ["DEFAULT_CAMERA", "frames", "is_device", "to_frame"]
