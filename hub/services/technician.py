"""Technician mode: the PIN that guards it (a slow hash, a lockout that survives a restart) and
the audit log of everything a technician does (who, what, when — never patient data).

Files, all the hub user's alone (0600 in 0700 folders):

    <data>/secrets/technician-pin.json   the PIN's scrypt hash (set at enrolment, wiped at return)
    <data>/technician/lockout.json       wrong PINs in a row and how long the hub waits
    <data>/technician/audit.log          one JSON line per action, each naming the hash of the
                                         line before it (a removed or changed line shows);
                                         appended only, never rewritten; kept through a return
                                         (it holds no patient data: it is the kit's history)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.domain.pin import LockoutPolicy, PinState, attempt_started, damaged, locked, pin_problem, succeeded
from hub.domain.readings import QualityFlag, Reading

Clock = Callable[[], datetime]

# scrypt: n=2**15, r=8 (32 MiB, ~0.1 s on a Pi 4): slow enough that a stolen hash of a 6-digit
# PIN is not read back in seconds, fast enough that a technician does not wait.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024


def wall_clock() -> datetime:
    return datetime.now(UTC)


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably, 0600 (a temporary file, fsync, rename,
    fsync of the folder): after a kill -9 or a power cut it is the old file or the new one. A
    missing folder is made 0700; an existing one keeps its mode (it may be /etc/heima)."""
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class TechnicianFiles:
    data_dir: Path

    @property
    def secrets(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def pin(self) -> Path:
        return self.secrets / "technician-pin.json"

    @property
    def folder(self) -> Path:
        return self.data_dir / "technician"

    @property
    def lockout(self) -> Path:
        return self.folder / "lockout.json"

    @property
    def audit(self) -> Path:
        return self.folder / "audit.log"


class TechnicianError(Exception):
    """Technician mode refused; the message says why and what to do."""


class WrongPin(TechnicianError):
    pass


class LockedOut(TechnicianError):
    def __init__(self, wait: timedelta) -> None:
        seconds = max(1, int(wait.total_seconds() + 0.999))
        super().__init__(f"too many wrong PINs: try again in {seconds} s (the wait doubles with each wrong PIN)")
        self.wait = wait


class NoPin(TechnicianError):
    pass


def hash_pin(pin: str, *, salt: bytes | None = None) -> dict[str, Any]:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32)
    return {"scheme": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex(), "hash": digest.hex()}


def pin_matches(pin: str, stored: dict[str, Any]) -> bool:
    if stored.get("scheme") != "scrypt":
        raise TechnicianError("the stored PIN is in an unknown format; set it again at enrolment")
    digest = hashlib.scrypt(
        pin.encode(),
        salt=bytes.fromhex(stored["salt"]),
        n=int(stored["n"]),
        r=int(stored["r"]),
        p=int(stored["p"]),
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return hmac.compare_digest(digest.hex(), stored["hash"])


class AuditLog:
    """Append-only, one JSON object a line: at, who (the technician's name as given, and the
    machine user), action, outcome, and details that never hold patient data."""

    def __init__(self, path: Path, clock: Clock = wall_clock) -> None:
        self.path = path
        self.clock = clock

    def _last_hash(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 8192))
                lines = f.read().splitlines()
        except FileNotFoundError:
            return ""
        return hashlib.sha256(lines[-1]).hexdigest() if lines else ""

    def append(self, who: str, action: str, outcome: str, **details: Any) -> None:
        private_dir(self.path.parent)
        entry = {
            "at": self.clock().astimezone(UTC).isoformat(timespec="seconds"),
            "who": who,
            "user": _machine_user(),
            "action": action,
            "outcome": outcome,
            **({"details": details} if details else {}),
            "previous": self._last_hash(),
        }
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode() + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def broken_links(self) -> list[int]:
        """Line numbers (1-based) whose `previous` does not name the line before: a line was
        removed or changed there."""
        try:
            raw = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        broken, before = [], ""
        for number, line in enumerate(raw, start=1):
            if json.loads(line).get("previous") != before:
                broken.append(number)
            before = hashlib.sha256(line).hexdigest()
        return broken


def _machine_user() -> str:
    import getpass  # with termios: only when an audit line is written (the touch app's start, part M6)

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container)
        return str(os.getuid())


class PinGuard:
    """Checks the technician's PIN under the lockout rules, persisting the state before the slow
    hash runs, and audits every attempt."""

    def __init__(self, files: TechnicianFiles, *, clock: Clock = wall_clock, policy: LockoutPolicy | None = None) -> None:
        self.files = files
        self.clock = clock
        self.policy = policy or LockoutPolicy()
        self.audit = AuditLog(files.audit, clock)

    @property
    def is_set(self) -> bool:
        return self.files.pin.exists()

    def set_pin(self, pin: str, *, who: str) -> None:
        problem = pin_problem(pin)
        if problem:
            raise TechnicianError(problem)
        write_private(self.files.pin, json.dumps(hash_pin(pin)).encode())
        self._save(PinState())
        self.audit.append(who, "set-pin", "ok")

    def _state(self) -> PinState:
        try:
            return PinState.from_json(json.loads(self.files.lockout.read_text()))
        except FileNotFoundError:
            return PinState()
        except (OSError, ValueError):  # damaged: locked for the longest wait, never a fresh start
            return damaged(self.clock(), self.policy)

    def _save(self, state: PinState) -> None:
        write_private(self.files.lockout, json.dumps(state.to_json()).encode())

    def state(self) -> PinState:
        return self._state()

    def unlock(self, pin: str, *, who: str, action: str) -> None:
        """Returns when `pin` is right; raises NoPin, LockedOut or WrongPin (audited)."""
        if not self.is_set:
            raise NoPin("this hub has no technician PIN: it is set when the hub is enrolled (heima enrol PROFILE)")
        now = self.clock()
        state = self._state()
        lock = locked(state, now)
        if lock is not None:
            self.audit.append(who, action, "locked-out")
            raise LockedOut(lock.wait(now))
        self._save(attempt_started(state, now, self.policy))  # counted before the slow check
        stored = json.loads(self.files.pin.read_text())
        if not pin_matches(pin, stored):
            self.audit.append(who, action, "wrong-pin")
            raise WrongPin("wrong PIN")
        self._save(succeeded(state))
        self.audit.append(who, action, "unlocked")


def as_test(reading: Reading) -> Reading:
    """A reading a technician takes to check a device: marked, so it is stored but never queued
    for a care provider (hub.domain.kit.NEVER_SHARED) nor evaluated against the patient's plan."""
    from dataclasses import replace

    return replace(reading, flags=reading.flags | {QualityFlag.TECHNICIAN_TEST})
