"""First boot on the packaged hub: the kiosk started with no configuration shows the enrolment
screen instead of nothing.

No hub runs for a patient yet. A placeholder hub (an empty store in a temporary folder, no
Bluetooth, nothing to deliver) gives the touch app something to stand on, and READY=1 and the
watchdog's pings come from its loop as on every start; the technician desk enrols into the real
places: the configuration file and the real data folder (which the placeholder never touches, so
enrolment does not find "another patient's data" there).

Once enrolled, the app ends cleanly and the kiosk's unit (Restart=always) starts `heima run`
again, which now finds the configuration and opens the patient's app: the same start as every
boot, with nothing half-built carried over from the placeholder (its store, its window).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hub.config import HubConfig

NOT_ENROLLED_SERIAL = "NOT-ENROLLED"


class NoDevices:
    """The placeholder's link: no Bluetooth at all (nothing is measured before enrolment)."""

    registry: tuple[Any, ...] = ()

    def use_history(self, history: Any) -> None:
        pass

    async def read_once(self, sink: Any, *, timeout: float, prefer: Any = None) -> None:
        raise TimeoutError

    async def run(self, sink: Any) -> None:
        await asyncio.Event().wait()


def needs_enrolment(config_path: Path | None) -> bool:
    """The touch app is asked for with a configuration file that is not there (new or returned hub)."""
    return config_path is not None and not Path(config_path).exists()


async def run_first_boot(
    config_path: Path,
    data_dir: Path,
    *,
    profile_folders: tuple[Path, ...] = (Path("/media"),),
    speaker: Any = None,
    ready: Any = None,
    clock: Any = None,
    camera: str | None = None,
) -> int:
    """The touch app on the enrolment screen until the hub is enrolled (then it ends, 0).
    `camera`: where the QR code is read from (default: hub.platform.camera.DEFAULT_CAMERA)."""
    from hub.app.runners import run_app
    from hub.app.technician_desk import desk

    options = {} if camera is None else {"camera": camera}
    made = desk(Path(config_path), Path(data_dir), profile_folders=profile_folders, clock=clock, **options)
    with tempfile.TemporaryDirectory(prefix="heima-first-boot-") as tmp:
        placeholder = HubConfig(data_dir=Path(tmp) / "placeholder", serial=NOT_ENROLLED_SERIAL)
        return await run_app(placeholder, link=NoDevices(), desk=made, speaker=speaker, ready=ready)


__all__ = ["NOT_ENROLLED_SERIAL", "NoDevices", "needs_enrolment", "run_first_boot"]
