"""Technician mode on the touch screen: what its screens ask of the hub, delegating to the
services the CLI uses (enrolment, the PIN guard and its audit log, the kit, the return).

The desk holds paths and the composition root's ports, never patient data: an enrolment's
outcome names the hub and the destinations; a refusal says why (the service's own words);
the return's counts are counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from hub.domain import refusals
from hub.domain.kit import KitEntry, kit_entries
from hub.domain.measurements import Measurement
from hub.domain.nearby import ScanReport, mark_known, norm_address, without_forgotten
from hub.domain.pin import LockoutPolicy, locked
from hub.domain.camera import NO_CAMERA
from hub.services.qr_scan import UNAVAILABLE, OpenCamera, ScanEnd, ScanView
from hub.services.returning import KIND_WORDS, ReturnRefused, Unsent
from hub.services.technician import LockedOut, NoPin, PinGuard, TechnicianError, TechnicianFiles, WrongPin, wall_clock
from hub.services.technician_pairing import ForgottenDevices, PairingRefused

WHO = "touch screen"  # the audit's "who": the screen has no names, the log also has the machine user
MAX_PROFILES = 50


@dataclass(frozen=True, slots=True)
class ProfileFile:
    """A *.json file on a USB stick that may be an enrolment profile."""

    name: str  # the file name, and the folder it is in (what the technician reads on the stick)
    path: Path


@dataclass(frozen=True, slots=True)
class EnrolOutcome:
    ok: bool
    reason: str = ""  # why it was refused (no patient data: the service's messages name none)
    why: str = ""  # the same as a code (hub.domain.refusals): the screen says it in the patient's language
    hub_id: str = ""
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnlockOutcome:
    ok: bool
    wait: timedelta = timedelta(0)  # locked out: how long until a PIN is looked at again
    no_pin: bool = False  # the hub has no technician PIN (configured by hand)

    @property
    def locked(self) -> bool:
        return self.wait > timedelta(0)


@dataclass(frozen=True, slots=True)
class PairOutcome:
    """A technician's pairing (or unpairing) of one device: done, or why not in words."""

    ok: bool
    address: str
    advice: str = ""  # what to do when it did not work, in English (the command line; no patient data)
    why: str = ""  # the same as a code (hub.domain.refusals): the screen says it in its language


@dataclass(frozen=True, slots=True)
class ReturnDone:
    """The wipe record's counts (hub.services.returning): what was stored, delivered, exported."""

    measurements_stored: int
    delivered_now: dict[str, int]
    exported: dict[str, int]
    wiped: tuple[str, ...]
    record: dict[str, Any] = field(default_factory=dict)


class DeskPorts(Protocol):
    """What the composition root gives the desk (hub.app.technician_desk)."""

    async def measurements(self) -> list[Measurement]:
        """Every stored measurement (the kit list reads device information from them)."""

    def bonded(self) -> list[str]:
        """The addresses the hub holds Bluetooth bonds for."""

    async def unsent(self) -> Unsent: ...

    async def deliver(self) -> dict[str, int]:
        """Deliver what is due now, {destination: delivered}."""

    async def finish_return(self, export_dir: Path | None, confirmed: bool, audit: Callable[..., Any]) -> dict[str, Any]:
        """heima return's walk (deliver, export, wipe): the wipe record; ReturnRefused when not."""

    async def test_measurement(self, timeout: float) -> int:
        """A test measurement (marked, never sent): how many readings were stored."""

    async def scan(self, seconds: float, until: Callable[[ScanReport], bool] | None = None) -> ScanReport:
        """The supported devices heard within `seconds` (or until `until(report)`), strongest
        first (known not decided yet)."""

    async def pair(self, address: str, timeout: float) -> None:
        """Bond with the device (passkey / consent code through the pairing dialog); PairingRefused when not."""

    async def unpair(self, address: str) -> bool:
        """Remove the bond from the Bluetooth stack and bonds.json; False when there was none."""


class TechnicianDesk:
    def __init__(
        self,
        *,
        data_dir: Path,
        config_path: Path,
        trusted_keys: Path,
        hub_id: str | None = None,
        profile_folders: Sequence[Path] = (Path("/media"),),
        check_config: Callable[[dict[str, Any], Path], None] | None = None,
        ports: DeskPorts | None = None,
        open_camera: OpenCamera | None = None,
        clock: Callable[[], datetime] = wall_clock,
        policy: LockoutPolicy | None = None,
        who: str = WHO,
    ) -> None:
        self.who = who  # the audit's "who": the touch screen, or the name given at the command line
        self.data_dir = data_dir
        self.config_path = config_path
        self.trusted_keys = trusted_keys
        self._hub_id = hub_id
        self.profile_folders = tuple(profile_folders)
        self._check = check_config
        self.ports = ports
        self.open_camera = open_camera  # the camera for reading a QR code (hub/platform/camera.py); None: none
        self.clock = clock
        self.guard = PinGuard(TechnicianFiles(data_dir), clock=clock, policy=policy)
        self.forgotten = ForgottenDevices(TechnicianFiles(data_dir).folder, clock)

    # -- enrolment -------------------------------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        """A configuration file exists (a returned or new hub has none: it shows enrolment)."""
        return self.config_path.exists()

    def profiles(self) -> list[ProfileFile]:
        """The *.json files on the mounted USB sticks (and the configured folder), two levels
        down at most (/media/<user>/<stick>/file.json)."""
        found: list[ProfileFile] = []
        for folder in self.profile_folders:
            for pattern in ("*.json", "*/*.json", "*/*/*.json"):
                try:
                    paths = sorted(folder.glob(pattern))
                except OSError:
                    continue
                for path in paths:
                    if path.is_file() and len(found) < MAX_PROFILES:
                        found.append(ProfileFile(f"{path.parent.name}/{path.name}", path))
        return found

    def export_folders(self) -> list[Path]:
        """Folders a return may export into: the USB sticks mounted under the profile folders."""
        found: list[Path] = []
        for folder in self.profile_folders:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                inner = sorted(p for p in child.iterdir() if p.is_dir()) if folder.name == "media" else []
                found += inner or [child]
        return found

    def _hub(self) -> str:
        if self._hub_id:
            return self._hub_id
        path = self.config_path.parent / "hub-id"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if not text:
            from hub.domain.enrolment import ProfileRefused  # enrolment's modules on first use (part M6)

            raise ProfileRefused(f"this hub has no id: write it into {path} (it is printed on the hub)", refusals.NO_HUB_ID)
        return text

    async def enrol_file(self, path: Path, pin: str) -> EnrolOutcome:
        from hub.services.enrolment import read_source

        return await self._enrol(lambda: read_source(path), pin)

    async def enrol_text(self, text: str, pin: str) -> EnrolOutcome:
        """The QR code's text, as a keyboard-wedge scanner types it (or the profile's JSON)."""
        from hub.services.enrolment import decode_qr

        stripped = text.strip()
        return await self._enrol(lambda: stripped.encode() if stripped.startswith("{") else decode_qr(stripped), pin)

    async def scan_qr(self, view: ScanView) -> ScanEnd:
        """Look for the profile's QR code with the camera until one is found, `view.stop` is set,
        or the camera fails; the found text then goes to `enrol_text` (after the PIN), the same
        way as a hand scanner's. The camera is open only during this call."""
        from hub.services.qr_scan import scan_for_profile

        if self.open_camera is None:
            return ScanEnd(UNAVAILABLE, reason=NO_CAMERA)
        try:
            end = await asyncio.to_thread(scan_for_profile, self.open_camera, view)
        finally:
            view.stop.set()  # cancelled (the app stopping): the thread ends at its next picture and closes the camera
        self.audit("enrol-scan", end.how, **({"camera": end.reason} if end.reason else {}))
        return end

    async def _enrol(self, read: Callable[[], bytes], pin: str) -> EnrolOutcome:
        from hub.domain.enrolment import ProfileRefused
        from hub.services.enrolment import enrol, load_trusted_keys

        def run() -> EnrolOutcome:
            signed = read()
            profile, written = enrol(
                signed,
                config_path=self.config_path,
                data_dir=self.data_dir,
                hub_id=self._hub(),
                trusted=load_trusted_keys(self.trusted_keys),
                pin=pin,
                who=self.who,
                clock=self.clock,
                check_config=self._check,
            )
            return EnrolOutcome(True, hub_id=profile.hub_id, destinations=written.destinations)

        try:
            return await asyncio.to_thread(run)  # scrypt and file writes: off the UI's loop
        except (ProfileRefused, TechnicianError) as exc:
            self.guard.audit.append(self.who, "enrol", "refused")
            return EnrolOutcome(False, reason=str(exc), why=getattr(exc, "reason", refusals.BAD_PIN))  # else: the PIN's rules
        except OSError as exc:  # the configuration or a secret could not be written (read-only /etc?)
            self.guard.audit.append(self.who, "enrol", "refused")
            return EnrolOutcome(False, reason=f"could not write ({exc.strerror or type(exc).__name__})", why=refusals.NOT_SAVED)

    # -- the PIN -----------------------------------------------------------------------------------

    def locked_for(self) -> timedelta:
        """How long the PIN is not looked at (zero when a PIN may be typed)."""
        now = self.clock()
        lock = locked(self.guard.state(), now)
        return lock.wait(now) if lock is not None else timedelta(0)

    async def unlock(self, pin: str) -> UnlockOutcome:
        """Technician mode's door (audited by the guard: unlocked, wrong-pin, locked-out)."""
        try:
            await asyncio.to_thread(self.guard.unlock, pin, who=self.who, action="technician-mode")
        except NoPin:
            return UnlockOutcome(False, no_pin=True)
        except LockedOut as exc:
            return UnlockOutcome(False, wait=exc.wait)
        except WrongPin:
            return UnlockOutcome(False, wait=self.locked_for())
        return UnlockOutcome(True)

    def leave(self, why: str) -> None:
        """Technician mode was left: by its button ("button") or after no touch for a while ("idle")."""
        self.audit("technician-mode", "left", why=why)

    def audit(self, action: str, outcome: str, **details: Any) -> None:
        self.guard.audit.append(self.who, action, outcome, **details)

    # -- the kit -------------------------------------------------------------------------------------

    def _ports(self) -> DeskPorts:
        if self.ports is None:
            raise RuntimeError("this hub runs without technician ports")
        return self.ports

    async def _kit(self) -> list[KitEntry]:
        ports = self._ports()
        return without_forgotten(kit_entries(ports.bonded(), await ports.measurements()), self.forgotten.load())

    async def kit(self) -> list[KitEntry]:
        entries = await self._kit()
        self.audit("kit", "listed", devices=len(entries))
        return entries

    # -- pairing ---------------------------------------------------------------------------------------

    async def scan(self, seconds: float = 8.0, *, until: Callable[[ScanReport], bool] | None = None) -> ScanReport:
        """The supported devices nearby, strongest first, each marked known (bonded, or in the
        kit) or new. `until`: stop early once the report so far satisfies it. Audited with counts only."""
        ports = self._ports()
        report = await ports.scan(seconds, until)
        kit = [e.address for e in await self._kit()]
        devices = tuple(mark_known(report.devices, ports.bonded(), kit))
        self.audit("scan", "done", devices=len(devices), known=sum(d.known for d in devices), unsupported=report.unsupported)
        return ScanReport(devices, report.unsupported)

    async def pair(self, address: str, timeout: float = 60.0) -> PairOutcome:
        """Pair one device (the passkey or consent code is asked for in the pairing dialog).
        Audited with the device's address, never its advertised name (it could name a person)."""
        key = norm_address(address)
        try:
            await self._ports().pair(key, timeout)
        except PairingRefused as refused:
            self.audit("pair", "failed", address=key)
            return PairOutcome(False, key, str(refused), why=refused.reason)
        self.forgotten.remember(key)
        self.audit("pair", "paired", address=key)
        return PairOutcome(True, key)

    async def unpair(self, address: str) -> PairOutcome:
        """Remove the bond and forget the device in the kit; its stored readings stay."""
        key = norm_address(address)
        removed = await self._ports().unpair(key)
        self.forgotten.forget(key)
        self.audit("unpair", "done", address=key, bond_removed=removed)
        return PairOutcome(True, key)

    async def test_measurement(self, timeout: float = 60.0) -> int:
        taken = await self._ports().test_measurement(timeout)
        self.audit("test-measurement", "taken" if taken else "none", readings=taken)
        return taken

    # -- the return -----------------------------------------------------------------------------------

    async def unsent(self) -> Unsent:
        return await self._ports().unsent()

    async def deliver_now(self) -> dict[str, int]:
        delivered = await self._ports().deliver()
        self.audit("deliver", "done", delivered=sum(delivered.values()))
        return delivered

    async def finish_return(self, export_dir: Path | None, *, confirmed: bool) -> ReturnDone:
        """Deliver, export (when confirmed), wipe; ReturnRefused (audited) while anything waits."""
        try:
            record = await self._ports().finish_return(export_dir, confirmed, self.audit)
        except ReturnRefused:
            self.audit("return", "refused")
            raise
        return ReturnDone(
            record.get("measurements_stored", 0),
            dict(record.get("delivered_now", {})),
            dict(record.get("exported", {})),
            tuple(record.get("wiped", ())),
            record,
        )


__all__ = [
    "DeskPorts", "EnrolOutcome", "KIND_WORDS", "ScanEnd", "ScanView", "PairOutcome", "PairingRefused", "ProfileFile", "ReturnDone", "ScanReport",
    "TechnicianDesk", "UnlockOutcome",
]  # fmt: skip
