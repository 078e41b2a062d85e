"""QR codes as a camera would see them, made with real parts: zxing-cpp's own writer draws the
code, PyAV encodes pictures into a short video file (what hub.platform.camera reads in place of a
V4L2 device: no camera exists on this machine)."""

from __future__ import annotations

from pathlib import Path

import av
import zxingcpp
from PIL import Image

from hub.domain.camera import Frame

WIDTH, HEIGHT = 640, 480
BLANK = (190, 190, 185)  # a grey wall behind the technician's hand


def code_image(text: str, *, scale: int = 3) -> Image.Image:
    """The QR code of `text` as zxing-cpp writes it (quiet zone included), grey."""
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    return Image.fromarray(code.to_image(scale=scale))


def picture(*texts: str, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A camera's picture: grey, with the codes of `texts` side by side (none: a blank wall)."""
    canvas = Image.new("RGB", (width, height), BLANK)
    if texts:
        side = min(height - 20, (width - 10 * (len(texts) + 1)) // len(texts))
        for n, text in enumerate(texts):
            code = code_image(text).resize((side, side), Image.Resampling.NEAREST).convert("RGB")
            canvas.paste(code, (10 + n * (side + 10), (height - side) // 2))
    return canvas


def frame_of(image: Image.Image) -> Frame:
    rgb = image.convert("RGB")
    return Frame(rgb.width, rgb.height, rgb.tobytes())


def write_video(path: Path, pictures: list[Image.Image], *, fps: int = 15) -> Path:
    """`pictures` as an MJPEG video (as a USB camera sends them), one frame each."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height = pictures[0].width, pictures[0].height
        stream.pix_fmt = "yuvj420p"
        for image in pictures:
            frame = av.VideoFrame.from_image(image.convert("RGB")).reformat(format="yuvj420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def code_video(path: Path, *texts: str, blank: int = 4, coded: int = 6) -> Path:
    """A few blank frames, then the code(s) held up."""
    return write_video(path, [picture()] * blank + [picture(*texts)] * coded)


def opened_by_us(path: Path) -> bool:
    """Whether this process holds `path` open (the camera left open)."""
    target = str(path.resolve())
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if fd.readlink().as_posix() == target:
                return True
        except OSError:
            continue
    return False
