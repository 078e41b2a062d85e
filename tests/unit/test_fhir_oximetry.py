"""Continuous oximetry in FHIR: a chunk is one Observation with valueSampledData over a period; a
recording's summary is one panel. Checked with fhir.resources and by what a nurse's system reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fhir.resources.R4B.observation import Observation

from hub.domain.measurements import Measurement
from hub.domain.oximetry import OximetryPoint, OximetryRecorder, SampledSeries, series_readings, summary_reading
from hub.domain.readings import Provenance
from sync.fhir.codes import HEIMA_OXIMETRY, MDC
from sync.fhir.observations import observation_for
from tests.servers.samples import CTX, OXIMETER

NIGHT = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)


def accepted(reading) -> dict:
    m = Measurement(uuid.uuid4(), reading, Provenance.DEVICE, reading.received_at, None)
    obs = observation_for(m, CTX)
    Observation.model_validate(obs)
    return obs


def test_a_chunk_is_one_observation_with_sampled_data_and_empty_slots_marked_E():
    spo2 = SampledSeries(NIGHT, 1.0, (97.0, 96.5, None, 88.0))
    pulse = SampledSeries(NIGHT, 1.0, (61.0, 62.0, None, 70.0))
    s, p = (accepted(r) for r in series_readings(spo2, pulse, device=OXIMETER))
    # coded as the PHD IG codes sampled data (MDC + text), never as an R4 vital sign: the
    # oxygen-saturation and heart-rate profiles forbid valueSampledData
    assert s["code"] == {"coding": [{"system": MDC, "code": "150456", "display": "MDC_PULS_OXIM_SAT_O2"}], "text": "Oxygen saturation (SpO2), continuous"}
    assert p["code"]["coding"] == [{"system": MDC, "code": "149530", "display": "MDC_PULS_OXIM_PULS_RATE"}]
    assert [cat["coding"][0]["code"] for cat in s["category"]] == ["phd"] and [cat["coding"][0]["code"] for cat in p["category"]] == ["phd"]
    assert s["valueSampledData"] == {
        "origin": {"value": 0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        "period": 1000,
        "dimensions": 1,
        "data": "97 96.5 E 88",
    }
    assert s["effectivePeriod"] == {"start": "2026-11-21T23:00:00+00:00", "end": "2026-11-21T23:00:04+00:00"}
    assert "effectiveDateTime" not in s and "valueQuantity" not in s
    assert p["valueSampledData"]["data"] == "61 62 E 70" and p["valueSampledData"]["origin"]["code"] == "/min"


def test_a_chunk_without_any_value_is_still_sent_as_samples_never_as_a_number():
    spo2 = SampledSeries(NIGHT, 1.0, (None, None))
    s, _ = (accepted(r) for r in series_readings(spo2, spo2, device=OXIMETER))
    assert s["valueSampledData"]["data"] == "E E" and "dataAbsentReason" not in s


def test_the_summary_is_one_panel_over_the_recording_with_its_figures():
    recorder = OximetryRecorder(period=1.0, chunk=600.0)
    for i in range(1200):
        recorder.add(OximetryPoint(NIGHT + timedelta(seconds=i), 85.0 if i < 120 else 95.0, 60.0, OXIMETER))
    _, summary = recorder.close()
    obs = accepted(summary_reading(summary, device=OXIMETER))
    assert obs["effectivePeriod"] == {"start": "2026-11-21T23:00:00+00:00", "end": "2026-11-21T23:20:00+00:00"}
    assert [cat["coding"][0]["code"] for cat in obs["category"]] == ["phd"]  # no vital sign in R4's sense
    figures = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
    assert all(c["code"]["coding"][0]["system"] == HEIMA_OXIMETRY for c in obs["component"])
    assert figures["spo2-lowest"]["value"] == 85 and figures["spo2-mean"]["value"] == 94
    assert figures["time-below-90"] == {"value": 2, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
    assert figures["valid-time"]["value"] == 20 and figures["pulse-rate-mean"]["value"] == 60
    assert "valueQuantity" not in obs
