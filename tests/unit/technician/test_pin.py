"""The technician PIN: the lockout rules (pure, Hypothesis over any sequence of attempts and
clock moves), and the guard on real files: a slow hash, a lockout that survives a restart, a
damaged state that locks rather than frees, every attempt audited in a 0600 append-only log."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.pin import LockoutPolicy, PinState, attempt_started, locked, pin_problem, succeeded
from hub.services.technician import LockedOut, NoPin, PinGuard, TechnicianFiles, WrongPin

from .profiles import PIN

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = LockoutPolicy(free_attempts=3, first_delay=timedelta(seconds=30), longest_delay=timedelta(hours=1))


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- the pure rules -------------------------------------------------------------------------------

steps = st.lists(
    st.tuples(st.sampled_from(["wrong", "right"]), st.integers(min_value=-7200, max_value=7200)),
    max_size=40,
)


@given(steps)
def test_no_pin_is_looked_at_while_locked_and_a_clock_set_back_never_shortens_a_wait(seq: list[tuple[str, int]]) -> None:
    state, now = PinState(), T0
    for outcome, move in seq:
        now = now + timedelta(seconds=move)
        lock = locked(state, now)
        if lock is not None:
            assert now < lock.until
            continue  # the guard refuses without checking: nothing changes
        before = state
        state = attempt_started(state, now, POLICY)
        assert state.failures == before.failures + 1  # counted before the check
        if state.locked_until is not None and before.locked_until is not None:
            assert state.locked_until >= before.locked_until  # never earlier than a wait already set
        if outcome == "right":
            state = succeeded(state)
            assert state == PinState()


@given(st.integers(min_value=0, max_value=500))
def test_the_wait_grows_with_each_wrong_pin_up_to_the_longest(failures: int) -> None:
    a, b = POLICY.delay_after(failures), POLICY.delay_after(failures + 1)
    assert timedelta(0) <= a <= b <= POLICY.longest_delay
    if failures < POLICY.free_attempts:
        assert b <= POLICY.first_delay


def test_three_typos_are_free_then_30_s_then_60_s() -> None:
    state = PinState()
    for _ in range(3):
        state = attempt_started(state, T0, POLICY)
        assert locked(state, T0) is None
    state = attempt_started(state, T0, POLICY)
    assert state.locked_until == T0 + timedelta(seconds=30)
    later = T0 + timedelta(seconds=30)
    assert locked(state, later) is None
    state = attempt_started(state, later, POLICY)
    assert state.locked_until == later + timedelta(seconds=60)


@given(st.text(max_size=14))
def test_pin_rules_take_only_six_to_twelve_digits(pin: str) -> None:
    if pin_problem(pin) is None:
        assert pin.isascii() and pin.isdigit() and 6 <= len(pin) <= 12


def test_weak_pins_are_refused() -> None:
    for pin in ("123456", "987654", "111111", "12345", "12ab56", "890123"):
        assert pin_problem(pin) is not None, pin
    assert pin_problem(PIN) is None


# --- the guard on files ---------------------------------------------------------------------------


def guard(tmp_path, clock: Clock) -> PinGuard:  # noqa: ANN001
    return PinGuard(TechnicianFiles(tmp_path), clock=clock, policy=POLICY)


def test_pin_is_stored_as_a_slow_hash_in_a_private_file(tmp_path) -> None:  # noqa: ANN001
    g = guard(tmp_path, Clock())
    g.set_pin(PIN, who="tone")
    files = TechnicianFiles(tmp_path)
    stored = json.loads(files.pin.read_text())
    assert stored["scheme"] == "scrypt" and stored["n"] >= 2**14
    assert PIN not in files.pin.read_text()
    for path in (files.pin, files.lockout, files.audit):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(files.secrets.stat().st_mode) == 0o700
    g.unlock(PIN, who="tone", action="kit")


def test_lockout_survives_a_restart_and_ends_when_the_wait_is_over(tmp_path) -> None:  # noqa: ANN001
    clock = Clock()
    guard(tmp_path, clock).set_pin(PIN, who="tone")
    for _ in range(4):
        with pytest.raises(WrongPin):
            guard(tmp_path, clock).unlock("000001", who="mallory", action="kit")  # a new guard each time: a restart
    with pytest.raises(LockedOut) as refused:
        guard(tmp_path, clock).unlock(PIN, who="tone", action="kit")  # even the right PIN waits
    assert refused.value.wait == timedelta(seconds=30)
    assert "30 s" in str(refused.value)
    clock.now += timedelta(seconds=31)
    guard(tmp_path, clock).unlock(PIN, who="tone", action="kit")
    assert guard(tmp_path, clock).state() == PinState()


def test_a_damaged_lockout_file_locks_rather_than_frees(tmp_path) -> None:  # noqa: ANN001
    clock = Clock()
    g = guard(tmp_path, clock)
    g.set_pin(PIN, who="tone")
    TechnicianFiles(tmp_path).lockout.write_text("{not json")
    with pytest.raises(LockedOut):
        g.unlock(PIN, who="tone", action="kit")


def test_an_attempt_is_counted_before_the_hash_is_checked(tmp_path) -> None:  # noqa: ANN001
    """A process killed while scrypt runs has already paid for the guess."""
    clock = Clock()
    g = guard(tmp_path, clock)
    g.set_pin(PIN, who="tone")
    seen: list[int] = []
    import hub.services.technician as technician

    real = technician.pin_matches

    def spy(pin: str, stored: dict) -> bool:
        seen.append(json.loads(TechnicianFiles(tmp_path).lockout.read_text())["failures"])
        return real(pin, stored)

    technician.pin_matches = spy
    try:
        with pytest.raises(WrongPin):
            g.unlock("000001", who="x", action="kit")
    finally:
        technician.pin_matches = real
    assert seen == [1]


def test_every_attempt_is_audited_without_the_pin_and_the_log_shows_a_removed_line(tmp_path) -> None:  # noqa: ANN001
    clock = Clock()
    g = guard(tmp_path, clock)
    with pytest.raises(NoPin):
        g.unlock(PIN, who="tone", action="kit")
    g.set_pin(PIN, who="tone")
    with pytest.raises(WrongPin):
        g.unlock("000001", who="tone", action="kit")
    g.unlock(PIN, who="tone", action="kit")
    entries = g.audit.entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [("set-pin", "ok"), ("kit", "wrong-pin"), ("kit", "unlocked")]
    assert all(e["who"] == "tone" and e["at"].startswith("2026-03-02T09:00") for e in entries)
    text = TechnicianFiles(tmp_path).audit.read_text()
    assert PIN not in text and "000001" not in text
    assert g.audit.broken_links() == []
    lines = text.splitlines(keepends=True)
    TechnicianFiles(tmp_path).audit.write_text(lines[0] + lines[2])
    assert g.audit.broken_links() == [2]
