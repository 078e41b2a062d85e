"""The hub's own clock can be wrong: a Raspberry Pi has no battery-backed clock and boots with
the last saved time until NTP answers. A reading received before the clock is trusted is kept
with a monotonic anchor (boot id + seconds since boot) and placed on the timeline once the clock
is trusted — never guessed, never sent with a wrong time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hub.domain.measurements import Measurement, MonotonicAnchor
from hub.domain.readings import QualityFlag

__all__ = ["MonotonicAnchor", "place_after_trust"]


def place_after_trust(
    m: Measurement, received: MonotonicAnchor, *, now: datetime, now_anchor: MonotonicAnchor
) -> Measurement:
    """The measurement with its times moved onto the now-trusted clock.

    Within the same boot the wall clock's jump is known exactly, and every time derived from the
    hub clock moves by it: the reception time, and the effective time unless it is a stored
    record's own device time (which never depended on the hub clock). After a reboot the jump is
    unknowable: the time is kept and flagged questionable.
    """
    flags = m.reading.flags - {QualityFlag.HUB_CLOCK_UNTRUSTED}
    if received.boot_id != now_anchor.boot_id:
        reading = replace(m.reading, flags=flags | {QualityFlag.TIME_QUESTIONABLE})
        return replace(m, reading=reading)
    true_reception = now - timedelta(seconds=now_anchor.seconds - received.seconds)
    jump = true_reception - m.reading.received_at
    r = m.reading
    independent_of_hub_clock = QualityFlag.FROM_STORAGE in r.flags and r.device_clock_offset is None and r.device_time is not None
    effective = m.effective_time if independent_of_hub_clock else m.effective_time + jump
    return replace(m, reading=replace(r, flags=flags, received_at=true_reception), effective_time=effective)
