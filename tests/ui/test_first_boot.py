"""First boot on the packaged hub: the kiosk's command (`heima --config FILE run`) with no
configuration shows the enrolment screen (real Kivy, offscreen), tells systemd it is ready and
feeds the watchdog there; a technician enrols from a signed profile on a USB stick by taps; the
configuration is written 0600, the app ends cleanly, and the next start (what the kiosk's service
does) opens the patient's app with the enrolled configuration."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from hub.app.first_boot import NoDevices, run_first_boot
from hub.config import load_config
from tests.packaging.test_sd_notify import INTERVAL, NotifySocket
from tests.ui.conftest import find, tap, texts, wait_for
from tests.ui.test_technician_screens import type_pin
from tests.unit.technician.profiles import HUB_ID, NOW, centre_key, payload, signed, write_trusted
from ui.scenes import next_frame, settle
from ui.speech import RecordingSpeaker

ROOT = Path(__file__).resolve().parents[2]


def new_hub(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A hub as the package leaves it: the centre's pinned key and the hub's id in /etc/heima,
    no configuration, an empty data folder; a USB stick with the patient's signed profile."""
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o700)
    key = centre_key()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID)
    stick = tmp_path / "media" / "tone" / "HEIMA-USB"
    stick.mkdir(parents=True)
    (stick / "kari.json").write_bytes(signed(payload(tmp_path / "inbox"), key))
    return etc / "heima.toml", tmp_path / "data", tmp_path / "media"


async def run_until(app_run, work, timeout: float = 90):
    """`app_run(ready)`, with `work(app, hub)` started once the app is built; `work`'s failure is
    raised after the app has stopped."""
    outcome: dict = {}

    async def guarded(app, hub) -> None:
        try:
            async with asyncio.timeout(timeout - 10):
                await settle(app)
                await work(app, hub)
        except BaseException as exc:  # noqa: BLE001  (reported once the app has stopped)
            outcome["error"] = exc
            app.stop()

    status = await asyncio.wait_for(app_run(lambda app, hub: asyncio.ensure_future(guarded(app, hub))), timeout)
    if "error" in outcome:
        raise outcome["error"]
    return status


async def test_a_hub_with_no_configuration_shows_enrolment_and_once_enrolled_starts_into_the_patients_app(tmp_path):
    config, data, media = new_hub(tmp_path)

    async def enrol(app, hub) -> None:
        await wait_for(lambda: app.root.current == "enrol")
        assert "Ikke klargjort — be teknikeren om å klargjøre boksen" in texts(app.root)
        await tap(find(app.root, action="enrol-start"))
        await tap(find(app.root, action="enrol-profile-0"))
        await type_pin(app, "739154", "enrol-pin-ok")
        await type_pin(app, "739154", "enrol-pin-ok")
        await wait_for(lambda: app.technician.enrol_step == "done", timeout=30)
        await next_frame(3)
        assert f"Boksen er klar: {HUB_ID}" in texts(app.root), texts(app.root)
        await tap(find(app.root, action="enrol-finished"))  # the app ends; the service starts it again

    def first(ready):
        return run_first_boot(config, data, profile_folders=(media,), speaker=RecordingSpeaker(), ready=ready, clock=lambda: NOW)

    assert await run_until(first, enrol) == 0  # a clean end: systemd's Restart=always starts it again
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    enrolled = load_config(config)
    assert enrolled.serial == HUB_ID and enrolled.data_dir == data

    # The next start, as the kiosk's `heima --config … run` makes it: the patient's app.
    from hub.app import run_app

    seen: dict = {}

    async def patient(app, hub) -> None:
        await wait_for(lambda: app.root.current == "today")
        await next_frame(3)
        seen["screen"], seen["serial"] = app.root.current, hub.config.serial
        seen["pin_set"] = app.api.technician.guard.is_set  # technician mode is there, behind the PIN chosen
        app.stop()

    def second(ready):
        return run_app(enrolled, link=NoDevices(), config_path=config, speaker=RecordingSpeaker(), ready=ready)

    assert await run_until(second, patient) == 0
    assert seen == {"screen": "today", "serial": HUB_ID, "pin_set": True}


def test_heima_run_without_a_configuration_is_ready_on_the_enrolment_screen_and_feeds_the_watchdog(tmp_path):
    """The kiosk's own command line in a process of its own, under a service manager's socket:
    no "no configuration" error, READY=1, pings, and a clean stop on SIGINT (the unit's KillSignal)."""
    config, data, _media = new_hub(tmp_path)
    sock = NotifySocket()
    env = {**os.environ, **sock.env(), "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_CONSOLELOG": "1"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("heima")), "--config", str(config), "run", "--data-dir", str(data)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        try:
            sock.wait_for("READY=1", timeout=60)
        except TimeoutError:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"no READY=1 within 60 s (exit {proc.returncode}):\n{out[-1500:]}\n{err[-3000:]}") from None
        sock.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)
        sock.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, err[-2000:]
    assert "not enrolled" in out and "showing the enrolment screen" in out
    assert not config.exists()
    assert not (data / "heima.db").exists()  # nothing of a patient's is made before enrolment
