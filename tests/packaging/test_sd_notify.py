"""sd_notify as systemd sees it: a real unix datagram socket bound where $NOTIFY_SOCKET points.

The hub says READY=1 once its store and workers are up, then WATCHDOG=1 from its asyncio loop;
when the loop is frozen (a callback that never returns) the pings stop, which is what makes
systemd restart a hung hub or a frozen touch app.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import HubConfig
from hub.platform.systemd import Notifier, Service, socket_address, watchdog_interval

INTERVAL = 0.4  # WatchdogSec in these tests: pings every 0.2 s
WATCHDOG_USEC = str(int(INTERVAL * 1_000_000))


class NotifySocket:
    """The service manager's end: receives datagrams, waits for them with a timeout."""

    def __init__(self, *, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"heima-test-{os.getpid()}-{id(self)}"
            self.sock.bind(b"\0" + name.encode())
            self.env_value = "@" + name
            self._dir = None
        else:
            self._dir = tempfile.mkdtemp(prefix="hn-", dir="/tmp")  # sun_path holds 108 bytes: keep it short
            path = os.path.join(self._dir, "notify")
            self.sock.bind(path)
            self.env_value = path

    def env(self, **more: str) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.env_value, "WATCHDOG_USEC": WATCHDOG_USEC, **more}

    def receive(self, timeout: float) -> set[str]:
        """The states of the next datagram; raises TimeoutError if none comes within `timeout`."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        return set(data.decode().split("\n"))

    def wait_for(self, state: str, timeout: float = 10.0) -> None:
        """Until a datagram carries `state`; TimeoutError if none has within `timeout` in all
        (other states — the watchdog's pings — keep coming, so each wait is bounded too)."""
        deadline = time.monotonic() + timeout
        while state not in self.receive(max(deadline - time.monotonic(), 0.001)):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {state} within {timeout} s")

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(4096)
        self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()
        if self._dir:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._dir, "notify"))
                os.rmdir(self._dir)


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest) -> Iterator[NotifySocket]:
    sock = NotifySocket(abstract=request.param == "abstract")
    yield sock
    sock.close()


class LoopThread:
    """An asyncio loop running `main` in a thread, so the test can freeze it from outside."""

    def __init__(self, main) -> None:  # noqa: ANN001
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(main,), daemon=True)
        self.thread.start()

    def _run(self, main) -> None:  # noqa: ANN001
        try:
            self.loop.run_until_complete(main(self.stop))
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.loop.close()

    def freeze(self) -> threading.Event:
        """Block the loop inside a callback until the returned event is set; returns once blocked."""
        frozen, release = threading.Event(), threading.Event()

        def stuck() -> None:
            frozen.set()
            release.wait()  # what a dead-locked callback or a Kivy Clock callback that never returns does

        self.loop.call_soon_threadsafe(stuck)
        assert frozen.wait(10), "the loop never ran the freezing callback"
        return release

    def finish(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error


def assert_pings_stop_while_frozen_and_resume(sock: NotifySocket, runner: LoopThread) -> None:
    sock.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)
    sock.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)
    release = runner.freeze()
    try:
        sock.drain()  # a ping sent before the freeze began may still sit in the socket
        with pytest.raises(TimeoutError):
            sock.receive(timeout=INTERVAL * 2.5)  # > 2 intervals: systemd would have restarted the hub
    finally:
        release.set()
    sock.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)  # the loop turns again: so do the pings


def test_ready_then_pings_that_stop_while_the_loop_is_frozen(notify_socket: NotifySocket) -> None:
    async def main(stop: asyncio.Event) -> None:
        service = Service.from_environment(notify_socket.env())
        service.ready("running")
        await stop.wait()
        await service.stopping()

    runner = LoopThread(main)
    states = notify_socket.receive(timeout=10)
    assert {"READY=1", "STATUS=running"} <= states
    assert_pings_stop_while_frozen_and_resume(notify_socket, runner)
    runner.finish()
    notify_socket.wait_for("STOPPING=1")


class IdleLink:
    """A Bluetooth link with no devices in range: the headless hub just waits on it."""

    registry: tuple = ()  # no drivers: nothing to read

    def use_history(self, history) -> None:  # noqa: ANN001
        pass

    async def read_once(self, sink, *, timeout: float, prefer=None) -> None:  # noqa: ANN001
        raise TimeoutError("no device in range")

    async def run(self, sink) -> None:  # noqa: ANN001
        await asyncio.Event().wait()


def test_the_headless_runner_says_ready_after_its_store_is_open_and_feeds_the_watchdog(
    notify_socket: NotifySocket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub import app

    for key, value in notify_socket.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = dataclasses.replace(HubConfig(), data_dir=tmp_path / "data")

    async def main(stop: asyncio.Event) -> None:
        hub_task = asyncio.create_task(app.run_headless(config, link=IdleLink()))
        await stop.wait()
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task

    runner = LoopThread(main)
    try:
        notify_socket.wait_for("READY=1")
    except TimeoutError:
        runner.finish()  # raises what stopped the hub, if anything did
        raise
    assert (tmp_path / "data" / "heima.db").exists()  # READY only once the store is open
    assert_pings_stop_while_frozen_and_resume(notify_socket, runner)
    runner.finish()
    notify_socket.wait_for("STOPPING=1")


def _ignore_sigint() -> None:  # what a shell does to a background job it starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("parent", ["default", "ignoring SIGINT"])
def test_heima_run_headless_under_a_service_manager_is_ready_and_stops_cleanly_on_sigint(
    notify_socket: NotifySocket, tmp_path: Path, parent: str
) -> None:
    """What the unit file does: `heima run --headless`, KillSignal=SIGINT on stop. No BlueZ here:
    the hub says so in its log and still reports ready (it goes on delivering what is stored).
    Started by a parent that ignores SIGINT (a script's background job), it still stops on it."""
    env = {**os.environ, **notify_socket.env()}
    env.pop("WATCHDOG_PID", None)
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run", "--headless", "--data-dir", str(tmp_path / "data")],
        preexec_fn=_ignore_sigint if parent == "ignoring SIGINT" else None,  # noqa: PLW1509 - no threads to race here
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        notify_socket.wait_for("READY=1", timeout=60)
        notify_socket.wait_for("WATCHDOG=1", timeout=INTERVAL * 5)
        hub.send_signal(signal.SIGINT)
        notify_socket.wait_for("STOPPING=1", timeout=30)
        _, err = hub.communicate(timeout=30)
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
    assert hub.returncode == 0, err
    assert "Traceback" not in err


def test_outside_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert Service.from_environment({}).interval is None


def test_notify_socket_addresses_and_the_watchdog_owner() -> None:
    assert socket_address("@heima") == b"\0heima"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("") is None
    assert socket_address("vsock:2:1234") is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "nonsense"}) is None
    assert watchdog_interval({}) is None


def _memory_deny_write_execute() -> None:
    """What MemoryDenyWriteExecute=yes in heima.service does (the kernel's PR_SET_MDWE, Linux ≥ 6.3)."""
    import ctypes

    pr_set_mdwe, refuse_exec_gain = 65, 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_mdwe, refuse_exec_gain, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE")


def test_the_headless_hub_runs_with_memory_deny_write_execute(notify_socket: NotifySocket, tmp_path: Path) -> None:
    """heima.service sets MemoryDenyWriteExecute=yes: no library the headless hub loads may need
    writable+executable memory (a JIT, old libffi closures), or it would crash at start on the Pi."""
    import ctypes

    if ctypes.CDLL(None).prctl(66, 0, 0, 0, 0) < 0:  # PR_GET_MDWE: unknown before Linux 6.3
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    env = {**os.environ, **notify_socket.env()}
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run", "--headless", "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_memory_deny_write_execute,
    )
    try:
        notify_socket.wait_for("READY=1", timeout=60)
        hub.send_signal(signal.SIGINT)
        _, err = hub.communicate(timeout=30)
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
    assert hub.returncode == 0, err
