"""What a server says back never reaches the hub's logs, its errors or the store's last_error.

A real HTTP server on loopback (tests/servers/scripted_http.py) answers the hub's real delivery
worker with hostile replies: a marker planted in the status line's reason phrase, in headers, in
resourceType, Bundle.type, entry statuses and locations, OperationOutcome severities, codes and
diagnostics, and in an OAuth token endpoint's `error`, `error_description` and `token_type`. The
marker looks like a code on purpose (lower-case letters), so only a fixed list of codes keeps it
out. Everything is logged at DEBUG, httpx's and httpcore's own lines included.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.store import Store
from sync.auth import PrivateKeyJwtAuth, SigningKey
from sync.destinations.fhir_server import FhirServerDestination
from sync.destinations.nhn_pmd import NhnPmdDestination
from sync.outbox import OutboxWorker, RetryPolicy
from tests.servers.samples import CTX, batch
from tests.servers.scripted_http import Reply, ScriptedServer

MARKER = "heimaleak"  # what the patient's data would be; shaped like a code so no regex stops it
FHIR = (("Content-Type", "application/fhir+json"),)
HOSTILE_HEADERS = (
    ("X-Echo", MARKER),
    ("Server", MARKER),
    ("Location", f"{MARKER}/1"),
    ("WWW-Authenticate", f'DPoP error="{MARKER}", error_description="{MARKER}"'),
    ("Retry-After", MARKER),
    ("Date", MARKER),
    ("DPoP-Nonce", MARKER),
)


def _json(status: int, body: object, *, content_type: str = "application/fhir+json") -> Reply:
    return Reply(
        status,
        reason=MARKER,
        headers=(("Content-Type", content_type), *HOSTILE_HEADERS),
        body=json.dumps(body).encode(),
    )


def _outcome() -> dict:
    return {
        "resourceType": "OperationOutcome",
        "id": MARKER,
        "text": {"status": "generated", "div": f"<div>{MARKER}</div>"},
        "issue": [
            {
                "severity": MARKER,
                "code": MARKER,
                "diagnostics": MARKER,
                "details": {"text": MARKER, "coding": [{"code": MARKER}]},
                "expression": [MARKER],
            },
            {"severity": "error", "code": MARKER, "diagnostics": MARKER},
        ],
    }


def _entries(request: bytes, response: Callable[[str], dict]) -> list[dict]:
    """One hostile answer per request entry (so the reply is the right shape to be read)."""
    bundle = json.loads(request)
    return [{"response": response(e["resource"]["resourceType"]), MARKER: MARKER} for e in bundle["entry"]]


def _response_bundle(request: bytes, response: Callable[[str], dict], bundle_type: str | None = None) -> dict:
    kind = bundle_type or f"{json.loads(request)['type']}-response"
    return {"resourceType": "Bundle", "id": MARKER, "type": kind, "entry": _entries(request, response)}


SCRIPTS: dict[str, Callable[[str, bytes], Reply]] = {
    "resourceType": lambda path, body: _json(200, {"resourceType": MARKER, "type": MARKER}),
    "Bundle.type": lambda path, body: _json(200, {"resourceType": "Bundle", "type": MARKER, "entry": []}),
    "OperationOutcome instead of a Bundle": lambda path, body: _json(200, _outcome()),
    "entry status, location and outcome": lambda path, body: _json(
        200,
        _response_bundle(
            body,
            lambda kind: {"status": f"201 {MARKER}", "location": f"{MARKER}/{MARKER}", "outcome": _outcome()},
        ),
    ),
    "entries refused with coded-looking issues": lambda path, body: _json(
        200, _response_bundle(body, lambda kind: {"status": f"422 {MARKER}", "outcome": _outcome()})
    ),
    "entries with statuses that are not statuses": lambda path, body: _json(
        200, _response_bundle(body, lambda kind: {"status": MARKER, "location": MARKER})
    ),
    "400 with an OperationOutcome": lambda path, body: _json(400, _outcome()),
    "422 with an OperationOutcome": lambda path, body: _json(422, _outcome()),
    "503 with Retry-After": lambda path, body: _json(503, _outcome()),
    "429": lambda path, body: _json(429, _outcome()),
    "401 with a challenge": lambda path, body: _json(401, _outcome()),
    "302": lambda path, body: _json(302, _outcome()),
    "HTML page": lambda path, body: Reply(
        200, reason=MARKER, headers=(("Content-Type", "text/html"), *HOSTILE_HEADERS), body=f"<h1>{MARKER}</h1>".encode()
    ),
    "not JSON": lambda path, body: Reply(200, reason=MARKER, headers=(*FHIR, *HOSTILE_HEADERS), body=MARKER.encode()),
    "JSON keys": lambda path, body: _json(200, {MARKER: MARKER, "resourceType": "Bundle", "type": "batch-response"}),
    "a wrong kind of response Bundle": lambda path, body: _json(
        200, _response_bundle(body, lambda kind: {"status": "201 Created"}, bundle_type=MARKER)
    ),
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


async def _deliver_and_collect(store: Store, destination, caplog) -> str:
    """Queue two measurements, let the real worker try (and split, and dead-letter) as it would,
    and return every text the hub kept: log lines (with tracebacks), reasons, last_error."""
    caplog.set_level(logging.DEBUG)
    ms = batch(2)
    for m in ms:
        await store.record(m, [destination.name])
    clock_now = [datetime.now(UTC) + timedelta(seconds=1)]
    worker = OutboxWorker(
        store, destination, clock=lambda: clock_now[0], rng=random.Random(1), policy=RetryPolicy(base=1.0)
    )
    try:
        reports = [await worker.drain()]
        clock_now[0] += timedelta(hours=2)  # a second pass, as after the backoff
        reports.append(await worker.drain())
    finally:
        await destination.aclose()
    kept = [caplog.text, *(r.message for r in caplog.records)]
    kept += [e for r in reports for e in r.errors]
    for m in ms:
        kept += [s.last_error or "" for s in await store.delivery_states(str(m.id))]
    kept += [a.reason for a in await store.set_aside()]
    assert any("httpx" in r.name or "httpcore" in r.name for r in caplog.records)  # the HTTP layer did log
    return "\n".join(kept)


@pytest.mark.parametrize("mode", ["batch", "transaction"])
@pytest.mark.parametrize("case", list(SCRIPTS))
async def test_a_fhir_servers_reply_is_never_repeated(case, mode, server, store, caplog):
    server.answer(SCRIPTS[case])
    destination = FhirServerDestination("centre", server.base_url, ctx=CTX, bundle_type=mode, timeout=5.0)
    kept = await _deliver_and_collect(store, destination, caplog)
    assert server.seen.bodies, "the hub never asked"
    assert MARKER not in kept


@pytest.mark.parametrize("case", list(SCRIPTS))
async def test_a_pmd_servers_reply_is_never_repeated(case, server, store, caplog):
    server.answer(SCRIPTS[case])
    destination = NhnPmdDestination("pmd", server.base_url, ctx=CTX, ledger=store, kommunenummer="0301", timeout=5.0)
    kept = await _deliver_and_collect(store, destination, caplog)
    assert server.seen.bodies
    assert MARKER not in kept


def _token_reply(status: int, body: dict) -> Callable[[str, bytes], Reply]:
    def script(path: str, request: bytes) -> Reply:
        if path.endswith("/token"):
            return _json(status, body, content_type="application/json")
        return _json(200, _outcome())  # never reached unless a token was issued

    return script


TOKEN_SCRIPTS = {
    "error and error_description": _token_reply(400, {"error": MARKER, "error_description": MARKER, "error_uri": MARKER}),
    "a known error with a description": _token_reply(401, {"error": "invalid_client", "error_description": MARKER}),
    "a server error": _token_reply(500, {"error": MARKER}),
    "a token of an unknown type": _token_reply(200, {"access_token": "t0k3n", "token_type": MARKER, "expires_in": 60}),
    "no token at all": _token_reply(200, {"token_type": MARKER, MARKER: MARKER}),
}


@pytest.mark.parametrize("case", list(TOKEN_SCRIPTS))
async def test_a_token_endpoints_reply_is_never_repeated(case, server, store, caplog):
    server.answer(TOKEN_SCRIPTS[case])
    auth = PrivateKeyJwtAuth(
        token_url=f"{server.origin}/connect/token", client_id="heima-hub-42", client_key=SigningKey.generate()
    )
    destination = FhirServerDestination("centre", server.base_url, ctx=CTX, auth=auth, timeout=5.0)
    kept = await _deliver_and_collect(store, destination, caplog)
    assert any(p.endswith("/token") for p in server.seen.paths)
    assert MARKER not in kept
