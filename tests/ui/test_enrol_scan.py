"""Enrolment by the hub's camera, on the first-boot screen (real Kivy, offscreen): the camera is a
real video file read through PyAV (no camera exists here; on the Pi a V4L2 device), holding a few
blank frames and then the QR code of a real signed profile drawn by zxing-cpp's writer.

"Scan the QR code" shows the camera's picture; the profile's code goes on as a hand scanner's
text does (the new PIN, then signature, expiry, this hub); the configuration is written 0600.
A code that is not a profile is said in words and nothing is enrolled; no camera is said in
words; the camera is closed once the scan view is left."""

from __future__ import annotations

import stat
from pathlib import Path

from hub.app.first_boot import run_first_boot
from hub.config import load_config
from hub.services.enrolment import encode_qr
from tests.ui.conftest import find, tap, texts, wait_for
from tests.ui.test_first_boot import run_until
from tests.ui.test_technician_screens import type_pin
from tests.unit.technician.profiles import HUB_ID, NOW, centre_key, payload, signed, write_trusted
from tests.unit.technician.qr_video import code_video, opened_by_us
from ui.scenes import next_frame
from ui.speech import RecordingSpeaker


def new_hub(tmp_path: Path):
    """A hub as the package leaves it (the centre's key and the hub's id in /etc/heima, nothing
    else), and the centre's signing key for the profile the technician holds up."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o700)
    key = centre_key()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID)
    (tmp_path / "media").mkdir()  # no USB stick
    return etc / "heima.toml", tmp_path / "data", key


def first_boot(config: Path, data: Path, tmp_path: Path, camera: Path):
    def run(ready):
        return run_first_boot(config, data, profile_folders=(tmp_path / "media",), speaker=RecordingSpeaker(), ready=ready, clock=lambda: NOW, camera=str(camera))

    return run


async def open_scan(app, *, stays: bool = True) -> None:
    await wait_for(lambda: app.root.current == "enrol")
    await tap(find(app.root, action="enrol-start"))
    await tap(find(app.root, action="enrol-scan-qr"))
    if stays:  # (a profile's code may be found before the test looks)
        await wait_for(lambda: app.root.current == "enrol-scan")


async def test_a_technician_enrols_the_hub_by_holding_the_profiles_qr_code_to_the_camera(tmp_path):
    config, data, key = new_hub(tmp_path)
    camera = code_video(tmp_path / "video0.avi", encode_qr(signed(payload(tmp_path / "inbox"), key)))
    seen: dict = {}

    async def enrol(app, hub) -> None:
        await open_scan(app, stays=False)
        await wait_for(lambda: app.root.current == "enrol" and app.technician.enrol_step == "pin", timeout=30)
        seen["scanned"] = "enrol-scan" in app.actions and app.enrol_scan.headline == "Hold koden foran kameraet"
        seen["camera_closed"] = not opened_by_us(camera)
        await type_pin(app, "739154", "enrol-pin-ok")
        await type_pin(app, "739154", "enrol-pin-ok")
        await wait_for(lambda: app.technician.enrol_step == "done", timeout=30)
        await next_frame(3)
        assert f"Boksen er klar: {HUB_ID}" in texts(app.root), texts(app.root)
        await tap(find(app.root, action="enrol-finished"))

    assert await run_until(first_boot(config, data, tmp_path, camera), enrol) == 0
    assert seen == {"scanned": True, "camera_closed": True}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    enrolled = load_config(config)
    assert enrolled.serial == HUB_ID and enrolled.data_dir == data


async def test_the_camera_picture_is_drawn_on_the_scan_view(tmp_path):
    config, data, _key = new_hub(tmp_path)
    camera = code_video(tmp_path / "video0.avi", "https://www.helsenorge.no/", blank=2, coded=8)
    drawn: dict = {}

    async def look(app, hub) -> None:
        await open_scan(app)
        view = app.root.get_screen("enrol-scan").ids.camera
        await wait_for(lambda: view.texture is not None, timeout=30)
        drawn["size"] = tuple(view.texture.size)
        app.stop()

    await run_until(first_boot(config, data, tmp_path, camera), look)
    assert drawn["size"] == (640, 480)


async def test_a_code_that_is_not_a_profile_is_said_in_words_and_nothing_is_enrolled(tmp_path):
    config, data, _key = new_hub(tmp_path)
    camera = code_video(tmp_path / "video0.avi", "https://www.helsenorge.no/")
    seen: dict = {}

    async def scan(app, hub) -> None:
        await open_scan(app)
        words = "Denne QR-koden er ikke en Heima-profil."
        await wait_for(lambda: words in texts(app.root), timeout=30)
        seen["still scanning"] = app.root.current == "enrol-scan" and app.enrol_scan.step == "scanning"
        await tap(find(app.root, action="enrol-scan-cancel"))
        await wait_for(lambda: app.root.current == "enrol")
        await wait_for(lambda: not opened_by_us(camera), timeout=10)  # closed at the next picture
        seen["step"] = app.technician.enrol_step
        app.stop()

    await run_until(first_boot(config, data, tmp_path, camera), scan)
    assert seen == {"still scanning": True, "step": "choose"}
    assert not config.exists()
    assert not (data / "secrets").exists()


async def test_no_camera_is_said_in_words(tmp_path):
    config, data, _key = new_hub(tmp_path)
    seen: dict = {}

    async def scan(app, hub) -> None:
        await open_scan(app)
        await wait_for(lambda: app.enrol_scan.step == "unavailable", timeout=30)
        await next_frame(3)
        seen["words"] = texts(app.root)
        find(app.root, action="enrol-scan-again")  # "Try again" once a camera is connected
        app.stop()

    await run_until(first_boot(config, data, tmp_path, tmp_path / "no-video0"), scan)
    assert "Fant ikke noe kamera" in seen["words"]
    assert "Koble til kameraet og prøv igjen, eller bruk minnepinnen eller håndskanneren." in seen["words"]
    assert not config.exists()
