"""The hub's own clock, and whether to trust it.

On a Raspberry Pi (no battery-backed clock) the wall clock is wrong from boot until NTP has
answered; `wait_for_ntp=True` makes the hub hold readings until then (see hub/domain/clock.py).
A tablet or PC with a real-time clock trusts its clock from the start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from hub.domain.measurements import MonotonicAnchor

TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")  # touched by systemd-timesyncd on sync
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_TIME_ERROR = 5  # adjtimex(): the clock is not synchronised


class SystemClock:
    def __init__(self, *, wait_for_ntp: bool = False) -> None:
        self.wait_for_ntp = wait_for_ntp
        self._trusted = not wait_for_ntp
        try:
            self._boot_id = BOOT_ID.read_text().strip()
        except OSError:  # not Linux: one id per process is the best we know
            self._boot_id = f"process-{os.getpid()}-{time.monotonic_ns()}"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def anchor(self) -> MonotonicAnchor:
        clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
        return MonotonicAnchor(self._boot_id, time.clock_gettime(clock))

    def is_trusted(self) -> bool:
        """Once trusted, trusted for the rest of the run (NTP keeps it right from then on)."""
        if not self._trusted:
            self._trusted = TIMESYNCD_FLAG.exists() or _kernel_says_synchronised()
        return self._trusted


def _kernel_says_synchronised() -> bool:
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex; modes = 0 reads only
        return libc.adjtimex(buf) not in (-1, _TIME_ERROR)
    except (OSError, AttributeError):
        return False
