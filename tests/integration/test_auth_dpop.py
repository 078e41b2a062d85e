"""private_key_jwt + DPoP and (mutual) TLS end to end: our strict token server and a DPoP-checking
resource proxy in front of the reference FHIR server (Medplum), all on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from hub.app import start_hub
from hub.config import parse_config
from sync.auth import PrivateKeyJwtAuth, SigningKey, tls_context
from sync.delivery import DeliveryError, Outcome
from sync.destinations.fhir_server import FhirServerDestination
from tests.servers.samples import CTX, batch
from tests.servers.token_server import PlainProxy, ServerTls, TokenServer, make_pki
from tests.unit.hub.factories import spo2

CLIENT_ID = "heima-hub-test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> object:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def client_key() -> SigningKey:
    return SigningKey(ECKey.generate_key("P-256", parameters={"kid": "hub-key-1"}))


@pytest.fixture
def helseid(fhir_server, client_key) -> Iterator[TokenServer]:
    server = TokenServer(upstream=fhir_server.base_url, token_lifetime=300)
    server.register(CLIENT_ID, {**client_key.public_jwk(), "kid": client_key.kid})
    with server:
        yield server


def _auth(server: TokenServer, key: SigningKey, **kw) -> PrivateKeyJwtAuth:
    return PrivateKeyJwtAuth(token_url=server.token_url, client_id=CLIENT_ID, client_key=key, **kw)


async def test_delivers_through_token_nonce_and_ath_checks_then_reuses_token_and_nonce(fhir_server, helseid, client_key):
    auth = _auth(helseid, client_key)
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=auth, timeout=10)
    try:
        ms = batch(4)
        results = await dest.send(ms)
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4
        s = helseid.stats
        assert (s.tokens_issued, s.token_nonce_challenges, s.resource_nonce_challenges) == (1, 1, 1)
        await dest.send(batch(2))
        assert (s.tokens_issued, s.token_nonce_challenges, s.resource_nonce_challenges) == (1, 1, 1)
        assert s.forwarded == 2
        assert len(fhir_server.observations()) == 6
    finally:
        await dest.aclose()


async def test_an_expired_token_is_replaced_and_the_request_repeated(fhir_server, helseid, client_key):
    auth = _auth(helseid, client_key)
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=auth, timeout=10)
    try:
        await dest.send(batch(1))
        helseid.expire_tokens()  # the hub's cache still thinks its token is good
        results = await dest.send(batch(1))
        assert [r.outcome for r in results] == [Outcome.DELIVERED]
        assert helseid.stats.tokens_issued == 2
        assert helseid.stats.rejected["resource: token unknown or expired"] == 1
    finally:
        await dest.aclose()


async def test_a_token_near_expiry_is_refreshed_before_use(fhir_server, helseid, client_key):
    now = [0.0]
    auth = _auth(helseid, client_key, monotonic=lambda: now[0])
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=auth, timeout=10)
    try:
        await dest.send(batch(1))
        now[0] += 250  # 300 s token, refreshed in its last 60 s
        await dest.send(batch(1))
        assert helseid.stats.tokens_issued == 2
        assert helseid.stats.rejected["resource: token unknown or expired"] == 0  # never used an expired one
    finally:
        await dest.aclose()


async def test_nonce_rotation_mid_session_is_followed(fhir_server, helseid, client_key):
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=_auth(helseid, client_key), timeout=10)
    try:
        await dest.send(batch(1))
        helseid.rotate_nonces()
        helseid.rotate_nonces()  # the hub's nonce is now two generations old
        assert [r.outcome for r in await dest.send(batch(1))] == [Outcome.DELIVERED]
        assert helseid.stats.resource_nonce_challenges == 2
    finally:
        await dest.aclose()


@pytest.mark.parametrize("offset", [+400.0, -400.0])
async def test_a_hub_clock_far_off_is_corrected_from_the_token_endpoints_date(fhir_server, helseid, client_key, offset):
    helseid.clock_offset = offset
    auth = _auth(helseid, client_key)
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=auth, timeout=10)
    try:
        assert [r.outcome for r in await dest.send(batch(1))] == [Outcome.DELIVERED]
        assert abs(auth.clock_offset - offset) < 5
    finally:
        await dest.aclose()


async def test_an_unregistered_key_is_a_clear_transient_error_without_secrets(fhir_server, helseid):
    stranger = SigningKey.generate()
    auth = _auth(helseid, stranger)
    dest = FhirServerDestination("pmd", helseid.fhir_base, ctx=CTX, auth=auth, timeout=10)
    try:
        with pytest.raises(DeliveryError) as info:
            await dest.send(batch(1))
    finally:
        await dest.aclose()
    assert not info.value.permanent  # a credentials problem never throws data away
    assert "invalid_client" in info.value.reason and "kid" in info.value.reason
    assert helseid.stats.rejected["assertion kid not registered for this client"] == 1
    assert helseid.stats.forwarded == 0 and fhir_server.observations() == []


async def test_the_token_server_really_checks(helseid, client_key):
    """Our test server is no pushover: replayed jti, forged signature, wrong htu, missing ath."""
    auth = _auth(helseid, client_key)
    async with httpx.AsyncClient() as http:
        # get a nonce
        first = await http.post(helseid.token_url, data={"grant_type": "client_credentials"}, headers={"DPoP": auth.dpop_proof("POST", helseid.token_url)})
        assert first.status_code == 400 and first.json()["error"] == "invalid_client"  # no assertion type
        nonce = first.headers.get("dpop-nonce") or helseid._nonces["token"]
        form = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        }
        assertion = auth.client_assertion()
        ok = await http.post(helseid.token_url, data={**form, "client_assertion": assertion}, headers={"DPoP": auth.dpop_proof("POST", helseid.token_url, nonce=nonce)})
        assert ok.status_code == 200 and ok.json()["token_type"] == "DPoP"
        replay = await http.post(helseid.token_url, data={**form, "client_assertion": assertion}, headers={"DPoP": auth.dpop_proof("POST", helseid.token_url, nonce=nonce)})
        assert replay.json()["error"] == "invalid_client" and helseid.stats.rejected["assertion: jti replayed"] == 1
        head, payload, sig = auth.client_assertion().split(".")
        forged = ".".join([head, payload, sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")])
        bad = await http.post(helseid.token_url, data={**form, "client_assertion": forged}, headers={"DPoP": auth.dpop_proof("POST", helseid.token_url, nonce=nonce)})
        assert bad.json()["error"] == "invalid_client" and helseid.stats.rejected["assertion signature does not verify"] == 1
        wrong_htu = await http.post(helseid.token_url, data={**form, "client_assertion": auth.client_assertion()}, headers={"DPoP": auth.dpop_proof("POST", helseid.origin + "/other", nonce=nonce)})
        assert wrong_htu.json()["error"] == "invalid_dpop_proof"
        token = ok.json()["access_token"]
        url = helseid.fhir_base + "/Observation"
        no_ath = await http.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": auth.dpop_proof("GET", url, nonce=helseid._nonces["resource"])})
        assert no_ath.status_code == 401 and 'error="invalid_dpop_proof"' in no_ath.headers["www-authenticate"]
        bearer = await http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401


# -- TLS -----------------------------------------------------------------------------------------------


async def test_https_token_endpoint_with_a_pinned_ca(fhir_server, pki, client_key):
    server = TokenServer(upstream=fhir_server.base_url, tls=ServerTls(pki.server_cert, pki.server_key))
    server.register(CLIENT_ID, {**client_key.public_jwk(), "kid": client_key.kid})
    with server:
        good = _auth(server, client_key, verify=tls_context(ca_file=pki.ca_cert))
        dest = FhirServerDestination("pmd", server.fhir_base, ctx=CTX, auth=good, verify=tls_context(ca_file=pki.ca_cert))
        try:
            assert [r.outcome for r in await dest.send(batch(1))] == [Outcome.DELIVERED]
        finally:
            await dest.aclose()
        wrong_pin = _auth(server, client_key, verify=tls_context(ca_file=pki.other_ca_cert))
        dest = FhirServerDestination("pmd", server.fhir_base, ctx=CTX, auth=wrong_pin, verify=tls_context(ca_file=pki.ca_cert))
        try:
            with pytest.raises(DeliveryError) as info:
                await dest.send(batch(1))
        finally:
            await dest.aclose()
    assert "TLS: the token endpoint was not trusted" in info.value.reason and not info.value.permanent


async def test_mutual_tls_with_the_hubs_certificate(fhir_server, pki):
    proxy = PlainProxy(upstream=fhir_server.base_url, tls=ServerTls(pki.server_cert, pki.server_key, client_ca=pki.ca_cert))
    with proxy:
        async def send(**tls) -> list:
            dest = FhirServerDestination("centre", proxy.fhir_base, ctx=CTX, verify=tls_context(**tls), timeout=5)
            try:
                return await dest.send(batch(1))
            finally:
                await dest.aclose()

        assert [r.outcome for r in await send(ca_file=pki.ca_cert, client_cert=pki.client_cert, client_key=pki.client_key)] == [Outcome.DELIVERED]
        assert proxy.stats.client_certs == ["HEIMA-TEST-0001"]
        with pytest.raises(DeliveryError) as no_cert:
            await send(ca_file=pki.ca_cert)
        with pytest.raises(DeliveryError) as rogue:
            await send(ca_file=pki.ca_cert, client_cert=pki.rogue_client_cert, client_key=pki.rogue_client_key)
        with pytest.raises(DeliveryError) as unpinned:
            await send()  # the public CAs do not know our test CA: verification is on by default
    assert len(fhir_server.observations()) == 1
    for info in (no_cert, rogue):
        assert "client certificate" in info.value.reason or "closed the connection" in info.value.reason, info.value.reason
        assert not info.value.permanent
    assert "TLS: the FHIR server was not trusted" in unpinned.value.reason


# -- from the configuration file, through the hub ----------------------------------------------------------


@pytest.mark.parametrize("key_format", ["jwk", "pem"])
async def test_the_hub_delivers_with_credentials_from_its_configuration(tmp_path: Path, fhir_server, pki, key_format):
    key = ECKey.generate_key("P-256", parameters={"kid": "hub-key-7"})
    key_file = tmp_path / f"client.{key_format}"
    if key_format == "jwk":
        key_file.write_text(json.dumps(key.as_dict(private=True)))
    else:
        key_file.write_bytes(key.as_pem(private=True))
    key_file.chmod(0o600)
    # (HelseID does not ask for a client certificate at its token endpoint; mutual TLS toward the
    # FHIR server is proven in test_mutual_tls_with_the_hubs_certificate.)
    server = TokenServer(upstream=fhir_server.base_url, tls=ServerTls(pki.server_cert, pki.server_key))
    server.register(CLIENT_ID, {**key.as_dict(private=False), "kid": "hub-key-7"})
    with server:
        config = parse_config(
            {
                "hub": {"data_dir": str(tmp_path / "data")},
                "patient": {"identifier": "13116900216"},
                "destinations": [
                    {
                        "name": "centre",
                        "kind": "fhir",
                        "url": server.fhir_base,
                        "ca_file": str(pki.ca_cert),
                        "client_cert": str(pki.client_cert),
                        "client_key": str(pki.client_key),
                        "auth": {
                            "kind": "private-key-jwt",
                            "token_url": server.token_url,
                            "client_id": CLIENT_ID,
                            "key_file": str(key_file),
                            "key_id": "hub-key-7",
                            "ca_file": str(pki.ca_cert),
                            "scope": "nhn:pmd/write",
                        },
                    }
                ],
            }
        )
        hub = await start_hub(config, deliver=False)
        try:
            outcome = await hub.service.record_reading(spo2(96))
            reports = await hub.deliver_now()
        finally:
            await hub.stop()
    assert reports["centre"].delivered == 1, reports["centre"].errors
    assert len(fhir_server.observations(outcome.measurement.urn)) == 1
    assert server.stats.tokens_issued == 1
