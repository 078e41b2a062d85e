"""The destinations against real things: Medplum's FHIR engine, and a real folder."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from sync.delivery import DeliveryError, Outcome
from sync.destinations.directory import DirectoryDestination, bundle_file_name
from sync.destinations.fhir_server import FhirServerDestination
from tests.servers.fhir_server import HARNESS, fhir_server  # noqa: F401  (until tests/conftest.py imports it)
from tests.servers.samples import CTX, batch, measurement

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
async def centre(fhir_server) -> AsyncIterator[FhirServerDestination]:  # noqa: F811
    dest = FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, timeout=5.0)
    yield dest
    await dest.aclose()


async def test_delivers_and_resending_changes_nothing(fhir_server, centre):  # noqa: F811
    ms = batch(4)
    first = await centre.send(ms)
    assert [(r.measurement_id, r.outcome) for r in first] == [(m.id, Outcome.DELIVERED) for m in ms]
    second = await centre.send(ms)
    assert [r.outcome for r in second] == [Outcome.DELIVERED] * 4
    for m in ms:
        assert len(fhir_server.observations(m.urn)) == 1
    assert len(fhir_server.observations()) == 4


@pytest.mark.parametrize("mode", ["batch", "transaction"])
async def test_drop_after_commit_then_resend_keeps_one(fhir_server, mode):  # noqa: F811
    ms = batch(2)
    centre = FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, timeout=5.0, bundle_type=mode)
    try:
        fhir_server.fault("drop-after-commit")
        with pytest.raises(DeliveryError) as info:
            await centre.send(ms)
        assert not info.value.permanent
        assert len(fhir_server.observations()) == 2  # the server has them; the hub does not know
        results = await centre.send(ms)
    finally:
        await centre.aclose()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 2
    for m in ms:
        assert len(fhir_server.observations(m.urn)) == 1


# -- batch (the default) and transaction at scale ----------------------------------------------------------------


def stored_once(fhir_server, ms) -> bool:  # noqa: F811
    urns = [o["identifier"][0]["value"] for o in fhir_server.observations()]
    return sorted(urns) == sorted(m.urn for m in ms)


async def test_a_batch_of_300_goes_in_one_request_and_resending_duplicates_nothing(fhir_server, centre):  # noqa: F811
    ms = batch(300)
    first = await centre.send(ms)
    assert [(r.measurement_id, r.outcome) for r in first] == [(m.id, Outcome.DELIVERED) for m in ms]
    assert fhir_server.stats()["byRoute"] == {"POST /": 1}
    assert stored_once(fhir_server, ms)
    second = await centre.send(ms)
    assert [r.outcome for r in second] == [Outcome.DELIVERED] * 300
    assert fhir_server.stats()["byRoute"] == {"POST /": 2}
    assert stored_once(fhir_server, ms)
    assert len(fhir_server.observations(ms[150].urn)) == 1
    assert len(fhir_server.resources("Device")) == 2  # the hub and the oximeter, once each


async def test_batch_observations_name_the_stored_devices_by_identifier(fhir_server, centre):  # noqa: F811
    ms = batch(2)
    await centre.send(ms)
    devices = fhir_server.resources("Device")
    keys = {(i["system"], i["value"]) for d in devices for i in d["identifier"]}
    for obs in fhir_server.observations():
        for ref in (obs["device"], obs["extension"][0]["valueReference"]):
            assert ref["type"] == "Device" and (ref["identifier"]["system"], ref["identifier"]["value"]) in keys


def post_twice(fhir_server, resource):  # noqa: F811
    """Store two copies (no conditional create): a conditional create on that identifier then
    matches several, which the server answers with 412."""
    for _ in range(2):
        url = f"{fhir_server.base_url}/{resource['resourceType']}"
        fhir_server.http.post(url, json=resource, headers=HARNESS).raise_for_status()


async def test_one_entry_refused_in_a_batch_is_rejected_alone(fhir_server, centre):  # noqa: F811
    ms = batch(5)
    identifier = [{"system": "urn:ietf:rfc:3986", "value": ms[2].urn}]
    post_twice(fhir_server, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "identifier": identifier})
    results = await centre.send(ms)
    by_id = {r.measurement_id: r for r in results}
    assert by_id[ms[2].id].outcome is Outcome.REJECTED and "412" in by_id[ms[2].id].reason
    assert ms[2].urn not in by_id[ms[2].id].reason
    assert [by_id[m.id].outcome for m in ms if m is not ms[2]] == [Outcome.DELIVERED] * 4
    assert fhir_server.stats()["requests"] == 1


async def test_a_refused_device_entry_does_not_hold_back_a_batch(fhir_server, centre):  # noqa: F811
    post_twice(fhir_server, {"resourceType": "Device", "identifier": [{"system": CTX.hub.serial_system, "value": CTX.hub.serial}]})
    ms = batch(3)
    results = await centre.send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]
    assert stored_once(fhir_server, ms)


@pytest.fixture
async def transactions(fhir_server) -> AsyncIterator[FhirServerDestination]:  # noqa: F811
    dest = FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, timeout=5.0, bundle_type="transaction")
    yield dest
    await dest.aclose()


async def test_transactions_go_in_chunks_medplum_accepts(fhir_server, transactions):  # noqa: F811
    ms = batch(30)
    results = await transactions.send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]
    # 8 entries each (the hub, the oximeter, 6 Observations); 9 would be refused (test_fhir_server.py)
    assert fhir_server.stats()["byRoute"] == {"POST /": 5}
    assert stored_once(fhir_server, ms)
    assert [r.outcome for r in await transactions.send(ms)] == [Outcome.DELIVERED] * 30
    assert stored_once(fhir_server, ms)
    assert len(fhir_server.resources("Device")) == 2


async def test_a_later_transaction_failing_keeps_what_got_through(fhir_server, transactions):  # noqa: F811
    ms = batch(20)  # chunks of 6, 6, 6, 2
    fhir_server.fault("status", status=503, match=str(ms[8].id), count=1)
    results = await transactions.send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms[:6]]
    assert fhir_server.stats()["requests"] == 2  # stopped at the failure
    assert stored_once(fhir_server, ms[:6])
    rest = await transactions.send(ms[6:])  # what the worker does later
    assert len(rest) == 14 and stored_once(fhir_server, ms)


async def test_transaction_drop_after_commit_in_a_later_chunk_then_resend_keeps_one(fhir_server, transactions):  # noqa: F811
    ms = batch(12)
    fhir_server.fault("drop-after-commit", match=str(ms[6].id))
    results = await transactions.send(ms)
    assert {r.measurement_id for r in results} == {m.id for m in ms[:6]}
    assert stored_once(fhir_server, ms)  # the second chunk was committed, unheard
    again = await transactions.send(ms)
    assert [r.outcome for r in again] == [Outcome.DELIVERED] * 12
    assert stored_once(fhir_server, ms)


async def test_truncated_answer_is_transient(fhir_server, centre):  # noqa: F811
    fhir_server.fault("truncate")
    with pytest.raises(DeliveryError) as info:
        await centre.send(batch(1))
    assert not info.value.permanent


async def test_503_with_retry_after(fhir_server, centre):  # noqa: F811
    fhir_server.fault("status", status=503, retryAfter=2)
    with pytest.raises(DeliveryError) as info:
        await centre.send(batch(2))
    assert not info.value.permanent
    assert info.value.retry_after == 2
    assert "503" in info.value.reason and "retry" in info.value.reason
    assert fhir_server.observations() == []


async def test_html_error_page_in_a_200_is_transient(fhir_server, centre):  # noqa: F811
    fhir_server.fault("status", status=200, body="<html><body>Maintenance</body></html>", contentType="text/html")
    with pytest.raises(DeliveryError) as info:
        await centre.send(batch(1))
    assert not info.value.permanent and "HTML" in info.value.reason


async def test_400_is_permanent(fhir_server, centre):  # noqa: F811
    fhir_server.fault("status", status=400, body={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]})
    with pytest.raises(DeliveryError) as info:
        await centre.send([measurement()])
    assert info.value.permanent
    assert "400" in info.value.reason


async def test_a_real_400_from_medplum_is_permanent(fhir_server):  # noqa: F811
    # Posting to the type endpoint instead of the base: Medplum refuses a Bundle there (400).
    dest = FhirServerDestination("centre", f"{fhir_server.base_url}/Observation", ctx=CTX, timeout=5.0)
    try:
        with pytest.raises(DeliveryError) as info:
            await dest.send([measurement()])
    finally:
        await dest.aclose()
    assert info.value.permanent and "400" in info.value.reason


async def test_wrong_base_url_is_transient_not_a_rejection(fhir_server):  # noqa: F811
    dest = FhirServerDestination("centre", f"{fhir_server.origin}/not-fhir", ctx=CTX, timeout=5.0)
    try:
        with pytest.raises(DeliveryError) as info:
            await dest.send([measurement()])
    finally:
        await dest.aclose()
    assert not info.value.permanent and "404" in info.value.reason


async def test_slow_server_times_out_as_transient(fhir_server):  # noqa: F811
    fhir_server.fault("delay", ms=1500)
    dest = FhirServerDestination("centre", fhir_server.base_url, ctx=CTX, timeout=0.3)
    try:
        with pytest.raises(DeliveryError) as info:
            await dest.send([measurement()])
    finally:
        await dest.aclose()
    assert not info.value.permanent and "0.3 s" in info.value.reason
    # The server goes on and stores it once the delay is over: wait for that here, or it lands in
    # the next test's freshly reset repository.
    deadline = time.monotonic() + 10
    while not fhir_server.observations() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert len(fhir_server.observations()) == 1


async def test_nobody_listening_is_transient():
    dest = FhirServerDestination("centre", "http://127.0.0.1:9/fhir/R4", ctx=CTX, timeout=2.0)
    try:
        with pytest.raises(DeliveryError) as info:
            await dest.send([measurement()])
    finally:
        await dest.aclose()
    assert not info.value.permanent and "connect" in info.value.reason


# -- the directory ----------------------------------------------------------------------------------------------


async def test_directory_writes_a_parseable_bundle(tmp_path: Path):
    folder = tmp_path / "bundles"
    dest = DirectoryDestination("local-folder", folder, ctx=CTX)
    ms = batch(3)
    results = await dest.send(ms)
    assert [(r.measurement_id, r.outcome) for r in results] == [(m.id, Outcome.DELIVERED) for m in ms]
    [file] = list(folder.iterdir())
    assert file.name == bundle_file_name(ms)
    bundle = json.loads(file.read_text("utf-8"))
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    observed = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observed == [m.urn for m in ms]


async def test_directory_resend_overwrites_the_same_file(tmp_path: Path):
    dest = DirectoryDestination("local-folder", tmp_path, ctx=CTX)
    ms = batch(2)
    await dest.send(ms)
    [file] = list(tmp_path.iterdir())
    before = file.read_bytes()
    os.utime(file, (0, 0))
    await dest.send(ms)
    assert [p.name for p in tmp_path.iterdir()] == [file.name]  # overwritten; no temp file left
    assert file.stat().st_mtime > 0 and file.read_bytes() == before  # rewritten, same bytes
    await dest.send(list(reversed(ms)))  # the same batch in another order: still the same file
    assert [p.name for p in tmp_path.iterdir()] == [file.name]
    await dest.send(batch(1))
    assert len(list(tmp_path.iterdir())) == 2


async def test_directory_bundle_can_be_posted_to_a_server(tmp_path: Path, fhir_server):  # noqa: F811
    ms = batch(2)
    await DirectoryDestination("usb", tmp_path, ctx=CTX).send(ms)
    [file] = list(tmp_path.iterdir())
    answer = fhir_server.http.post(fhir_server.base_url, content=file.read_bytes(), headers={"content-type": "application/fhir+json"})
    assert answer.status_code == 200
    assert len(fhir_server.observations()) == 2


async def test_directory_missing_mount_is_transient(tmp_path: Path):
    dest = DirectoryDestination("usb", tmp_path / "not-mounted" / "heima", ctx=CTX)
    with pytest.raises(DeliveryError) as info:
        await dest.send(batch(1))
    assert not info.value.permanent and "mounted" in info.value.reason


async def test_directory_unwritable_is_transient(tmp_path: Path):
    blocker = tmp_path / "bundles"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryError) as info:
        await DirectoryDestination("usb", blocker, ctx=CTX).send(batch(1))
    assert not info.value.permanent and "EEXIST" in info.value.reason
    assert [p.name for p in tmp_path.iterdir()] == ["bundles"]
