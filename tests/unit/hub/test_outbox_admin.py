"""What `heima sync` and `heima status` say about rows that wait: the reason, and the next try in
the hub's zone — with the hub's time given, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config import DestinationConfig
from hub.domain.readings import MeasurementKind
from hub.app.outbox_admin import HELD_NOTE, kinds_taken, waiting_lines
from hub.store import Waiting

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
OSLO = ZoneInfo("Europe/Oslo")


def test_a_destination_backing_off_says_why_and_when_in_the_hubs_zone():
    w = Waiting("kommune", 2, 0, NOW + timedelta(seconds=64), "could not connect to the FHIR server; will retry")
    assert waiting_lines(w, now=NOW, zone=OSLO) == [
        "  why: could not connect to the FHIR server; will retry",
        "  next try: 2026-11-21 10:31:04 (Europe/Oslo), in 1 min 4 s",
    ]


def test_rows_due_now_and_rows_held_for_the_clock_say_so():
    w = Waiting("kommune", 3, 1, NOW - timedelta(minutes=5), None)
    assert waiting_lines(w, now=NOW, zone=OSLO) == [
        "  why: not tried yet",
        "  next try: due now (the next `heima sync`, or the running hub at once)",
        f"  1 of them {HELD_NOTE}",
    ]
    held_only = Waiting("kommune", 2, 2, None, None)
    assert waiting_lines(held_only, now=NOW, zone=OSLO)[1:] == [f"  2 of them {HELD_NOTE}"]


def test_a_long_backoff_reads_in_hours():
    w = Waiting("pmd", 1, 0, NOW + timedelta(hours=1, minutes=2), "the server answered 503; will retry")
    assert waiting_lines(w, now=NOW, zone=OSLO)[1].endswith("in 1 h 2 min")


def test_pasientens_maledata_is_not_handed_continuous_oximetry():
    pmd = DestinationConfig(name="pmd", kind="nhn-pmd", url="https://pmd.example/R4", receives=("vital-signs",))
    folder = DestinationConfig(name="usb", kind="directory")
    assert MeasurementKind.OXYGEN_SATURATION_SERIES.value not in kinds_taken(pmd)
    assert MeasurementKind.OXYGEN_SATURATION.value in kinds_taken(pmd)
    assert len(kinds_taken(folder)) == len(MeasurementKind)
