"""When a live oximetry stream counts as one spot measurement: the stability rule. Pure.

No I/O, no clock: the caller passes a monotonic time with every sample. Device-independent: each
streaming driver turns its vendor's frames into `OximetrySample`s.

A sample is *good* when the device reports a finger (or does not say), a usable signal (not
searching, not weak / low perfusion, probe plugged in) and both values present and non-zero. A
sample that says "no finger" starts over; so does no good sample for `max_gap` seconds (other
bad samples in between are tolerated: one artefact must not restart a 100 Hz stream). The
reading is stable once good samples have run for at least `hold_seconds` (5 s), the last
`hold_seconds` hold at least `min_samples` (5) good samples, and within those SpO2 varies by at
most `max_spo2_spread` (2 %) and pulse rate by at most `max_pulse_spread` (5 /min). The spot
value is the lower median of each over that window: always a value the device actually sent,
never an average it did not.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OximetrySample:
    """One frame's worth of live oximetry, device-independent.

    finger: True / False when the device says whether a finger is in, None when it cannot tell.
    signal_ok: False when the device says it is searching, the signal is weak, or the probe is out.
    """

    spo2: int | None
    pulse_rate: int | None
    finger: bool | None = None
    signal_ok: bool = True

    @property
    def good(self) -> bool:
        return (
            self.finger is not False
            and self.signal_ok
            and bool(self.spo2)  # None and 0 are not readings
            and bool(self.pulse_rate)
        )


@dataclass(frozen=True, slots=True)
class StabilityRule:
    """When a live stream counts as one spot measurement (see the module docstring)."""

    hold_seconds: float = 5.0
    min_samples: int = 5
    max_spo2_spread: int = 2
    max_pulse_spread: int = 5
    max_gap: float = 2.0

    def __post_init__(self) -> None:
        if self.hold_seconds <= 0 or self.min_samples < 1 or self.max_gap <= 0:
            raise ValueError("hold_seconds and max_gap must be positive, min_samples at least 1")
        if self.max_spo2_spread < 0 or self.max_pulse_spread < 0:
            raise ValueError("spreads cannot be negative")


@dataclass(frozen=True, slots=True)
class StableValue:
    """The spot value of a stable stretch: lower medians over the window."""

    spo2: int = field(repr=False)
    pulse_rate: int = field(repr=False)
    samples: int
    seconds: float


class StabilityTracker:
    """Feeds samples (with a monotonic time in seconds) through a `StabilityRule`. Pure."""

    def __init__(self, rule: StabilityRule) -> None:
        self.rule = rule
        self._window: deque[tuple[float, int, int]] = deque()
        self._run_start: float | None = None
        self._last_good: float | None = None

    def reset(self) -> None:
        self._window.clear()
        self._run_start = None
        self._last_good = None

    def progress(self, now: float) -> float:
        """How far the current run is towards `hold_seconds` (0..1)."""
        if self._run_start is None:
            return 0.0
        return max(0.0, min(1.0, (now - self._run_start) / self.rule.hold_seconds))

    def add(self, now: float, sample: OximetrySample) -> StableValue | None:
        rule = self.rule
        if sample.finger is False:
            self.reset()
            return None
        if self._last_good is not None and now - self._last_good > rule.max_gap:
            self.reset()
        if not sample.good:
            return None
        assert sample.spo2 is not None and sample.pulse_rate is not None
        if self._run_start is None:
            self._run_start = now
        self._last_good = now
        self._window.append((now, sample.spo2, sample.pulse_rate))
        while self._window and self._window[0][0] < now - rule.hold_seconds:
            self._window.popleft()
        if now - self._run_start < rule.hold_seconds or len(self._window) < rule.min_samples:
            return None
        spo2 = [s for _, s, _ in self._window]
        pulse = [p for _, _, p in self._window]
        if max(spo2) - min(spo2) > rule.max_spo2_spread or max(pulse) - min(pulse) > rule.max_pulse_spread:
            return None
        return StableValue(
            spo2=statistics.median_low(spo2),
            pulse_rate=statistics.median_low(pulse),
            samples=len(self._window),
            seconds=now - self._window[0][0],
        )


__all__ = ["OximetrySample", "StabilityRule", "StabilityTracker", "StableValue"]
