"""`python -m hub.platform.update_command`: what heima-update.service runs as root, on a timer.

One run: finish an update a power cut interrupted (hub/platform/update_health.resume), else ask
the repository (TUF-verified, hub/platform/updates.py) for a newer release; download and verify
both it and the installed version's package (what a rollback reinstalls: no verified way back,
no update); install with dpkg; restart the hub; sample systemd until the new version is healthy
or must be rolled back. Every step is written to `<state>/plan.json` before it is taken.

Exit status: 0 done (current, updated or rolled back), 1 refused (why is logged), 75 try later
(the clock is not set yet: expiry cannot be checked).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from hub.platform.update_health import (
    Decision,
    HealthPolicy,
    HealthSample,
    Phase,
    Resume,
    UpdatePlan,
    Verdict,
    judge,
    resume,
)
from hub.platform.updates import STATE_DIR, Release, UpdateClient, UpdateRefused

log = logging.getLogger("heima.update")

UNITS = ("heima-kiosk.service", "heima.service")
HEIMA = "/opt/heima/venv/bin/heima"
EX_TEMPFAIL = 75


class System(Protocol):
    """The machine the update is applied to: dpkg and systemd on a Pi."""

    def installed_version(self) -> str: ...

    def install(self, package: Path) -> None: ...

    def restart(self) -> None: ...

    def sample(self, elapsed: float) -> HealthSample: ...


class DebianSystem:
    """dpkg and systemctl. Only a real Pi (or a booted Debian with systemd) runs this part."""

    def __init__(self) -> None:
        enabled = [u for u in UNITS if _run(["systemctl", "is-enabled", "--quiet", u]).returncode == 0]
        self.unit = enabled[0] if enabled else "heima.service"

    def installed_version(self) -> str:
        return _run(["dpkg-query", "-W", "-f=${Version}", "heima"], check=True).stdout.strip()

    def install(self, package: Path) -> None:
        _run(["dpkg", "-i", str(package)], check=True)

    def restart(self) -> None:
        _run(["systemctl", "restart", "--no-block", self.unit])

    def sample(self, elapsed: float) -> HealthSample:
        shown = _run(["systemctl", "show", self.unit, "-p", "ActiveState", "-p", "NRestarts"]).stdout
        props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        ran = _run([HEIMA, "--version"])
        version = ran.stdout.split()[-1] if ran.returncode == 0 and ran.stdout.strip() else None
        return HealthSample(
            elapsed=elapsed,
            active=props.get("ActiveState") == "active",
            restarts=int(props.get("NRestarts", "0") or 0),
            version=version,
        )


def _run(command: list[str], *, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=600)


class Updater:
    def __init__(
        self,
        client: UpdateClient,
        system: System,
        *,
        state_dir: Path = STATE_DIR,
        policy: HealthPolicy = HealthPolicy(),
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.system, self.policy = client, system, policy
        self.plan_path = state_dir / "plan.json"
        self.interval, self.clock, self.wait = interval, clock, wait

    def run(self) -> str:
        """One updater run; returns what happened, in a sentence (no patient data anywhere here)."""
        action, plan = resume(self._load(), policy=self.policy)
        if action is Resume.NOTHING:
            return self._update()
        assert plan is not None
        self._save(plan)
        if action is Resume.ROLL_BACK:
            return self._roll_back(plan, "the update did not settle after repeated attempts")
        if action is Resume.INSTALL:
            self.system.install(Path(plan.new_package))
            plan = self._save(replace(plan, phase=Phase.CHECKING))
        return self._check(plan)

    def _update(self) -> str:
        installed = self.system.installed_version()
        release = self.client.check(installed)
        if release is None:
            return f"{installed} is current"
        try:
            previous = self.client.download(Release(installed, f"heima_{installed}_{self.client.arch}.deb"))
        except UpdateRefused as exc:
            raise UpdateRefused(
                exc.reason, f"no verified package of the installed {installed} to roll back to; not updating ({exc})"
            ) from exc
        new = self.client.download(release)
        plan = self._save(UpdatePlan(installed, release.version, str(new), str(previous)))
        log.info("installing %s over %s", release.version, installed)
        self.system.install(new)
        return self._check(self._save(replace(plan, phase=Phase.CHECKING)))

    def _check(self, plan: UpdatePlan) -> str:
        self.system.restart()
        start = self.clock()
        samples: list[HealthSample] = []
        decision = Decision(Verdict.WAIT, "")
        while decision.verdict is Verdict.WAIT:
            if samples:
                self.wait(self.interval)
            samples.append(self.system.sample(self.clock() - start))
            decision = judge(samples, expected_version=plan.to_version, policy=self.policy)
        if decision.verdict is Verdict.ROLL_BACK:
            return self._roll_back(plan, decision.reason)
        self._save(replace(plan, phase=Phase.DONE))
        log.info("updated to %s: %s", plan.to_version, decision.reason)
        return f"updated to {plan.to_version} ({decision.reason})"

    def _roll_back(self, plan: UpdatePlan, reason: str) -> str:
        log.error("rolling back to %s: %s", plan.from_version, reason)
        self.system.install(Path(plan.previous_package))
        self.system.restart()
        self._save(replace(plan, phase=Phase.ROLLED_BACK))
        return f"rolled back to {plan.from_version}: {reason}"

    def _load(self) -> UpdatePlan | None:
        try:
            return UpdatePlan.from_json(json.loads(self.plan_path.read_text()))
        except FileNotFoundError:
            return None

    def _save(self, plan: UpdatePlan) -> UpdatePlan:
        # Written whole, then renamed: a power cut leaves the old plan or the new one.
        tmp = self.plan_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(plan.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.plan_path)
        return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heima-update", description="Install a signed Heima update, with rollback.")
    parser.add_argument("--repository", required=True, help="the update repository's URL (https:// or file://)")
    parser.add_argument("--arch", default=None, help="this machine's Debian architecture (default: dpkg's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from hub.platform.clock import SystemClock

    if not SystemClock(wait_for_ntp=True).is_trusted():
        log.warning("the clock is not set yet (no NTP answer): metadata expiry cannot be checked; trying later")
        return EX_TEMPFAIL
    arch = args.arch or _run(["dpkg", "--print-architecture"], check=True).stdout.strip()
    client = UpdateClient(repository_url=args.repository, arch=arch)
    try:
        outcome = Updater(client, DebianSystem()).run()
    except UpdateRefused as exc:
        log.error("%s", exc)
        return 1
    log.info("%s", outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
