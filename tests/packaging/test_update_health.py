"""The rollback decision after an update (pure): what a real Pi feeds it is systemd's view of the
hub (active? restarted?) and the installed version; the samples here are what it would see."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.platform.update_health import (
    HealthPolicy,
    HealthSample,
    Phase,
    Resume,
    UpdatePlan,
    Verdict,
    judge,
    resume,
)

POLICY = HealthPolicy(settle=120, deadline=600, max_restarts=0, max_attempts=2)
NEW = "0.2.0"


def run(*states: tuple[float, bool], restarts: int = 0, version: str | None = NEW) -> list[HealthSample]:
    return [HealthSample(elapsed=t, active=a, restarts=restarts, version=version) for t, a in states]


def test_active_without_a_restart_for_the_settle_time_is_healthy() -> None:
    samples = run((5, False), (20, True), (80, True), (140, True))
    assert judge(samples, expected_version=NEW, policy=POLICY).verdict is Verdict.HEALTHY


def test_active_but_not_yet_for_long_enough_waits() -> None:
    samples = run((5, False), (20, True), (100, True))
    assert judge(samples, expected_version=NEW, policy=POLICY).verdict is Verdict.WAIT


def test_a_restart_since_the_update_rolls_back_even_when_active_again() -> None:
    # A crash, or the watchdog killing a frozen loop: systemd restarts it and counts.
    samples = run((20, True), (200, True), restarts=1)
    decision = judge(samples, expected_version=NEW, policy=POLICY)
    assert decision.verdict is Verdict.ROLL_BACK
    assert "restarted 1" in decision.reason


def test_the_old_version_still_running_or_none_at_all_rolls_back() -> None:
    assert judge(run((20, True), version="0.1.0"), expected_version=NEW, policy=POLICY).verdict is Verdict.ROLL_BACK
    decision = judge(run((20, False), version=None), expected_version=NEW, policy=POLICY)
    assert decision.verdict is Verdict.ROLL_BACK and "does not start" in decision.reason


def test_never_settling_by_the_deadline_rolls_back() -> None:
    flapping = run((100, True), (200, False), (300, True), (400, False), (500, True), (600, True))
    decision = judge(flapping, expected_version=NEW, policy=POLICY)
    assert decision.verdict is Verdict.ROLL_BACK and "600" in decision.reason


def test_an_interruption_of_the_active_run_restarts_the_settle_clock() -> None:
    samples = run((10, True), (100, True), (110, False), (130, True), (200, True))
    assert judge(samples, expected_version=NEW, policy=POLICY).verdict is Verdict.WAIT


@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans(), st.integers(0, 3)), min_size=1, max_size=30))
def test_healthy_only_with_the_new_version_no_restart_and_a_settled_active_run(raw: list[tuple[float, bool, int]]) -> None:
    raw = sorted(raw)
    samples = [HealthSample(elapsed=t, active=a, restarts=r, version=NEW) for t, a, r in raw]
    decision = judge(samples, expected_version=NEW, policy=POLICY)
    if decision.verdict is Verdict.HEALTHY:
        assert all(s.restarts == 0 for s in samples)
        assert samples[-1].active
    if any(s.restarts for s in samples):
        assert decision.verdict is Verdict.ROLL_BACK
    if decision.verdict is Verdict.WAIT:
        assert samples[-1].elapsed < POLICY.deadline


def test_an_update_cut_short_is_finished_after_boot_then_rolled_back_after_too_many_tries() -> None:
    plan = UpdatePlan("0.1.0", NEW, "/var/lib/heima-update/downloads/new.deb", "/var/lib/heima-update/downloads/old.deb")
    action, plan1 = resume(plan, policy=POLICY)
    assert action is Resume.INSTALL and plan1 is not None and plan1.attempts == 1
    action, plan2 = resume(UpdatePlan.from_json(plan1.to_json() | {"phase": "checking"}), policy=POLICY)
    assert action is Resume.CHECK and plan2 is not None and plan2.attempts == 2
    action, _ = resume(plan2, policy=POLICY)
    assert action is Resume.ROLL_BACK
    for finished in (Phase.DONE, Phase.ROLLED_BACK):
        assert resume(UpdatePlan("0.1.0", NEW, "a", "b", phase=finished))[0] is Resume.NOTHING
    assert resume(None)[0] is Resume.NOTHING
