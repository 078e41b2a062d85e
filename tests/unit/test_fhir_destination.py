"""FhirServerDestination's reading of HTTP answers, with httpx.MockTransport (no network).

The same behaviour against a real server is in tests/integration/test_destinations.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sync.delivery import DeliveryError, Outcome
from sync.destinations.fhir_server import FhirServerDestination, parse_retry_after
from tests.servers.samples import CTX, batch

BASE = "https://fhir.example.no/fhir/R4"


def transaction_answer(request: httpx.Request, statuses=None) -> dict:
    bundle = json.loads(request.content)
    entries = []
    for i, entry in enumerate(bundle["entry"]):
        kind = entry["resource"]["resourceType"]
        entries.append({"response": {"status": statuses[i] if statuses else "201 Created", "location": f"{kind}/{i}"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def destination(handler) -> FhirServerDestination:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FhirServerDestination("centre", BASE, ctx=CTX, client=client)


async def send(handler, n=2):
    dest = destination(handler)
    try:
        return await dest.send(batch(n))
    finally:
        await dest.aclose()


async def test_posts_a_transaction_and_delivers_every_observation():
    seen = {}

    def handler(request):
        seen["request"] = request
        return httpx.Response(200, json=transaction_answer(request, ["200", "201", "201", "200"]))

    ms = batch(2)
    dest = destination(handler)
    results = await dest.send(ms)
    request = seen["request"]
    assert request.method == "POST" and str(request.url) == BASE
    assert request.headers["content-type"] == "application/fhir+json"
    assert json.loads(request.content)["type"] == "transaction"
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]


async def test_empty_batch_sends_nothing():
    def handler(request):  # pragma: no cover
        raise AssertionError("no request expected")

    assert await destination(handler).send([]) == []


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 401, 403, 404, 409, 415])
async def test_transient_statuses(status):
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(status, headers={"Retry-After": "7"}, json={"resourceType": "OperationOutcome", "issue": []}))
    assert not info.value.permanent
    assert info.value.retry_after == 7
    assert str(status) in info.value.reason and "retry" in info.value.reason


@pytest.mark.parametrize("status", [400, 412, 413, 422])
async def test_permanent_statuses(status):
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "13116900216 is bad"}]}
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(status, json=body))
    assert info.value.permanent
    assert "error/invalid" in info.value.reason
    assert "13116900216" not in info.value.reason


async def test_redirect_is_transient():
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(301, headers={"Location": "https://elsewhere/"}))
    assert not info.value.permanent and "base URL" in info.value.reason


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>502</body></html>", "text/html"),
        (b"<html>login</html>", "application/fhir+json"),
        (b'{"resourceType":"Bundle","type":"transac', "application/fhir+json"),
        (b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}', "application/fhir+json"),
        (b'{"resourceType":"Bundle","type":"transaction-response","entry":[]}', "application/fhir+json"),
        (b"", "application/fhir+json"),
    ],
)
async def test_unusable_200_is_transient(body, content_type):
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(200, content=body, headers={"Content-Type": content_type}))
    assert not info.value.permanent
    assert "urn:uuid" not in info.value.reason and "13116900216" not in info.value.reason


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"), httpx.ReadError("reset")],
)
async def test_network_errors_are_transient(exc):
    def handler(request):
        raise exc

    with pytest.raises(DeliveryError) as info:
        await send(handler)
    assert not info.value.permanent and "retry" in info.value.reason


async def test_entry_level_rejection_and_retry():
    def handler(request):
        return httpx.Response(200, json=transaction_answer(request, ["200", "200", "422", "503", "201"]))

    ms = batch(3)
    dest = destination(handler)
    results = await dest.send(ms)
    by_id = {r.measurement_id: r for r in results}
    assert by_id[ms[0].id].outcome is Outcome.REJECTED and "422" in by_id[ms[0].id].reason
    assert ms[1].id not in by_id  # not reported: the worker tries it again
    assert by_id[ms[2].id].outcome is Outcome.DELIVERED


async def test_failed_device_entry_is_transient():
    def handler(request):
        return httpx.Response(200, json=transaction_answer(request, ["200", "500", "201", "201"]))

    with pytest.raises(DeliveryError) as info:
        await send(handler)
    assert not info.value.permanent


async def test_tls_verification_is_on_by_default():
    dest = FhirServerDestination("centre", BASE, ctx=CTX)
    try:
        pool = dest._client._transport._pool  # httpx's default transport
        assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"
    finally:
        await dest.aclose()


def test_refuses_a_base_url_that_is_not_http():
    with pytest.raises(ValueError):
        FhirServerDestination("centre", "ftp://x", ctx=CTX)


def test_parse_retry_after():
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after(" 0 ", now=now) == 0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("nan") is None
