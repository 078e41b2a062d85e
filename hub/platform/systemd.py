"""Telling systemd how the hub is doing: sd_notify(3) in plain socket code (no libsystemd).

The unit is `Type=notify` with `WatchdogSec=`: systemd waits for READY=1 before it calls the hub
started, and restarts it when WATCHDOG=1 pings stop. The pings come from a task on the hub's
asyncio loop, so they stop exactly when the loop stops turning: a callback stuck in a dead lock,
a Kivy Clock callback that never returns (the touch app's Clock runs on the same loop), a busy
loop. A thread would keep pinging through all of those, so none is used.

Outside systemd (no NOTIFY_SOCKET) every call does nothing, so the same code runs in a shell,
in tests and on a tablet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes | None:
    """The address in $NOTIFY_SOCKET: a path, or '@name' for the abstract namespace (a leading NUL)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock:… and anything else: not something this hub is run under


def watchdog_interval(env: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """Seconds systemd waits between pings ($WATCHDOG_USEC), or None when no watchdog is set for
    this process ($WATCHDOG_PID names another one, e.g. a wrapper shell's child)."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    return usec / 1_000_000


@dataclass
class Notifier:
    """Datagrams to the service manager. `address` None: every call is a no-op."""

    address: str | bytes | None
    _sock: socket.socket | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(socket_address(env.get("NOTIFY_SOCKET", "")))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *states: str) -> bool:
        """Send 'KEY=value' lines in one datagram; False (logged once per failure) if it could not."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(states).encode(), self.address)
            return True
        except OSError as exc:  # systemd gone or restarting: the hub itself goes on
            log.warning("could not notify the service manager (%s)", type(exc).__name__)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def feed_watchdog(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 every interval/2 (as sd_watchdog_enabled(3) advises) for as long as this loop
    runs this task. Only ever awaits the loop's own timer: no thread, no executor."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval / 2)


@dataclass
class Service:
    """The hub as a systemd service: `ready()` once the store and workers are up, `stopping()`
    when it shuts down. Messages carry states only, never patient data."""

    notifier: Notifier
    interval: float | None
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Service:
        return cls(Notifier.from_environment(env), watchdog_interval(env))

    def ready(self, status: str = "running") -> None:
        """READY=1 and the watchdog task on the running loop (call from inside the loop)."""
        self.notifier.ready(status)
        if self.notifier.enabled and self.interval and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                feed_watchdog(self.notifier, self.interval), name="systemd-watchdog"
            )

    async def stopping(self) -> None:
        self.notifier.stopping()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.notifier.close()


def announce_ready(status: str = "running") -> Service:
    """What a runner calls once its hub is up: READY=1 and pings from this loop (no-op outside systemd)."""
    service = Service.from_environment()
    service.ready(status)
    return service
