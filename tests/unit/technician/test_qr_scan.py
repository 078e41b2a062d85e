"""Reading the enrolment profile's QR code from the camera's pictures: the pure reader on
pictures zxing-cpp's own writer drew, and the scan over a real video file through PyAV (the
camera adapter; a V4L2 device on the Pi). A Heima code is found after blank frames; a code that
is something else is noted and the scan goes on; no camera is said as such; the camera is closed
whenever the scan ends."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.camera import CAMERA_FAILED, NO_CAMERA
from hub.domain.refusals import OTHER_HUB
from hub.platform.camera import frames
from hub.services.enrolment import QR_PREFIX, decode_qr, encode_qr
from hub.services.qr_scan import DAMAGED_CODE, FOUND, OTHER_CODE, STOPPED, UNAVAILABLE, ScanView, profile_text, qr_texts, scan_for_profile
from hub.services.technician_desk import TechnicianDesk

from .profiles import HUB_ID, NOW, PIN, centre_key, payload, signed, write_trusted
from .qr_video import code_video, frame_of, opened_by_us, picture

OTHER = "https://www.helsenorge.no/"


@pytest.fixture(scope="module")
def profile_text_signed(tmp_path_factory) -> str:
    return encode_qr(signed(payload(tmp_path_factory.mktemp("inbox")), centre_key()))


# -- the pure reader -------------------------------------------------------------------------------


def test_the_reader_finds_a_profiles_code_in_a_picture_drawn_by_zxings_writer(profile_text_signed):
    texts = qr_texts(frame_of(picture(profile_text_signed)))
    assert texts == [profile_text_signed]
    assert decode_qr(texts[0])  # the signed envelope comes out whole


def test_a_blank_picture_holds_no_code():
    assert qr_texts(frame_of(picture())) == []


def test_of_two_codes_in_one_picture_the_profiles_is_taken(profile_text_signed):
    texts = qr_texts(frame_of(picture(OTHER, profile_text_signed)))
    assert sorted(texts) == sorted([OTHER, profile_text_signed])
    assert profile_text(texts) == (profile_text_signed, None)


def test_a_code_that_is_not_a_profile_is_named_as_such():
    assert profile_text(qr_texts(frame_of(picture(OTHER)))) == (None, OTHER_CODE)
    assert profile_text([]) == (None, None)


def test_a_heima_code_cut_short_is_damaged_not_taken(profile_text_signed):
    cut = profile_text_signed[: len(profile_text_signed) // 2]
    assert profile_text(qr_texts(frame_of(picture(cut)))) == (None, DAMAGED_CODE)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_no_text_a_code_can_carry_breaks_the_scan_only_a_whole_profile_is_taken(text):
    found, seen = profile_text([text])
    if found is not None:
        assert found.startswith(QR_PREFIX) and decode_qr(found)
    else:
        assert seen == (DAMAGED_CODE if text.strip().startswith(QR_PREFIX) else OTHER_CODE)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_damaged_bytes_after_the_prefix_are_damaged_or_a_profile_never_a_crash(data):
    import base64

    text = QR_PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("=")
    found, seen = profile_text([text])
    assert (found, seen) in ((text, None), (None, DAMAGED_CODE))


# -- the scan through PyAV over a real video ------------------------------------------------------


def test_the_scan_finds_the_profile_after_blank_frames_and_closes_the_camera(tmp_path, profile_text_signed):
    video = code_video(tmp_path / "camera.avi", profile_text_signed)
    view = ScanView()
    end = scan_for_profile(functools.partial(frames, str(video)), view)
    assert (end.how, end.text) == (FOUND, profile_text_signed)
    assert view.pictures > 4  # the blank frames were looked at first, each shown
    assert view.frame is not None and (view.frame.width, view.frame.height) == (640, 480)
    assert not opened_by_us(video)


class CancelledOnceScannedOn(ScanView):
    """The technician taps Cancel once the scan has gone on 12 pictures past the first foreign
    code (past the end of the 10-picture file). Decided by what the scan has seen, so the test
    waits on no clock; 400 pictures without a code cancel too, and the asserts say so."""

    def __init__(self) -> None:
        self.seen_at: int | None = None
        super().__init__()

    @property
    def pictures(self) -> int:
        return self._pictures

    @pictures.setter
    def pictures(self, count: int) -> None:
        self._pictures = count
        if getattr(self, "seen", None) == OTHER_CODE and self.seen_at is None:
            self.seen_at = count
        if (self.seen_at is not None and count > self.seen_at + 12) or count > 400:
            self.stop.set()


def test_a_code_that_is_not_a_profile_is_shown_and_the_scan_goes_on_until_cancelled(tmp_path):
    video = code_video(tmp_path / "camera.avi", OTHER)
    view = CancelledOnceScannedOn()
    end = scan_for_profile(functools.partial(frames, str(video)), view)
    assert view.seen == OTHER_CODE and view.seen_at is not None
    assert view.pictures > 10  # the 10-frame file played again: a camera does not end
    assert end.how == STOPPED
    assert not opened_by_us(video)


def test_no_camera_is_said_as_such(tmp_path):
    end = scan_for_profile(functools.partial(frames, str(tmp_path / "video0")), ScanView())
    assert (end.how, end.reason) == (UNAVAILABLE, NO_CAMERA)
    assert scan_for_profile(functools.partial(frames, "/dev/heima-no-such-video"), ScanView()).reason == NO_CAMERA


def test_something_that_is_not_a_camera_is_said_as_such(tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    end = scan_for_profile(functools.partial(frames, str(tmp_path / "notes.txt")), ScanView())
    assert (end.how, end.reason) == (UNAVAILABLE, CAMERA_FAILED)


# -- the desk: what the camera read goes the typed text's way ----------------------------------------


def _desk(tmp_path: Path, camera: Path | None) -> tuple[TechnicianDesk, Path]:
    etc = tmp_path / "etc"
    etc.mkdir()
    return TechnicianDesk(
        data_dir=tmp_path / "data", config_path=etc / "heima.toml", trusted_keys=etc / "enrolment-keys.json",
        hub_id=HUB_ID, open_camera=functools.partial(frames, str(camera)) if camera else None, clock=lambda: NOW,
    ), etc  # fmt: skip


async def test_a_profile_for_another_hub_read_by_the_camera_is_refused_like_a_typed_one(tmp_path):
    key = centre_key()
    desk, etc = _desk(tmp_path, tmp_path / "camera.avi")
    write_trusted(etc / "enrolment-keys.json", key)
    code_video(tmp_path / "camera.avi", encode_qr(signed(payload(tmp_path / "inbox", hub_id="HEIMA-0099"), key)))
    end = await desk.scan_qr(ScanView())
    assert end.how == FOUND
    outcome = await desk.enrol_text(end.text, PIN)
    assert not outcome.ok and outcome.why == OTHER_HUB
    assert not (etc / "heima.toml").exists()
    audit = (tmp_path / "data").rglob("*audit*")
    assert any('"enrol-scan"' in p.read_text() for p in audit if p.is_file())


async def test_a_desk_without_a_camera_says_no_camera(tmp_path):
    desk, _etc = _desk(tmp_path, None)
    end = await desk.scan_qr(ScanView())
    assert (end.how, end.reason) == (UNAVAILABLE, NO_CAMERA)


async def test_a_cancelled_scan_closes_the_camera(tmp_path):
    desk, _etc = _desk(tmp_path, code_video(tmp_path / "camera.avi", OTHER))
    view = ScanView()
    task = asyncio.ensure_future(desk.scan_qr(view))
    for _ in range(200):
        if view.seen == OTHER_CODE:
            break
        await asyncio.sleep(0.05)
    task.cancel()  # the app stopping: the task is cancelled, the thread told to stop
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the thread ends at its next picture
        if not opened_by_us(tmp_path / "camera.avi"):
            break
        await asyncio.sleep(0.05)
    assert view.stop.is_set() and not opened_by_us(tmp_path / "camera.avi")
