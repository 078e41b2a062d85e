"""Technician mode's screens, wired: the desk (hub.services.technician_desk) given this hub's
store, bonds, link, delivery and the return's walk (the same pieces `heima return` uses).

Delivering and returning from the screen stop the patient's side of the hub first: the
delivery and the wipe need the data folder to themselves (its owner lock), exactly as
`heima return` does beside a stopped hub. The screen says so before the technician confirms.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.config import HubConfig, parse_config
from hub.domain import refusals
from hub.platform.camera import DEFAULT_CAMERA
from hub.platform.camera import frames as camera_frames
from hub.services.returning import Exported, ReturnPlan, ReturnRefused, Unsent, return_hub, wipe_targets
from hub.services.technician_desk import TechnicianDesk

DEFAULT_CONFIG = Path("/etc/heima/heima.toml")


def check_config(config: dict[str, Any], base_dir: Path) -> None:
    parse_config(config, base_dir=base_dir)  # strict: the hub must be able to start with it


def desk(
    config_path: Path,
    data_dir: Path,
    *,
    ports: Any = None,
    profile_folders: tuple[Path, ...] = (Path("/media"),),
    hub_id: str | None = None,
    clock: Callable[[], Any] | None = None,
    camera: str | None = DEFAULT_CAMERA,
) -> TechnicianDesk:
    """The desk for a hub whose configuration is (or will be) `config_path`; the centre's keys
    are pinned beside it (enrolment-keys.json), the hub's id in hub-id (as for `heima enrol`).
    `camera`: what the enrolment screen reads a QR code from (a V4L2 device, or a video file);
    None: no camera."""
    options: dict[str, Any] = {} if clock is None else {"clock": clock}
    if camera is not None:
        options["open_camera"] = functools.partial(camera_frames, camera)
    return TechnicianDesk(
        data_dir=data_dir.absolute(),
        config_path=config_path.absolute(),
        trusted_keys=config_path.parent / "enrolment-keys.json",
        hub_id=hub_id,
        profile_folders=profile_folders,
        check_config=check_config,
        ports=ports,
        **options,
    )


def attach(hub: Any, config_path: Path, **options: Any) -> TechnicianDesk:
    """Give a running hub's api its technician desk (run_app, tests)."""
    video = hub.config.video
    if video is not None and video.camera and "camera" not in options:
        options["camera"] = video.camera  # the call's camera reads the QR code too
    made = desk(config_path, hub.config.data_dir, ports=HubPorts(hub, config_path), **options)
    hub.api.technician = made
    return made


def _on_hub_folders(config: HubConfig) -> dict[str, Path]:
    from hub.services.returning import count_files

    data_dir = config.data_dir.absolute()
    on_hub: dict[str, Path] = {}
    for dest in config.effective_destinations():
        if dest.kind == "directory" and dest.path is not None and dest.path.absolute().is_relative_to(data_dir):
            on_hub[dest.name] = dest.path.absolute()
    bundles = data_dir / "bundles"
    if bundles not in on_hub.values() and count_files(bundles):
        on_hub["local-folder"] = bundles
    return on_hub


class HubPorts:
    """The desk's ports on a running hub."""

    def __init__(self, hub: Any, config_path: Path) -> None:
        self.hub = hub
        self.config: HubConfig = dataclasses.replace(hub.config, data_dir=hub.config.data_dir.absolute())
        self.config_path = config_path.absolute()
        self.stopped = False

    async def measurements(self) -> list[Any]:
        if self.stopped:
            return []
        return await self.hub.store.measurements(limit=100_000)

    def bonded(self) -> list[str]:
        from hub.app.technician import bonded_addresses

        return bonded_addresses(self.config.data_dir / "bonds.json")

    def _cli_ports(self) -> Any:
        from hub.app.technician import _Ports

        return _Ports(self.config, _on_hub_folders(self.config))

    async def unsent(self) -> Unsent:
        return await self._cli_ports().unsent()

    async def _stop_hub(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.hub.stop()

    async def deliver(self) -> dict[str, int]:
        await self._stop_hub()
        return await self._cli_ports().deliver()

    async def finish_return(self, export_dir: Path | None, confirmed: bool, audit: Callable[..., Any]) -> dict[str, Any]:
        import json

        from hub.app.technician import _folder_lock
        from hub.store.keys import key_path

        if export_dir is not None and not export_dir.parent.is_dir():
            raise ReturnRefused(f"the folder above {export_dir} does not exist (is the USB stick mounted?)", refusals.NO_STICK)
        await self._stop_hub()
        data_dir = self.config.data_dir
        on_hub = _on_hub_folders(self.config)
        try:
            enrolment = json.loads((data_dir / "enrolment.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            enrolment = {}
        plan = ReturnPlan(
            data_dir=data_dir,
            config_path=self.config_path,
            targets=wipe_targets(data_dir, self.config_path, list(on_hub.values())),
            on_hub_folders=on_hub,
            export_dir=export_dir,
            confirmed=confirmed,
            hub_id=enrolment.get("hub_id") or self.config.serial,
            profile_id=enrolment.get("profile_id"),
            store_key=key_path(self.config.database_path),
        )
        result = await return_hub(
            plan, self._cli_ports(), say=lambda _text: None, audit=audit, exclusive=lambda: _folder_lock(data_dir)
        )
        return result.record

    async def test_measurement(self, timeout: float) -> int:
        from hub.domain.readings import Reading
        from hub.services.technician import as_test

        link = self.hub.link
        if link is None or self.stopped:
            return 0
        taken = 0

        async def sink(reading: Any) -> None:
            nonlocal taken
            if isinstance(reading, Reading):  # a stream's points are not needed to check a device
                outcome = await self.hub.service.record_reading(as_test(reading))
                taken += outcome.measurement is not None

        try:
            await link.read_once(sink, timeout=timeout)
        except TimeoutError:
            return 0
        return taken

    async def scan(self, seconds: float, until: Any = None) -> Any:
        return await link_scan(None if self.stopped else self.hub.link, seconds, until)

    async def pair(self, address: str, timeout: float) -> None:
        await link_pair(None if self.stopped else self.hub.link, address, timeout)

    async def unpair(self, address: str) -> bool:
        return await link_unpair(None if self.stopped else self.hub.link, address, self.config.data_dir / "bonds.json")


async def link_scan(link: Any, seconds: float, until: Any = None) -> Any:
    """The link's bounded scan (drivers.link.LinkManager.scan); nothing heard without a link."""
    from hub.domain.nearby import ScanReport

    return ScanReport() if link is None else await link.scan(seconds, enough=until)


async def link_pair(link: Any, address: str, timeout: float) -> None:
    """Pair through the link; its failure in the technician's words (PairingRefused)."""
    from drivers.link import PairingFailed
    from hub.services.technician_pairing import PairingRefused

    if link is None:
        raise PairingRefused("This hub has no Bluetooth link running. Restart the hub and try again.", refusals.PAIR_NO_LINK)
    try:
        await link.pair(address, timeout=timeout)
    except PairingFailed as failed:
        raise PairingRefused(failed.advice, failed.reason) from None


async def link_unpair(link: Any, address: str, bonds: Path) -> bool:
    """Remove the bond from the Bluetooth stack (BlueZ, the emulator's keystore) and from the
    hub's bonds file; True when either held one."""
    from drivers.bonds import forget_bond

    removed = False
    if link is not None:
        removed = await link.unpair(address)
    return forget_bond(bonds, address) or removed


class ExamplePorts:
    """The gallery's technician ports: the example hub's devices, and a return whose counts are
    the examples' (nothing is delivered or wiped)."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    async def measurements(self) -> list[Any]:
        return await self.hub.store.measurements(limit=100_000)

    def bonded(self) -> list[str]:
        return ["F0:11:22:33:44:01", "F0:11:22:33:44:02"]

    async def unsent(self) -> Unsent:
        return Unsent({"sykehuset": {"measurement": 12, "questionnaire-response": 1}, "kommunen": {"measurement": 3}})

    async def deliver(self) -> dict[str, int]:
        return {"sykehuset": 0, "kommunen": 0}

    async def finish_return(self, export_dir: Path | None, confirmed: bool, audit: Callable[..., Any]) -> dict[str, Any]:
        if export_dir is None or not confirmed:
            raise ReturnRefused("Not everything is sent; the hub is NOT wiped: sykehuset: 12 measurement(s) not delivered")
        return {"measurements_stored": 214, "delivered_now": {"sykehuset": 0, "kommunen": 0},
                "exported": {"sykehuset": 13, "kommunen": 3}, "wiped": ["heima.db", "secrets", "bonds.json", "heima.toml"]}  # fmt: skip

    async def test_measurement(self, timeout: float) -> int:
        return 0

    async def scan(self, seconds: float, until: Any = None) -> Any:
        from hub.domain.nearby import NearbyDevice, ScanReport

        return ScanReport(tuple(NearbyDevice(*d) for d in EXAMPLE_NEARBY), unsupported=2)

    async def pair(self, address: str, timeout: float) -> None:
        return None

    async def unpair(self, address: str) -> bool:
        return True

    async def export(self, to: Path, destination: str) -> Exported:  # pragma: no cover - not reached
        return Exported({}, 0)


# The gallery's scan: (address, advertised name, driver, family, RSSI dBm)
EXAMPLE_NEARBY = (
    ("F0:11:22:33:44:01", "Heima PLX 1", "plx-standard", "pulse-oximeter", -48),
    ("F0:11:22:33:44:05", "A&D_UA-651_5B0A12", "and-ua-651ble", "blood-pressure", -67),
    ("F0:11:22:33:44:02", "Heima Scale", "scale-standard", "weight", -83),
)


def attach_example(hub: Any, folder: Path, *, pin: str = "258046") -> TechnicianDesk:
    """The example hub's desk (gallery, audit): a PIN set, a USB stick with two profiles."""
    stick = folder / "media" / "tekniker" / "HEIMA-USB"
    stick.mkdir(parents=True, exist_ok=True)
    for name in ("pasient-0412.json", "pasient-0413.json"):
        (stick / name).write_text("{}", encoding="utf-8")
    config = folder / "etc" / "heima.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("# the example hub counts as enrolled: its screens start on Today\n", encoding="utf-8")
    made = desk(config, hub.config.data_dir, ports=ExamplePorts(hub),
                profile_folders=(folder / "media",), hub_id="HEIMA-GALLERY", clock=hub.api.clock, camera=None)  # fmt: skip
    if not made.guard.is_set:
        made.guard.set_pin(pin, who="gallery")
    hub.api.technician = made
    return made


__all__ = ["DEFAULT_CONFIG", "ExamplePorts", "HubPorts", "attach", "attach_example", "check_config", "desk"]
