"""After an update: is the new version healthy, or must the previous one come back? Pure
decisions, no I/O: the update command samples systemd and feeds them in (hub/platform/update_command.py).

Healthy means: the installed hub reports the new version, systemd has it active (it sent
READY=1, so its store and workers are up) continuously for `settle` seconds, and it was not
restarted (a crash or a missed watchdog ping restarts it). Anything else by `deadline` rolls back.
An update interrupted by a power cut is checked again from the start after boot, at most
`max_attempts` times, then rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum


@dataclass(frozen=True)
class HealthSample:
    elapsed: float  # seconds since the new version was (re)started
    active: bool  # systemd: ActiveState=active (READY=1 was sent)
    restarts: int  # systemd: NRestarts since the new version was started
    version: str | None  # what the installed `heima --version` says; None: it does not even run


@dataclass(frozen=True)
class HealthPolicy:
    settle: float = 120.0  # four watchdog periods of 30 s without a restart
    deadline: float = 600.0  # a slow first start (the venv's bytecode, the database migration)
    max_restarts: int = 0
    max_attempts: int = 2


class Verdict(StrEnum):
    WAIT = "wait"
    HEALTHY = "healthy"
    ROLL_BACK = "roll-back"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def judge(samples: Sequence[HealthSample], *, expected_version: str, policy: HealthPolicy = HealthPolicy()) -> Decision:
    """The verdict on the samples so far (oldest first)."""
    if not samples:
        return Decision(Verdict.WAIT, "no sample yet")
    latest = samples[-1]
    if latest.version != expected_version:
        shown = latest.version or "nothing (it does not start)"
        return Decision(Verdict.ROLL_BACK, f"the installed hub reports {shown}, not {expected_version}")
    restarts = max(s.restarts for s in samples)
    if restarts > policy.max_restarts:
        return Decision(Verdict.ROLL_BACK, f"restarted {restarts} time(s) since the update (a crash or a missed watchdog)")
    streak_start = _active_since(samples)
    if streak_start is not None and latest.elapsed - streak_start >= policy.settle:
        return Decision(Verdict.HEALTHY, f"active for {latest.elapsed - streak_start:.0f} s without a restart")
    if latest.elapsed >= policy.deadline:
        return Decision(Verdict.ROLL_BACK, f"not healthy {policy.deadline:.0f} s after the update")
    return Decision(Verdict.WAIT, "waiting for the new version to settle")


def _active_since(samples: Sequence[HealthSample]) -> float | None:
    """When the trailing run of active samples began (None if the latest is not active)."""
    start = None
    for sample in reversed(samples):
        if not sample.active:
            break
        start = sample.elapsed
    return start


class Phase(StrEnum):
    INSTALLING = "installing"  # dpkg -i of the new version has begun
    CHECKING = "checking"  # installed; the health check runs
    DONE = "done"  # healthy: the new version stays
    ROLLED_BACK = "rolled-back"  # the previous version is back


@dataclass(frozen=True)
class UpdatePlan:
    """Written before each step, so an update cut short (power, kill) is finished after boot."""

    from_version: str
    to_version: str
    new_package: str
    previous_package: str  # the verified .deb of from_version: what a rollback installs
    phase: Phase = Phase.INSTALLING
    attempts: int = 0

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "phase": self.phase.value}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> UpdatePlan:
        return cls(**{**data, "phase": Phase(str(data["phase"]))})  # type: ignore[arg-type]


class Resume(StrEnum):
    NOTHING = "nothing"  # no update in progress
    INSTALL = "install"  # install the new version (again: dpkg -i is idempotent)
    CHECK = "check"  # check the new version's health from the start
    ROLL_BACK = "roll-back"  # too many attempts: the previous version comes back


def resume(plan: UpdatePlan | None, *, policy: HealthPolicy = HealthPolicy()) -> tuple[Resume, UpdatePlan | None]:
    """What an updater starting up does with the plan it finds (and the plan to write first)."""
    if plan is None or plan.phase in (Phase.DONE, Phase.ROLLED_BACK):
        return Resume.NOTHING, plan
    if plan.attempts >= policy.max_attempts:
        return Resume.ROLL_BACK, plan
    counted = replace(plan, attempts=plan.attempts + 1)
    return (Resume.INSTALL if plan.phase is Phase.INSTALLING else Resume.CHECK), counted
