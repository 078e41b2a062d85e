"""The delivery path's shortcuts (issue 13) say exactly what the plain code said: names derived
with uuid5, search tokens escaped and URL-encoded, SampledData words formatted one by one."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.oximetry import SampledSeries
from hub.domain.readings import MeasurementKind
from sync.fhir.codes import to_canonical
from sync.fhir.devices import HEIMA_NAMESPACE, heima_urn, search_token
from sync.fhir.observations import sampled_data


@given(st.text())
def test_heima_urn_is_uuid5_in_the_heima_namespace(name):
    assert heima_urn(name) == f"urn:uuid:{uuid.uuid5(HEIMA_NAMESPACE, name)}"


def _plain_search_token(system: str, value: str) -> str:
    escaped = [re.sub(r"([\\,$|])", r"\\\1", part) for part in (system, value)]
    return "|".join(quote(part, safe=":/-._~@") for part in escaped)


@given(st.text(), st.text())
def test_search_tokens_are_escaped_as_before(system, value):
    assert search_token(system, value) == _plain_search_token(system, value)


def _plain_words(kind: MeasurementKind, values, unit: str) -> str:
    words = []
    for value in values:
        if value is None:
            words.append("E")
            continue
        number = round(to_canonical(kind, value, unit), 2)
        words.append("E" if not math.isfinite(number) else (f"{number:g}" if number == round(number, 1) else str(number)))
    return " ".join(words)


@given(st.lists(st.one_of(st.none(), st.integers(0, 65534).map(lambda tenths: tenths / 10)), min_size=1, max_size=300))
def test_sampled_data_words_are_the_per_sample_formatting(values):
    series = SampledSeries(datetime(2026, 1, 1, tzinfo=UTC), 1.0, tuple(values))
    for kind, unit in ((MeasurementKind.OXYGEN_SATURATION_SERIES, "%"), (MeasurementKind.PULSE_RATE_SERIES, "/min")):
        got = sampled_data(kind, series, unit)["valueSampledData"]["data"]
        assert got == _plain_words(kind, values, unit)
