"""A call's media on aiortc: implements hub.services.video's `Media` port.

The hub answers the nurse's offer: its camera (or, with no camera, a moving test pattern) and
microphone (silence when there is none) go out; the nurse's picture comes in and the newest
decoded frame is kept for the screen, converted to RGB only when the screen asks. The ICE
servers are the centre's, from the configuration: an empty list means host candidates only,
never a public STUN server (aiortc's own default, which we always override).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

from hub.domain.video import Candidate, VideoFrame, VideoSettings

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 480, 30


def rtc_configuration(settings: VideoSettings) -> RTCConfiguration:
    """Only the configured servers (aiortc falls back to a public STUN server when given none)."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential) for s in settings.ice_servers]
    )


class TestPattern(VideoStreamTrack):
    """The hub's picture when it has no camera: bars that move, 640×480 at 30 fps (precomputed,
    so the pattern costs no CPU beyond the encoder's)."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, frames: int = FPS) -> None:
        super().__init__()
        self._frames = []
        for n in range(frames):
            row = bytearray()
            for x in range(width):
                red = ((x + n * width // frames) % width) * 255 // width
                row += bytes((red, 90, 255 - red))
            frame = av.VideoFrame(width, height, "rgb24")
            _fill(frame, bytes(row) * height)
            self._frames.append(frame.reformat(format="yuv420p"))
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self._frames[self._n % len(self._frames)]
        self._n += 1
        out = frame.reformat(format="yuv420p")  # a copy: the encoder must not see a shared frame change
        out.pts, out.time_base = pts, time_base
        return out


class _Tap(MediaStreamTrack):
    """Passes the hub's own frames on to the call and keeps the newest for the small preview."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._source = source
        self.latest: av.VideoFrame | None = None
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        frame = await self._source.recv()
        self.latest = frame
        self.count += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class _Muteable(MediaStreamTrack):
    """The microphone, or silence while muted (the track stays, so unmuting needs no renegotiation)."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._source = source
        self.muted = False

    async def recv(self) -> av.AudioFrame:
        frame = await self._source.recv()
        if self.muted:
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def _fill(frame: av.VideoFrame, rgb: bytes) -> None:
    plane, row = frame.planes[0], frame.width * 3
    if plane.line_size == row:
        plane.update(rgb)
    else:  # rows padded for alignment
        pad = bytes(plane.line_size - row)
        plane.update(b"".join(rgb[y * row : (y + 1) * row] + pad for y in range(frame.height)))


def _rgb(frame: av.VideoFrame | None, number: int) -> VideoFrame | None:
    """RGB bytes, top row first, without row padding (no numpy needed)."""
    if frame is None:
        return None
    plane = frame.reformat(format="rgb24").planes[0]
    row, data = frame.width * 3, bytes(plane)
    if plane.line_size != row:
        data = b"".join(data[y * plane.line_size : y * plane.line_size + row] for y in range(frame.height))
    return VideoFrame(frame.width, frame.height, data, number)


class AiortcSession:
    def __init__(
        self,
        settings: VideoSettings,
        *,
        connected: Callable[[], None],
        failed: Callable[[], None],
        data: Callable[[str], None],
        camera: Callable[[], MediaStreamTrack],
        microphone: Callable[[], MediaStreamTrack],
    ) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(settings))
        self.frames_received = 0
        self.first_frame_at: float | None = None  # time.monotonic() of the nurse's first decoded frame
        self._remote: av.VideoFrame | None = None
        self._video = _Tap(camera())
        self._audio = _Muteable(microphone())
        self._channel: Any = None
        self._readers: list[asyncio.Task[None]] = []
        self._sink = MediaBlackhole()  # the nurse's voice: played by the hub's speaker where it has one
        self._closed = False

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            state = self.pc.connectionState
            if state == "connected":
                connected()
            elif state == "failed" or (state == "closed" and not self._closed):
                failed()

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._readers.append(asyncio.ensure_future(self._read_video(track)))
            else:
                self._sink.addTrack(track)

        @self.pc.on("datachannel")
        def _datachannel(channel: Any) -> None:
            self._channel = channel

            @channel.on("message")
            def _message(message: str | bytes) -> None:
                if isinstance(message, bytes):
                    message = message.decode("utf-8", "replace")
                data(message)

    async def _read_video(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                self._remote = frame
                self.frames_received += 1

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.pc.addTrack(self._audio)
        self.pc.addTrack(self._video)
        await self._sink.start()
        await self.pc.setLocalDescription(await self.pc.createAnswer())  # gathers every candidate
        return self.pc.localDescription.sdp

    async def add_candidate(self, candidate: Candidate) -> None:
        if not candidate.candidate:
            return  # end of candidates: aiortc needs no word of it
        ice = candidate_from_sdp(candidate.candidate.removeprefix("a=").removeprefix("candidate:"))
        ice.sdpMid, ice.sdpMLineIndex = candidate.sdp_mid, candidate.sdp_mline_index
        await self.pc.addIceCandidate(ice)

    def set_muted(self, muted: bool) -> None:
        self._audio.muted = muted

    def send_data(self, text: str) -> bool:
        if self._channel is None or self._channel.readyState != "open":
            return False
        self._channel.send(text)
        return True

    def remote_frame(self) -> VideoFrame | None:
        return _rgb(self._remote, self.frames_received)

    def local_frame(self) -> VideoFrame | None:
        return _rgb(self._video.latest, self._video.count)

    @property
    def frames_sent(self) -> int:
        return self._video.count

    async def close(self) -> None:
        self._closed = True
        for task in self._readers:
            task.cancel()
        await self.pc.close()
        await self._sink.stop()
        self._video.stop()
        self._audio.stop()


class AiortcMedia:
    """The `Media` port: a new peer connection per call. `camera`: a V4L2 device path from the
    settings, else the test pattern; the microphone is ALSA's default when `microphone` is set,
    else silence (this is how the tests and a hub without a camera run)."""

    def __init__(self, settings: VideoSettings, *, microphone: str | None = None) -> None:
        self.settings = settings
        self.microphone = microphone
        self.sessions: list[AiortcSession] = []  # each call's session (tests, the bench)

    def _camera(self) -> MediaStreamTrack:
        if self.settings.camera is None:
            return TestPattern()
        player = MediaPlayer(self.settings.camera, format="v4l2", options={"video_size": f"{WIDTH}x{HEIGHT}", "framerate": str(FPS)})
        assert player.video is not None
        return player.video

    def _microphone(self) -> MediaStreamTrack:
        if self.microphone is None:
            return AudioStreamTrack()
        player = MediaPlayer(self.microphone, format="alsa")
        assert player.audio is not None
        return player.audio

    def __call__(self, *, connected: Callable[[], None], failed: Callable[[], None], data: Callable[[str], None]) -> AiortcSession:
        session = AiortcSession(
            self.settings, connected=connected, failed=failed, data=data, camera=self._camera, microphone=self._microphone
        )
        self.sessions.append(session)
        return session


__all__ = ["AiortcMedia", "AiortcSession", "TestPattern", "rtc_configuration", "WIDTH", "HEIGHT", "FPS"]
