"""The pure readers of what a server says, fed random hostile replies (Hypothesis): a marker
planted anywhere in the reply never comes out in an error, a reason or a log line. Only codes
from fixed lists (FHIR IssueSeverity/IssueType, OAuth error codes) and status numbers do.

The same guarantee against a real server on loopback: tests/integration/test_server_text.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.auth import AuthError, PrivateKeyJwtAuth, SigningKey
from sync.delivery import DeliveryError
from sync.destinations.fhir_server import FhirServerDestination
from sync.fhir.bundles import BundleResponseError, batch_bundle, issue_codes, parse_response, transaction_bundle
from sync.server_text import (
    ISSUE_SEVERITIES,
    ISSUE_TYPES,
    OAUTH_ERRORS,
    ServerTextFilter,
    seconds_text,
    status_text,
)
from tests.servers.samples import CTX, batch

MARKER = "heimaleak"  # shaped like a code, so only a fixed list keeps it out

MEASUREMENTS = batch(2)
REQUESTS = {"batch": batch_bundle(MEASUREMENTS, CTX), "transaction": transaction_bundle(MEASUREMENTS, CTX)}
ENTRIES = len(REQUESTS["batch"]["entry"])

# Strings a hostile server might send: the marker alone and inside plausible values, plus the
# values a reader looks for (so generated replies reach the deep paths), plus anything at all.
hostile_text = st.sampled_from(
    [
        MARKER,
        f"201 {MARKER}",
        f"422 {MARKER}",
        f"{MARKER} 201",
        f"Observation/{MARKER}",
        f"{MARKER}/Observation/1",
        f"{MARKER}-response",
        f"error {MARKER}",
        MARKER.upper(),
    ]
)
known_text = st.sampled_from(
    [
        "Bundle",
        "OperationOutcome",
        "batch-response",
        "transaction-response",
        "201 Created",
        "200 OK",
        "400 Bad Request",
        "422",
        "Observation/1",
        "Device/2",
        "error",
        "fatal",
        "invalid",
        "processing",
    ]
)
strings = hostile_text | known_text | st.text(max_size=12)
keys = st.sampled_from(
    ["resourceType", "type", "entry", "response", "status", "location", "outcome", "issue", "severity", "code",
     "diagnostics", "details", "text", "expression", "id", MARKER]
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | strings,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys | strings, children, max_size=6),
    max_leaves=30,
)
issues = st.lists(
    st.fixed_dictionaries(
        {"severity": hostile_text | known_text, "code": hostile_text | known_text},
        optional={"diagnostics": hostile_text, "details": st.fixed_dictionaries({"text": hostile_text})},
    ),
    max_size=4,
)
outcomes = st.fixed_dictionaries({"resourceType": st.just("OperationOutcome") | hostile_text, "issue": issues})
entry_responses = st.fixed_dictionaries(
    {"status": hostile_text | known_text},
    optional={"location": hostile_text | known_text, "outcome": outcomes | json_values, MARKER: strings},
)
reply_entries = st.lists(st.fixed_dictionaries({"response": entry_responses}) | json_values, min_size=ENTRIES, max_size=ENTRIES)
bundles = st.fixed_dictionaries(
    {
        "resourceType": st.just("Bundle") | hostile_text,
        "type": st.sampled_from(["batch-response", "transaction-response"]) | hostile_text,
        "entry": reply_entries | st.lists(json_values, max_size=5),
    },
    optional={"id": hostile_text, MARKER: json_values},
)
replies = bundles | outcomes | json_values


def _bytes(reply: object) -> bytes:
    return reply if isinstance(reply, bytes) else json.dumps(reply).encode()


reply_bodies = replies.map(_bytes) | st.sampled_from([MARKER.encode(), f"<html>{MARKER}</html>".encode(), b"\xff" + MARKER.encode()])


@contextmanager
def kept_logs() -> Iterator[list[str]]:
    """Every log line (formatted, with any traceback) emitted inside the block, at DEBUG."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter().format(record))

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("mode", ["batch", "transaction"])
@given(body=reply_bodies)
def test_reading_a_response_bundle_never_repeats_the_reply(mode, body):
    try:
        outcomes = parse_response(body, REQUESTS[mode])
    except BundleResponseError as exc:
        assert MARKER not in str(exc).lower()
        return
    for outcome in outcomes:
        # `location` is the server's name for what it stored (kept in PMD's ack ledger, never in
        # a message); everything else an outcome says must be ours.
        assert MARKER not in repr((outcome.resource_type, outcome.status, outcome.issues, outcome.problem)).lower()


@given(outcome=outcomes | json_values)
def test_issue_codes_are_only_ever_codes_from_fhirs_fixed_lists(outcome):
    for pair in issue_codes(outcome):
        severity, code = pair.split("/")
        assert severity in ISSUE_SEVERITIES | {"?"} and code in ISSUE_TYPES | {"?"}


_DESTINATIONS = {mode: FhirServerDestination("centre", "https://fhir.example.no/R4", ctx=CTX, bundle_type=mode) for mode in REQUESTS}


@pytest.mark.parametrize("mode", ["batch", "transaction"])
@settings(max_examples=200)
@given(
    status=st.sampled_from([200, 201, 204, 301, 400, 401, 404, 409, 412, 422, 429, 500, 503]) | st.integers(100, 599),
    headers=st.dictionaries(
        st.sampled_from(["content-type", "retry-after", "location", "x-echo", "www-authenticate", "date"]),
        hostile_text | st.sampled_from(["application/fhir+json", "text/html", "120", "1019912345678"]),
    ),
    body=reply_bodies,
)
def test_a_destination_reading_any_answer_repeats_none_of_it(mode, status, headers, body):
    response = httpx.Response(status, headers=headers, content=body)
    destination = _DESTINATIONS[mode]
    said: list[str] = []
    with kept_logs() as lines:
        try:
            results = destination._results(destination._outcomes(response, REQUESTS[mode]))
        except DeliveryError as exc:
            said.append(exc.reason)
        else:
            said += [r.reason or "" for r in results]
    said += lines
    assert MARKER not in "\n".join(said).lower()
    assert "1019912345678" not in "\n".join(said)  # a number the server chose is not ours either


def _auth() -> PrivateKeyJwtAuth:
    return PrivateKeyJwtAuth(
        token_url="https://helseid.example/connect/token", client_id="heima-hub-42", client_key=SigningKey.generate()
    )


_AUTH = _auth()
oauth_bodies = st.fixed_dictionaries(
    {},
    optional={
        "error": hostile_text | st.sampled_from(sorted(OAUTH_ERRORS)) | st.text(max_size=10),
        "error_description": hostile_text,
        "error_uri": hostile_text,
        "access_token": hostile_text | st.just("t0k3n"),
        "token_type": hostile_text | st.sampled_from(["DPoP", "Bearer", "mac"]),
        "expires_in": st.integers() | st.floats(allow_nan=False) | hostile_text,
    },
)


@settings(max_examples=200)
@given(
    status=st.sampled_from([200, 400, 401, 403, 429, 500, 503]),
    content_type=st.sampled_from(["application/json", "text/html", MARKER]),
    body=oauth_bodies.map(_bytes) | reply_bodies,
)
def test_a_token_endpoints_answer_is_read_as_codes_only(status, content_type, body):
    response = httpx.Response(status, headers={"content-type": content_type, "x-echo": MARKER}, content=body)
    said: list[str] = []
    error = PrivateKeyJwtAuth._error_code(response)
    assert error is None or error in OAUTH_ERRORS
    with kept_logs() as lines:
        try:
            if status == 200:
                _AUTH._accept(response)
            else:
                said.append(_AUTH._explain(response, error))
        except AuthError as exc:
            said.append(exc.reason)
    said += lines
    assert MARKER not in "\n".join(said).lower()


@given(seconds=st.floats(allow_nan=False) | st.integers(-(10**15), 10**15))
def test_a_servers_number_of_seconds_is_repeated_only_while_small(seconds):
    text = seconds_text(seconds)
    assert len(max((part for part in text.replace(".", " ").split() if part.isdigit()), key=len, default="")) <= 5


@given(reason=hostile_text | st.text(), status=st.integers(100, 599), version=hostile_text | st.just("HTTP/1.1"))
def test_httpx_s_request_line_keeps_the_status_number_and_the_standard_phrase(reason, status, version):
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"', ("POST", "https://fhir.example.no/R4", version, status, reason), None
    )
    assert ServerTextFilter().filter(record)
    assert record.getMessage() == f"HTTP Request: POST https://fhir.example.no/R4 {status_text(status)}"


def test_httpcore_s_trace_keeps_the_step_and_drops_what_was_received():
    message = f"receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'{MARKER}', [(b'X', b'{MARKER}')])"
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1, message, (), None)
    assert ServerTextFilter().filter(record)
    assert record.getMessage() == "receive_response_headers.complete"
