"""Readings taken while the hub's clock was wrong are placed correctly once it is right."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hub.domain.clock import MonotonicAnchor, place_after_trust
from hub.domain.readings import QualityFlag

from .factories import measurement, spo2

BOOT = "boot-1"
# The Pi booted believing it was 2026-01-01 (its last saved time); NTP later said 2026-11-21.
WRONG = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RIGHT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def untrusted(reading):
    return measurement(replace(reading, flags=reading.flags | {QualityFlag.HUB_CLOCK_UNTRUSTED}))


def test_a_live_reading_moves_by_exactly_the_clock_jump():
    m = untrusted(spo2(received_at=WRONG))
    placed = place_after_trust(m, MonotonicAnchor(BOOT, 100.0), now=RIGHT, now_anchor=MonotonicAnchor(BOOT, 160.0))
    assert placed.reading.received_at == RIGHT - timedelta(seconds=60)
    assert placed.effective_time == RIGHT - timedelta(seconds=60)
    assert QualityFlag.HUB_CLOCK_UNTRUSTED not in placed.reading.flags
    assert placed.id == m.id


def test_a_stored_record_keeps_its_own_device_time():
    m = untrusted(spo2(received_at=WRONG, stored_at=datetime(2026, 11, 20, 8, 0)))
    m = replace(m, effective_time=datetime(2026, 11, 20, 7, 0, tzinfo=UTC))
    placed = place_after_trust(m, MonotonicAnchor(BOOT, 100.0), now=RIGHT, now_anchor=MonotonicAnchor(BOOT, 160.0))
    assert placed.effective_time == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def test_after_a_reboot_the_time_cannot_be_placed_and_is_flagged():
    m = untrusted(spo2(received_at=WRONG))
    placed = place_after_trust(m, MonotonicAnchor("boot-0", 100.0), now=RIGHT, now_anchor=MonotonicAnchor(BOOT, 5.0))
    assert placed.effective_time == m.effective_time
    assert QualityFlag.TIME_QUESTIONABLE in placed.reading.flags
    assert QualityFlag.HUB_CLOCK_UNTRUSTED not in placed.reading.flags
