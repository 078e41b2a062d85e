"""The technician PIN's lockout rules: how many wrong PINs are forgiven, and how long the hub
then refuses to even look at a PIN. Pure: the caller passes the time in and persists the state.

A few wrong PINs are typing mistakes; after `free_attempts` the hub waits `first_delay`, and
every further wrong PIN doubles the wait up to `longest_delay`. A right PIN clears everything.
An attempt is counted *before* the PIN is checked (hub.services.technician persists
`attempt_started` first): killing the process while the slow hash runs cannot buy a free guess.

A clock set backwards (a Raspberry Pi boots with the last saved time until NTP answers) never
shortens a lockout: the wait is measured from the later of the failure time and now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    free_attempts: int = 3  # wrong PINs forgiven before the first wait
    first_delay: timedelta = timedelta(seconds=30)
    longest_delay: timedelta = timedelta(hours=1)

    def delay_after(self, failures: int) -> timedelta:
        """The wait after the `failures`-th consecutive wrong PIN (zero while still free)."""
        over = failures - self.free_attempts
        if over <= 0:
            return timedelta(0)
        # Doubling, capped; the exponent is capped too so a huge count cannot overflow.
        delay = self.first_delay * (2 ** min(over - 1, 32))
        return min(delay, self.longest_delay)


@dataclass(frozen=True, slots=True)
class PinState:
    """What survives a restart: consecutive failures and when the hub looks at a PIN again."""

    failures: int = 0
    locked_until: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "failures": self.failures,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }

    @classmethod
    def from_json(cls, data: object) -> PinState:
        """A state read back; anything damaged counts as locked for the longest wait from now
        on the caller's side (see `damaged`), never as a fresh start."""
        if not isinstance(data, dict):
            raise ValueError("the lockout state is not an object")
        failures = data.get("failures")
        until = data.get("locked_until")
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            raise ValueError("the lockout state's failure count is not a count")
        if until is not None and not isinstance(until, str):
            raise ValueError("the lockout state's time is not a time")
        locked_until = datetime.fromisoformat(until) if until else None
        if locked_until is not None and locked_until.tzinfo is None:
            raise ValueError("the lockout state's time has no time zone")
        return cls(failures=failures, locked_until=locked_until)


def damaged(now: datetime, policy: LockoutPolicy) -> PinState:
    """The state to assume when the stored one cannot be read: locked, for the longest wait."""
    return PinState(failures=policy.free_attempts + 32, locked_until=now + policy.longest_delay)


@dataclass(frozen=True, slots=True)
class Locked:
    until: datetime

    def wait(self, now: datetime) -> timedelta:
        return max(self.until - now, timedelta(0))


def locked(state: PinState, now: datetime) -> Locked | None:
    """Locked (until when) or None: may a PIN be checked now?"""
    if state.locked_until is not None and now < state.locked_until:
        return Locked(state.locked_until)
    return None


def attempt_started(state: PinState, now: datetime, policy: LockoutPolicy) -> PinState:
    """The state to persist before checking a PIN: counted as wrong until proven right (a
    wrong PIN then leaves it as it is; a right one replaces it with `succeeded`)."""
    failures = state.failures + 1
    delay = policy.delay_after(failures)
    if delay <= timedelta(0):
        return replace(state, failures=failures)
    start = max(now, state.locked_until) if state.locked_until else now
    return PinState(failures=failures, locked_until=start + delay)


def succeeded(state: PinState) -> PinState:
    """A right PIN: no failures, no wait."""
    return PinState()


def pin_problem(pin: str) -> str | None:
    """Why `pin` cannot be a technician PIN, or None. Six to twelve digits, not one digit
    repeated and not a straight run (123456, 987654): the first guesses anyone tries."""
    if not pin.isascii() or not pin.isdigit() or not 6 <= len(pin) <= 12:
        return "the PIN must be 6 to 12 digits"
    if len(set(pin)) == 1:
        return "the PIN must not be one digit repeated"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({1}, {9}):
        return "the PIN must not be a run of digits (like 123456)"
    return None
