"""One process owns a data folder at a time.

Two processes delivering from the same outbox each send every due row: a server without
conditional create (Pasientens måledata) then holds every measurement twice. The owner holds an
exclusive `flock` on `heima.lock` in the data folder for as long as its store is open; the kernel
drops it when the process ends in any way, kill -9 included, so a crash never leaves the folder
stuck. The file holds the owner's pid (nothing else) so a second process can say who it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from hub.store.errors import StoreError

LOCK_NAME = "heima.lock"


class DataFolderInUse(StoreError):
    """Another process owns this data folder."""


class DataFolderLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path) -> DataFolderLock:
        """Take the folder, or raise DataFolderInUse at once (never wait: a second hub must say so)."""
        path = folder / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file in {folder} ({exc.strerror}); check that the data folder exists "
                "and belongs to the user the hub runs as"
            ) from None
        try:
            with contextlib.suppress(PermissionError):  # made by another user: its mode is theirs to set
                if os.fstat(fd).st_mode & 0o777 != 0o600:
                    os.fchmod(fd, 0o600)
            _take(fd)
        except BlockingIOError:
            owner = _pid_in(fd)
            os.close(fd)
            who = f" (pid {owner})" if owner else ""
            raise DataFolderInUse(
                f"the hub is already running on {folder}{who}; stop it first, or let it deliver — "
                "only one Heima process may use a data folder at a time"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @staticmethod
    def in_use(folder: Path) -> bool:
        """Whether another process owns the folder now (for a reader such as `heima status`)."""
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Closing the file drops the lock. The file stays: removing it would let a third
        process lock a new file while a second still waits on the old one."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)


def _take(fd: int, *, tries: int = 5, pause_s: float = 0.02) -> None:
    """An exclusive lock, or BlockingIOError. A reader's probe (`in_use`, from `heima status`)
    holds a shared lock for microseconds: a hub starting in that instant tries again a few times
    within ~0.1 s instead of refusing to start; a real owner holds it for good and is still refused."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == tries - 1:
                raise
            time.sleep(pause_s)


def _pid_in(fd: int) -> int | None:
    """The owner's pid as it wrote it, or None when it has not written it yet."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
