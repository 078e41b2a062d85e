"""Reconnect delays with full jitter: after a broker restart thousands of hubs must not come back
in the same second (Mosquitto spends ~2 ms of CPU per mTLS connect)."""

from __future__ import annotations

import random
from collections.abc import Callable


def reconnect_delay(attempt: int, *, base: float = 0.5, cap: float = 60.0, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0 = the first retry after a drop):
    uniform between a small floor and min(cap, base * 2**attempt)."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    floor = min(0.05, ceiling)  # never a busy loop, even with an unlucky draw
    return uniform(floor, ceiling)
