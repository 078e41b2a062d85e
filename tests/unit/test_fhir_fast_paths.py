"""The delivery path's shortcuts (issue 13) say exactly what the plain code said: names derived
with uuid5, search tokens escaped and URL-encoded, SampledData words formatted one by one, the
server's answer checked entry by entry, identifiers read back from their stored text."""

from __future__ import annotations

import math
import pickle
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.ids import TextUUID
from hub.domain.measurements import Measurement
from hub.domain.oximetry import SampledSeries
from hub.domain.readings import DeviceIdentity, MeasurementKind, Provenance, QualityFlag, Reading
from sync.fhir.bundles import BundleResponseError, _read_entry, issue_codes
from sync.fhir.codes import CONVERSIONS, codes_for, to_canonical
from sync.fhir.context import FhirContext, HubIdentity, OrganisationRef, PatientRef
from sync.fhir.devices import HEIMA_NAMESPACE, heima_urn, hub_reference, search_token
from sync.fhir.observations import PANEL_COMPONENTS, MappingError, _device_value, observation_for, sampled_data
from tests.unit.hub.factories import measurement, spo2


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


# -- reading the server's answer, entry by entry ------------------------------------------------------


def _plain_read_entry(index: int, resource_type: str, got):
    """The answer check as it was before its short cuts (issue 13)."""
    response = got.get("response") if isinstance(got, dict) else None
    if not isinstance(response, dict):
        raise BundleResponseError(f"reply entry {index} has no response")
    match = re.match(r"^\s*([1-5][0-9]{2})(\s|$)", str(response.get("status", "")))
    if not match:
        raise BundleResponseError(f"reply entry {index} has no valid HTTP status")
    status = int(match.group(1))
    location = response.get("location")
    if location is not None and not isinstance(location, str):
        raise BundleResponseError(f"reply entry {index} has a malformed location")
    if location and not re.search(rf"(^|/){re.escape(resource_type)}/[^/]+", location):
        raise BundleResponseError(f"reply entry {index} names a resource of another type than requested ({resource_type})")
    outcome = response.get("outcome")
    if outcome is None:
        return status, location or None, ()
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    has_error = isinstance(issues, list) and any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues)
    if 200 <= status < 300 and has_error:
        raise BundleResponseError(f"reply entry {index} says {status} but carries an error outcome")
    return status, location or None, issue_codes(outcome)


def _outcome_of(result):
    try:
        return result()
    except BundleResponseError as exc:
        return ("refused", str(exc))


TYPES = st.sampled_from(["Observation", "Device", "QuestionnaireResponse", "Obs", ""])
WORDS = st.sampled_from(["information", "informational", "error", "fatal", "warning", "processing", "duplicate", "", "Error"])
ISSUE = st.one_of(
    st.fixed_dictionaries({}, optional={"severity": st.one_of(WORDS, st.integers(), st.none()), "code": st.one_of(WORDS, st.none())}),
    st.integers(),
)
OUTCOME = st.one_of(
    st.none(),
    st.fixed_dictionaries({"resourceType": st.just("OperationOutcome")}, optional={"issue": st.one_of(st.lists(ISSUE, max_size=3), st.text(max_size=3))}),
    st.lists(ISSUE, max_size=1),
)
STATUS = st.one_of(
    st.sampled_from(["201", "201 Created", "200 OK", " 200", "200OK", "412 Precondition Failed", "500", "99", "600 x"]),
    st.integers(-5, 700),
    st.text(max_size=6),
)
LOCATION = st.one_of(
    st.none(),
    st.integers(),
    st.sampled_from(["", "/", "Observation/", "Observation//x", "Observation/1/_history/2", "https://x/fhir/Observation/9", "Device/1"]),
    st.builds(lambda t, rest: t + rest, TYPES, st.text(alphabet="/ab1", max_size=5)),
    st.text(max_size=8),
)
ENTRY = st.one_of(
    st.fixed_dictionaries({}, optional={"response": st.fixed_dictionaries({}, optional={"status": STATUS, "location": LOCATION, "outcome": OUTCOME})}),
    st.fixed_dictionaries({"response": st.integers()}),
    st.text(max_size=2),
)


@given(st.integers(0, 500), TYPES, ENTRY)
def test_an_answer_entry_is_read_as_the_plain_checks_read_it(index, resource_type, got):
    assert _outcome_of(lambda: _read_entry(index, resource_type, got)) == _outcome_of(
        lambda: _plain_read_entry(index, resource_type, got)
    )


# -- identifiers read back from the store ---------------------------------------------------------------


@given(st.uuids())
def test_an_identifier_read_as_text_is_the_same_uuid(value):
    for text in (str(value), str(value).upper(), value.hex, "{" + str(value) + "}", f"urn:uuid:{value}"):
        read = TextUUID.of(text)
        assert read == value and hash(read) == hash(value) and {read: 1}[value] == 1
        assert str(read) == str(value) and f"{read}" == str(value) and read.hex == value.hex
    assert str(pickle.loads(pickle.dumps(TextUUID.of(str(value))))) == str(value)


@given(st.text(max_size=40))
def test_text_that_is_no_uuid_is_refused_as_uuid_refuses_it(text):
    check_parity(text)


def check_parity(text: str) -> None:
    try:
        expected = uuid.UUID(text)
    except ValueError:
        with pytest.raises(ValueError):
            TextUUID.of(text)
    else:
        assert TextUUID.of(text) == expected and str(TextUUID.of(text)) == str(expected)


@given(st.uuids(), st.integers(0, 35), st.sampled_from(["_", "+", " ", "\u0663", "x", "-", "A", "0"]))
def test_an_almost_canonical_text_is_read_as_uuid_reads_it(value, at, char):
    check_parity(str(value)[:at] + char + str(value)[at + 1 :])


# -- the usual Observation, from the parts it shares with the others ---------------------------------------

DEVICES = st.sampled_from(
    [
        None,
        DeviceIdentity(address="C0:FF:EE:00:00:01", name="Heima PLX 1", manufacturer="Heima", model="PLX-1", serial="SN-0001"),
        DeviceIdentity(address="C0:FF:EE:00:00:02"),
        DeviceIdentity(address="C0:FF:EE:00:00:03", model="UA-651", system_id="0011223344556677"),
    ]
)
CONTEXTS = st.sampled_from(
    [
        FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1")),
        FhirContext(patient=PatientRef(identifier="15854540030", display="Test"), hub=HubIdentity(serial="HUB-2", name="Stua")),
        FhirContext(patient=PatientRef(reference="Patient/7"), hub=HubIdentity(serial="HUB-3"), organisation=OrganisationRef("974633574")),
        FhirContext(patient=PatientRef(), hub=HubIdentity(serial="HUB-4", system_id="0011223344556677")),
    ]
)
UNITS = st.sampled_from(["%", "/min", "mm[Hg]", "kPa", "Cel", "[degF]", "kg", "[lb_av]", "g", "cm", "m", "mmol/L", "mg/dL", "1", " kPa", "?"])
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e6, 1e6), st.integers(-1000, 1000).map(float), st.integers(0, 300))
FLAGS = st.frozensets(st.sampled_from(list(QualityFlag)), max_size=2)
SIMPLE_KINDS = [k for k in MeasurementKind if k not in PANEL_COMPONENTS and "SERIES" not in k.name]


@st.composite
def measurements(draw):
    """Any simple measurement; half of them the delivery path's usual one (a device's value, nothing
    flagged, no words), in the kind's own unit or one that converts."""
    kind = draw(st.sampled_from(SIMPLE_KINDS))
    usual = draw(st.booleans())
    when = draw(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-3, minutes=-30))])))
    own_units = [u for u in (codes_for(kind).ucum, *CONVERSIONS.get(kind, {})) if u]
    reading = Reading(
        kind=kind,
        value=draw(VALUES),
        unit=draw(st.sampled_from(own_units) if usual and own_units else UNITS),
        received_at=when,
        device=draw(DEVICES.filter(lambda d: d is not None) if usual else DEVICES),
        flags=frozenset() if usual else draw(FLAGS),
        body_site=None if usual else draw(st.one_of(st.none(), st.sampled_from(["finger", "ear", "control solution"]))),
        context=() if usual else draw(st.one_of(st.just(()), st.just((("meal", "preprandial"),)))),
    )
    return Measurement(
        id=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        reading=reading,
        provenance=Provenance.DEVICE if usual else draw(st.sampled_from(list(Provenance))),
        effective_time=when,
        natural_key=None,
    )


def _plain_observation(m, ctx):
    # A gateway reference (the same one the default gives) steers observation_for to the plain code.
    return observation_for(m, ctx, gateway_reference=hub_reference(ctx.hub))


def _bytes_or_refusal(build):
    try:
        return orjson.dumps(build())
    except (MappingError, TypeError) as exc:  # TypeError: orjson and a number past 64 bits, both ways
        return type(exc)


@given(measurements(), CONTEXTS)
def test_the_usual_observation_is_the_plain_mappers_byte_for_byte(m, ctx):
    plain = _bytes_or_refusal(lambda: _plain_observation(m, ctx))
    assert _bytes_or_refusal(lambda: observation_for(m, ctx)) == plain
    if _device_value(m, ctx) is not None:
        assert _bytes_or_refusal(lambda: _device_value(m, ctx)) == plain


def test_a_stored_oximeter_value_takes_the_short_way():
    """Not vacuous: the delivery path's usual row is built by the short cut."""
    ctx = FhirContext(patient=PatientRef(identifier="13116900216"), hub=HubIdentity(serial="HUB-1"))
    for value in (97.0, 93.5):
        m = measurement(spo2(value))
        assert _device_value(m, ctx) is not None
        assert orjson.dumps(observation_for(m, ctx)) == orjson.dumps(_plain_observation(m, ctx))
