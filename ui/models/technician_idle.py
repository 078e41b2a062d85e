"""Technician mode locks itself: a technician who walks away without leaving it must not leave
the patient in it. After `IDLE_SECONDS` without a touch the app goes back to the patient's Today
screen and the desk audits "technician mode left: idle" (ui/screens/technician.py wires it: every
touch of the window resets the timer, Kivy's Clock asks `expired()` once a second).

The clock is injected (`now`, monotonic seconds: a wall clock set by NTP must not end or stretch
the wait), so a test moves it instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable

IDLE_SECONDS = 5 * 60.0


class IdleTimer:
    def __init__(self, now: Callable[[], float] = time.monotonic, seconds: float = IDLE_SECONDS) -> None:
        self.now = now
        self.seconds = seconds
        self.running = False
        self.checked: float | None = None  # when `expired()` last looked (tests wait on it)
        self._last = 0.0

    def start(self) -> None:
        """Technician mode was entered: the wait starts now."""
        self.running, self._last = True, self.now()

    def stop(self) -> None:
        """Technician mode was left: nothing to time."""
        self.running = False

    def touch(self) -> None:
        """A touch (or work the technician waits for): the wait starts again."""
        if self.running:
            self._last = self.now()

    def remaining(self) -> float:
        return max(0.0, self.seconds - (self.now() - self._last)) if self.running else self.seconds

    def expired(self) -> bool:
        self.checked = self.now()
        return self.running and self.checked - self._last >= self.seconds


__all__ = ["IDLE_SECONDS", "IdleTimer"]
