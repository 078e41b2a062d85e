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


def answer(request: httpx.Request, statuses=None) -> dict:
    """A well-formed transaction- or batch-response to the request (after its bundle type)."""
    bundle = json.loads(request.content)
    entries = []
    for i, entry in enumerate(bundle["entry"]):
        kind = entry["resource"]["resourceType"]
        status = statuses[i] if statuses else "201 Created"
        response = {"status": status}
        if status.startswith("2"):
            response["location"] = f"{kind}/{i}"
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": f"{bundle['type']}-response", "entry": entries}


def destination(handler, **kw) -> FhirServerDestination:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FhirServerDestination("centre", BASE, ctx=CTX, client=client, **kw)


MODES = pytest.mark.parametrize("mode", ["batch", "transaction"])


async def send(handler, n=2, **kw):
    dest = destination(handler, **kw)
    try:
        return await dest.send(batch(n))
    finally:
        await dest.aclose()


@MODES
async def test_posts_a_bundle_and_delivers_every_observation(mode):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=answer(request, ["200", "201", "201", "200"]))

    ms = batch(2)
    dest = destination(handler, bundle_type=mode)
    results = await dest.send(ms)
    [request] = seen
    assert request.method == "POST" and str(request.url) == BASE
    assert request.headers["content-type"] == "application/fhir+json"
    assert json.loads(request.content)["type"] == mode
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]


async def test_batch_is_the_default_and_unlimited():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=answer(request))

    dest = destination(handler)
    assert (dest.bundle_type, dest.max_entries) == ("batch", None)
    results = await dest.send(batch(500))
    assert len(seen) == 1 and seen[0]["type"] == "batch" and len(seen[0]["entry"]) == 502
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 500


async def test_empty_batch_sends_nothing():
    def handler(request):  # pragma: no cover
        raise AssertionError("no request expected")

    assert await destination(handler).send([]) == []


@MODES
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 401, 403, 404, 409, 415])
async def test_transient_statuses(status, mode):
    with pytest.raises(DeliveryError) as info:
        await send(
            lambda r: httpx.Response(status, headers={"Retry-After": "7"}, json={"resourceType": "OperationOutcome", "issue": []}),
            bundle_type=mode,
        )
    assert not info.value.permanent
    assert info.value.retry_after == 7
    assert str(status) in info.value.reason and "retry" in info.value.reason


@MODES
@pytest.mark.parametrize("status", [400, 412, 413, 422])
async def test_permanent_statuses(status, mode):
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "13116900216 is bad"}]}
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(status, json=body), bundle_type=mode)
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
        (b'{"resourceType":"Bundle","type":"batch-response","entry":[]}', "application/fhir+json"),
        (b'{"resourceType":"Bundle","type":"searchset","entry":[{},{},{},{}]}', "application/fhir+json"),
        (b"", "application/fhir+json"),
    ],
)
@MODES
async def test_unusable_200_is_transient(body, content_type, mode):
    with pytest.raises(DeliveryError) as info:
        await send(lambda r: httpx.Response(200, content=body, headers={"Content-Type": content_type}), bundle_type=mode)
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


@MODES
async def test_entry_level_rejection_and_retry(mode):
    def handler(request):
        return httpx.Response(200, json=answer(request, ["200", "200", "422", "503", "201"]))

    ms = batch(3)
    dest = destination(handler, bundle_type=mode)
    results = await dest.send(ms)
    by_id = {r.measurement_id: r for r in results}
    assert by_id[ms[0].id].outcome is Outcome.REJECTED and "422" in by_id[ms[0].id].reason
    assert ms[1].id not in by_id  # not reported: the worker tries it again
    assert by_id[ms[2].id].outcome is Outcome.DELIVERED


async def test_batch_response_with_every_kind_of_entry_status():
    statuses = ["201", "200", "201 Created", "200 OK", "422 Unprocessable Entity", "503"]
    statuses += ["400", "412", "413", "414", "429", "409", "404", "500"]

    def handler(request):
        reply = answer(request, statuses)
        for entry in reply["entry"]:
            if not entry["response"]["status"].startswith("2"):
                entry["response"]["outcome"] = {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Kari Nordmann 13116900216"}],
                }
        return httpx.Response(200, json=reply)

    ms = batch(12)
    results = await destination(handler).send(ms)
    by_id = {r.measurement_id: r for r in results}
    assert [by_id[m.id].outcome for m in ms[:2]] == [Outcome.DELIVERED] * 2
    rejected = [ms[2], ms[4], ms[5], ms[6], ms[7]]  # 422, 400, 412, 413, 414
    assert all(by_id[m.id].outcome is Outcome.REJECTED for m in rejected)
    assert by_id[ms[2].id].reason == "FHIR server rejected this entry (422 Unprocessable Entity (issues: error/invalid))"
    assert all("Kari" not in by_id[m.id].reason and "13116900216" not in by_id[m.id].reason for m in rejected)
    for m in [ms[3], *ms[8:]]:  # 503, 429, 409, 404, 500: the worker retries them
        assert m.id not in by_id
    assert len(results) == 7


async def test_failed_device_entry_fails_a_transaction():
    def handler(request):
        return httpx.Response(200, json=answer(request, ["200", "500", "201", "201"]))

    with pytest.raises(DeliveryError) as info:
        await send(handler, bundle_type="transaction")
    assert not info.value.permanent


@pytest.mark.parametrize("device_status", ["500", "422", "429", "bogus"])
async def test_failed_device_entry_does_not_hold_back_a_batch(device_status):
    def handler(request):
        return httpx.Response(200, json=answer(request, ["201", device_status, "201", "200"]))

    ms = batch(2)
    results = await destination(handler).send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]


async def test_an_unreadable_entry_in_a_batch_is_retried_the_others_delivered():
    def handler(request):
        reply = answer(request)
        reply["entry"][3]["response"]["location"] = "Patient/1"
        reply["entry"][4]["response"]["status"] = "fine"
        return httpx.Response(200, json=reply)

    ms = batch(3)
    results = await destination(handler).send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(ms[0].id, Outcome.DELIVERED)]


# -- several requests per send -----------------------------------------------------------------------------


def recording(seen, fail_at=None, exc=None, statuses=None):
    def handler(request):
        seen.append(json.loads(request.content))
        if len(seen) == fail_at:
            if exc is not None:
                raise exc
            return httpx.Response(503, headers={"Retry-After": "5"})
        return httpx.Response(200, json=answer(request, statuses))

    return handler


async def test_transactions_are_cut_to_eight_entries_by_default():
    seen = []
    dest = destination(recording(seen), bundle_type="transaction")
    assert dest.max_entries == 8
    ms = batch(30)
    results = await dest.send(ms)
    assert [len(b["entry"]) for b in seen] == [8] * 5  # the hub, the oximeter, 6 Observations
    assert all(b["type"] == "transaction" for b in seen)
    resources = [e["resource"] for b in seen for e in b["entry"]]
    sent = [r["identifier"][0]["value"] for r in resources if r["resourceType"] == "Observation"]
    assert sent == [m.urn for m in ms]
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]


async def test_batches_can_be_cut_too():
    seen = []
    results = await destination(recording(seen), max_entries=102).send(batch(250))
    assert [len(b["entry"]) for b in seen] == [102, 102, 52]
    assert len(results) == 250


@pytest.mark.parametrize("failure", ["status", "network"])
@MODES
async def test_a_later_request_failing_returns_what_got_through(failure, mode):
    seen = []
    exc = httpx.ReadTimeout("slow") if failure == "network" else None
    ms = batch(20)
    dest = destination(recording(seen, fail_at=2, exc=exc), bundle_type=mode, max_entries=8)
    results = await dest.send(ms)  # no raise: the first request got through
    assert len(seen) == 2  # stops at the failure; the rest waits for the worker's retry
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms[:6]]


@MODES
async def test_the_first_request_failing_raises(mode):
    seen = []
    with pytest.raises(DeliveryError) as info:
        await send(recording(seen, fail_at=1), n=20, bundle_type=mode, max_entries=8)
    assert len(seen) == 1 and not info.value.permanent and info.value.retry_after == 5


async def test_a_permanent_refusal_of_the_first_transaction_raises_permanent():
    def handler(request):
        return httpx.Response(422, json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]})

    with pytest.raises(DeliveryError) as info:
        await send(handler, n=20, bundle_type="transaction")
    assert info.value.permanent


async def test_refuses_bad_modes_and_limits():
    with pytest.raises(ValueError):
        FhirServerDestination("centre", BASE, ctx=CTX, bundle_type="collection")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FhirServerDestination("centre", BASE, ctx=CTX, bundle_type="transaction", max_entries=2)
    dest = FhirServerDestination("centre", BASE, ctx=CTX, bundle_type="transaction", max_entries=100)
    assert dest.max_entries == 100
    await dest.aclose()


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
