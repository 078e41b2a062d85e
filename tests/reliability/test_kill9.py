"""Proof 2: kill -9 of the hub process at random points of record → send → ack, restarted, 200 times.

A real hub process (tests/reliability/hub_process.py: hub.app.start_hub, recording continuously,
delivering to the reference FHIR server) is killed with SIGKILL at a random moment (seeded) and
started again on the same data directory. At the end `heima sync` drains what is left. Every
measurement the process acknowledged ("ACK <id>", said only after record() returned) is on the
server exactly once; the server holds nothing the hub did not record. The hub also queues devices
of its inventory between the readings ("ACK-DEVICE <eui48>"): each is on the server exactly once.

(A kill -9 leaves the OS page cache intact, so this catches acknowledging before the commit and
re-sending wrongly after a restart; losing power is the power-cut test's business.)
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from hub.store.schema import open_connection
from tests.reliability.support import (
    devices_exactly_once,
    exactly_once,
    identifiers_on_server,
    inventory_devices_on_server,
    mac_of,
    scaled,
    seed,
)

ROOT = Path(__file__).resolve().parents[2]
ACK = re.compile(r"^ACK ([0-9a-f-]{36})$")
ACK_DEVICE = re.compile(r"^ACK-DEVICE ([0-9A-F-]{17})$")
MAX_RUN = 0.5  # seconds a cycle lives after READY, at most
TARGETED = 0.2  # share of cycles where the process kills itself (SIGKILL) at a narrow window
EARLY = 0.1  # share of cycles killed before READY (opening the store, starting the worker)


class Launcher:
    """Starts hub processes: forked from a fork server that imported everything once (default),
    or a fresh interpreter each time (HEIMA_RELIABILITY_KILL9_EXEC=1, ~0.7 s more per cycle)."""

    def __init__(self, data_dir: Path, centre: str, logs: Path) -> None:
        self.argv = [sys.executable, "-m", "tests.reliability.hub_process", "--data-dir", str(data_dir), "--centre", centre]
        self.logs = logs
        logs.mkdir()
        self.exec_mode = os.environ.get("HEIMA_RELIABILITY_KILL9_EXEC") == "1"
        self.server: subprocess.Popen | None = None
        if not self.exec_mode:
            self.server = subprocess.Popen(
                [*self.argv, "--fork-server"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert self.server.stdout is not None and self.server.stdout.readline().strip() == "FORK-SERVER READY"

    def _ask(self, command: str) -> list[str]:
        assert self.server is not None and self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(command + "\n")
        self.server.stdin.flush()
        return self.server.stdout.readline().split()

    def start(self, cycle: int, kill_at: str | None = None) -> HubProcess:
        out = self.logs / f"cycle-{cycle:04d}.out"
        if self.exec_mode:
            extra = ["--kill-at", kill_at] if kill_at else []
            with open(out, "wb") as stdout, open(f"{out}.err", "wb") as stderr:
                proc = subprocess.Popen([*self.argv, "--seed", str(cycle), *extra], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
            return HubProcess(proc.pid, out, reap=lambda: _status_of(proc))
        word, pid = self._ask(f"spawn {cycle} {out} {kill_at or ''}".strip())
        assert word == "PID"
        return HubProcess(int(pid), out, reap=lambda: int(self._ask(f"reap {pid}")[2]))

    def close(self) -> None:
        if self.server is not None:
            self.server.stdin.close()  # type: ignore[union-attr]
            self.server.wait(10)


def _status_of(proc: subprocess.Popen) -> int:
    """Wait for it; its wait status, as os.waitpid gives it."""
    code = proc.wait(10)
    return -code if code < 0 else code << 8


class HubProcess:
    def __init__(self, pid: int, out: Path, reap) -> None:
        self.pid = pid
        self.out = out
        self._reap = reap
        self.born = time.monotonic()

    @property
    def lines(self) -> list[str]:
        try:
            return self.out.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    @property
    def stderr(self) -> str:
        try:
            return Path(f"{self.out}.err").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "READY" in self.lines:
                return True
            time.sleep(0.005)
        return False

    def wait_for(self, line_start: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith(line_start) for line in self.lines):
                return True
            time.sleep(0.005)
        return False

    def kill(self) -> int:
        """SIGKILL (a process that killed itself is a zombie until reaped: still a valid pid); the wait status."""
        os.kill(self.pid, signal.SIGKILL)
        return self._reap()

    def phase(self) -> str:
        """Where in record → send → ack the kill fell."""
        lines = self.lines
        for line in lines:
            if line.startswith("KILL-SELF "):
                return {
                    "commit": "targeted: committed, before the ACK was said",
                    "answered": "targeted: server answered, rows not yet marked delivered",
                }[line.split()[1]]
        if "READY" not in lines:
            return "starting (opening the store, starting the worker)"
        sent: set[str] = set()
        marked: set[str] = set()
        in_flight = None
        for line in lines:
            word, *rest = line.split() or [""]
            if word == "SEND":
                in_flight = rest[0]
            elif word == "SENT":
                sent.add(rest[0])
                in_flight = None
            elif word == "MARKED":
                marked.add(rest[0])
        if in_flight is not None:
            return "request at the server, no answer yet"
        if sent - marked:
            return "answered, not yet marked delivered"
        return "recording (commits in flight), between sends"


def heima(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_kill_9_at_random_points_two_hundred_times_every_acknowledged_measurement_arrives_once(
    tmp_path, fhir_server, record_result
):
    cycles = scaled(200)
    rng = random.Random(seed())
    data_dir = tmp_path / "hub"
    acked: list[str] = []
    acked_devices: set[str] = set()
    phases: Counter[str] = Counter()
    lifetimes: list[float] = []
    sends = 0
    started = time.monotonic()

    launcher = Launcher(data_dir, fhir_server.base_url, tmp_path / "logs")
    try:
        for cycle in range(cycles):
            draw = rng.random()
            if draw < TARGETED:  # a self-kill at a narrow window, else killed from outside below
                point = "commit" if draw < TARGETED / 2 else "answered"
                process = launcher.start(cycle, f"{point}:{rng.randint(1, 6)}")
                process.wait_for("KILL-SELF", 3.0)
            elif draw < TARGETED + EARLY:
                process = launcher.start(cycle)
                time.sleep(rng.uniform(0.0, 0.15 if not launcher.exec_mode else 0.8))
            else:
                process = launcher.start(cycle)
                assert process.wait_ready(30), f"the hub process did not start: {process.stderr}"
                time.sleep(rng.uniform(0.0, MAX_RUN))
            status = process.kill()
            lifetimes.append(time.monotonic() - process.born)
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"the hub process ended on its own (wait status {status}): {process.stderr}"
            )
            lines = process.lines
            phases[process.phase()] += 1
            sends += sum(line.startswith("SEND ") for line in lines)
            acked.extend(m.group(1) for line in lines if (m := ACK.match(line)))
            acked_devices.update(m.group(1) for line in lines if (m := ACK_DEVICE.match(line)))
    finally:
        launcher.close()

    # A last run drains everything: the real CLI, on the same data directory.
    config = tmp_path / "heima.toml"  # a centre is sent to only with the patient configured
    config.write_text('[patient]\nidentifier = "13116900216"\n')
    drained = heima("--config", str(config), "sync", "--data-dir", str(data_dir), "--centre", fhir_server.base_url)
    status = heima("status", "--data-dir", str(data_dir))
    with closing(open_connection(data_dir / "heima.db")) as conn:
        stored = {f"urn:uuid:{r[0]}" for r in conn.execute("SELECT id FROM measurements")}
        outbox = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        stored_devices = {
            mac_of(json.loads(r[0])["address"]) for r in conn.execute("SELECT payload FROM outgoing WHERE kind = 'device'")
        }

    on_server = identifiers_on_server(fhir_server)
    acked_urns = {f"urn:uuid:{i}" for i in acked}
    verdict = exactly_once(stored, on_server)
    devices_on_server = inventory_devices_on_server(fhir_server)
    devices = devices_exactly_once(stored_devices, devices_on_server)
    acked_devices_not_once = {d for d in acked_devices if devices_on_server.get(d, 0) != 1}
    acked_not_stored = acked_urns - stored
    acked_not_once = {u for u in acked_urns if on_server.get(u, 0) != 1}
    met = (
        len(lifetimes) >= cycles
        and drained.returncode == 0
        and not acked_not_stored
        and not acked_not_once
        and verdict["duplicates"] == 0
        and verdict["lost"] == 0
        and verdict["foreign (on server, never recorded)"] == 0
        and acked_devices <= stored_devices
        and not acked_devices_not_once
        and devices["device duplicates"] == devices["devices lost"] == devices["devices foreign"] == 0
    )
    record_result(
        "kill -9, restarted",
        target=f"{cycles} kills; every acknowledged measurement on the server exactly once",
        result=(
            f"{len(lifetimes)} kills, {len(acked_urns)} acknowledged: {len(acked_not_once)} not exactly once, "
            f"{verdict['duplicates']} duplicates; {len(acked_devices)} devices acknowledged: "
            f"{len(acked_devices_not_once)} not exactly once"
        ),
        met=met,
        **{
            "kill -9 cycles": len(lifetimes),
            "processes started by": "fresh interpreter (exec)" if os.environ.get("HEIMA_RELIABILITY_KILL9_EXEC") == "1" else "fork server",
            "killed while": dict(sorted(phases.items())),
            "process lifetime (s), min / mean / max": (
                f"{min(lifetimes):.2f} / {sum(lifetimes) / len(lifetimes):.2f} / {max(lifetimes):.2f}"
            ),
            "requests sent by killed processes": sends,
            "acknowledged measurements": len(acked_urns),
            "committed, killed before the ACK was said": len(stored - acked_urns),
            "acknowledged but not in the database": len(acked_not_stored),
            "acknowledged, not exactly once on the server": len(acked_not_once),
            **verdict,
            "acknowledged devices (the second kind)": len(acked_devices),
            "acknowledged devices not exactly once": len(acked_devices_not_once),
            **devices,
            "outbox after the final `heima sync`": outbox,
            "heima status": " | ".join(line.strip() for line in status.stdout.splitlines()[1:]),
            "wall time (s)": round(time.monotonic() - started, 1),
        },
    )
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert len(acked_urns) > cycles  # the kills fell among real work
    assert not acked_not_stored, f"{len(acked_not_stored)} acknowledged measurements are not in the database"
    assert verdict["duplicates"] == 0, f"{verdict['duplicates']} measurements are on the server more than once"
    assert not acked_not_once, f"{len(acked_not_once)} acknowledged measurements are not on the server exactly once"
    assert verdict["lost"] == 0 and outbox.get("pending", 0) == 0
    assert verdict["foreign (on server, never recorded)"] == 0
    assert len(acked_devices) > cycles // 10, "too few devices among the kills to prove the second kind"
    assert acked_devices <= stored_devices, "an acknowledged device is not in the database"
    assert not acked_devices_not_once, f"{len(acked_devices_not_once)} acknowledged devices are not on the server exactly once"
    assert devices["device duplicates"] == devices["devices lost"] == devices["devices foreign"] == 0, devices
    assert "waiting 0" in status.stdout and "could not be sent 0" in status.stdout
