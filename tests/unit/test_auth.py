"""sync.auth without a network: keys, client assertions, DPoP proofs, challenges, TLS settings,
and the auth/TLS configuration keys."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from hub.config import ConfigError, parse_config
from sync.auth import (
    AuthError,
    KeyFileError,
    PrivateKeyJwtAuth,
    SigningKey,
    access_token_hash,
    describe_tls_error,
    parse_www_authenticate,
    tls_context,
)


def _auth(key: SigningKey | None = None, **kw) -> PrivateKeyJwtAuth:
    return PrivateKeyJwtAuth(
        token_url="https://helseid.example/connect/token",
        client_id="heima-hub-42",
        client_key=key or SigningKey.generate(),
        clock=lambda: 1_800_000_000.0,
        **kw,
    )


def _claims(token: str, key: SigningKey) -> tuple[dict, dict]:
    public = ECKey.import_key({**key.public_jwk()})
    decoded = jwt.decode(token, public, algorithms=[key.alg])
    return dict(decoded.header), dict(decoded.claims)


def test_the_client_assertion_is_signed_and_says_what_helseid_wants():
    key = SigningKey.generate()
    auth = _auth(key)
    header, claims = _claims(auth.client_assertion(), key)
    assert header["kid"] == key.kid and header["alg"] == "ES256"
    assert claims["iss"] == claims["sub"] == "heima-hub-42"
    assert claims["aud"] == "https://helseid.example"  # the issuer
    assert 0 < claims["exp"] - claims["iat"] <= 60
    second = _claims(auth.client_assertion(), key)[1]
    assert claims["jti"] != second["jti"]  # single use: a new jti every time


def test_a_dpop_proof_carries_its_public_key_and_binds_method_url_and_token():
    auth = _auth()
    token = "opaque-token-abc"
    proof = auth.dpop_proof("post", httpx.URL("https://pmd.example/fhir/R4?x=1#frag"), nonce="n-1", token=token)
    header = jws.extract_compact(proof.encode()).protected
    assert header["typ"] == "dpop+jwt"
    assert set(header["jwk"]) <= {"kty", "crv", "x", "y"} and "d" not in header["jwk"]
    claims = jwt.decode(proof, ECKey.import_key(header["jwk"]), algorithms=["ES256"]).claims
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://pmd.example/fhir/R4"  # no query, no fragment
    assert claims["nonce"] == "n-1"
    assert claims["ath"] == access_token_hash(token)
    assert claims["iat"] == 1_800_000_000


def test_ath_is_the_base64url_sha256_of_the_token():
    # RFC 9449 section 7.1 example
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize(
    "value, expected",
    [
        ('DPoP error="use_dpop_nonce", error_description="Resource server requires nonce"', ("dpop", "use_dpop_nonce")),
        ('DPoP algs="ES256 PS256", error="invalid_token"', ("dpop", "invalid_token")),
        ("Bearer realm=x, error=invalid_token", ("bearer", "invalid_token")),
        ("", ("", None)),
    ],
)
def test_challenges_are_read(value, expected):
    scheme, params = parse_www_authenticate(value)
    assert (scheme, params.get("error")) == expected


def test_keys_load_from_pem_and_jwk_and_never_show_themselves(tmp_path):
    ec = ECKey.generate_key("P-256", parameters={"kid": "hub-key-1"})
    jwk_file = tmp_path / "key.jwk"
    jwk_file.write_text(json.dumps(ec.as_dict(private=True)))
    pem_file = tmp_path / "key.pem"
    pem_file.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    from_jwk = SigningKey.from_file(jwk_file)
    from_pem = SigningKey.from_file(pem_file, kid="rsa-1")
    assert (from_jwk.kid, from_jwk.alg) == ("hub-key-1", "ES256")
    assert (from_pem.kid, from_pem.alg) == ("rsa-1", "RS256")
    d = ec.as_dict(private=True)["d"]
    assert d not in repr(from_jwk) and "PRIVATE" not in repr(from_pem)
    assert "heima-hub-42" in repr(_auth(from_jwk)) and d not in repr(_auth(from_jwk))
    # a PEM without kid gets its RFC 7638 thumbprint as kid
    assert SigningKey.from_file(pem_file).kid == RSAKey.import_key(pem_file.read_bytes()).thumbprint()


@pytest.mark.parametrize(
    "content",
    [b"not a key at all", b'{"kty": "EC", "crv": "P-256"}', b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", b"{nope"],
)
def test_a_bad_key_file_is_named_by_role_and_its_content_is_not_echoed(tmp_path, content):
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as info:
        SigningKey.from_file(path, role="auth.key_file")
    assert str(info.value).startswith("auth.key_file:")
    assert "AAAA" not in str(info.value) and "nope" not in str(info.value)


def test_a_public_key_is_not_accepted_as_the_clients_key(tmp_path):
    path = tmp_path / "public.jwk"
    path.write_text(json.dumps(ECKey.generate_key("P-256").as_dict(private=False)))
    with pytest.raises(KeyFileError, match="not a private key"):
        SigningKey.from_file(path)


def test_tls_context_always_verifies_and_can_pin_a_ca(tmp_path):
    from tests.servers.token_server import make_pki

    pki = make_pki(tmp_path / "pki")
    default = tls_context()
    assert default.verify_mode is ssl.CERT_REQUIRED and default.check_hostname
    pinned = tls_context(ca_file=pki.ca_cert, client_cert=pki.client_cert, client_key=pki.client_key)
    assert pinned.verify_mode is ssl.CERT_REQUIRED and pinned.check_hostname
    assert pinned.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in pinned.get_ca_certs()] == [((("commonName", "Heima test CA"),),)]
    with pytest.raises(KeyFileError, match="client_cert"):
        tls_context(client_cert=pki.client_cert, client_key=pki.server_key)  # key of another certificate


def test_tls_failures_are_told_in_a_technicians_words():
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer certificate")
    verify.verify_message = "unable to get local issuer certificate"
    wrapped = httpx.ConnectError("boom")
    wrapped.__cause__ = verify
    assert "not signed by a CA the hub trusts" in describe_tls_error(wrapped, "the FHIR server")
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    assert "client certificate" in describe_tls_error(alert)
    expired = ssl.SSLCertVerificationError(1, "certificate verify failed: certificate has expired")
    expired.verify_message = "certificate has expired"
    assert "expired" in describe_tls_error(expired)
    assert describe_tls_error(httpx.ConnectError("refused")) is None


async def test_the_auth_refuses_a_sync_client():
    auth = _auth()
    with pytest.raises(RuntimeError, match="AsyncClient"):
        with httpx.Client(auth=auth, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
            c.get("https://x.example/")
    await auth.aclose()


async def test_token_endpoint_answers_are_explained_without_secrets():
    answers = iter(
        [
            httpx.Response(400, json={"error": "invalid_client", "error_description": "kid abc unknown"}),
            httpx.Response(503, text="<html>down</html>", headers={"content-type": "text/html"}),
            httpx.Response(200, json={"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 60}),
            httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
        ]
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: next(answers)))
    auth = _auth(token_client=client)
    reasons = []
    for _ in range(4):
        with pytest.raises(AuthError) as info:
            await auth.access_token()
        reasons.append(info.value.reason)
    await client.aclose()
    assert "invalid_client" in reasons[0] and "key_file" in reasons[0] and "kid abc" not in reasons[0]
    assert "unavailable (503)" in reasons[1]
    assert "Bearer token where a dpop token was asked" in reasons[2] and "t0k3n" not in reasons[2]
    assert "not with JSON" in reasons[3]


async def test_the_token_is_cached_and_refreshed_before_it_expires():
    issued = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        issued.append(request)
        return httpx.Response(200, json={"access_token": f"t{len(issued)}", "token_type": "DPoP", "expires_in": 300})

    now = [1000.0]
    client = httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint))
    auth = _auth(token_client=client, monotonic=lambda: now[0])
    assert (await auth.access_token())[0] == "t1"
    now[0] += 200
    assert (await auth.access_token())[0] == "t1"  # cached
    now[0] += 41  # 241 s: inside the last fifth (60 s) of its 300 s life
    assert (await auth.access_token())[0] == "t2"  # refreshed before it expired
    assert len(issued) == 2
    form = dict(httpx.QueryParams(issued[0].content.decode()))
    assert form["grant_type"] == "client_credentials" and form["client_id"] == "heima-hub-42"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "DPoP" in issued[0].headers
    await client.aclose()


# -- configuration -------------------------------------------------------------------------------


def _dest(**extra) -> dict:
    return {
        "patient": {"identifier": "13116900216"},
        "destinations": [{"name": "pmd", "kind": "fhir", "url": "https://pmd.example/fhir", **extra}],
    }


def test_auth_and_tls_settings_are_read(tmp_path: Path):
    key = tmp_path / "client.jwk"
    key.write_text("{}")
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    config = parse_config(
        _dest(
            ca_file="ca.pem",
            client_cert="ca.pem",
            auth={
                "kind": "private-key-jwt",
                "token_url": "https://helseid-sts.nhn.no/connect/token",
                "client_id": "abc",
                "key_file": "client.jwk",
                "scope": "nhn:pmd/write nhn:pmd/read",
            },
        ),
        base_dir=tmp_path,
    )
    [dest] = config.destinations
    assert dest.auth.kind == "private-key-jwt" and dest.auth.dpop
    assert dest.auth.key_file == key and dest.auth.scope == ("nhn:pmd/write", "nhn:pmd/read")
    assert dest.tls.ca_file == ca and dest.tls.client_cert == ca


@pytest.mark.parametrize(
    "extra, setting",
    [
        ({"auth": {"kind": "basic"}}, "destinations[0].auth.kind"),
        ({"auth": {"kind": "private-key-jwt", "token_url": "http://helseid.example/t", "client_id": "a", "key_file": "k"}}, "auth.token_url"),
        ({"auth": {"kind": "private-key-jwt", "token_url": "https://h.example/t", "key_file": "k"}}, "auth.client_id"),
        ({"auth": {"kind": "private-key-jwt", "token_url": "https://h.example/t", "client_id": "a", "key_file": "/no/such/secret-key"}}, "auth.key_file"),
        ({"auth": {"kind": "none", "client_id": "a"}}, "destinations[0].auth"),
        ({"ca_file": "/no/such/ca.pem"}, "destinations[0].ca_file"),
        ({"client_key": "/no/such/key.pem"}, "destinations[0].client_key"),
        ({"tls_verify": False}, "unknown setting"),
    ],
)
def test_bad_auth_settings_are_named_not_echoed(extra, setting):
    with pytest.raises(ConfigError) as info:
        parse_config(_dest(**extra), base_dir=Path("/tmp"))
    assert setting in str(info.value)
    assert "secret-key" not in str(info.value)


def test_credentials_are_never_sent_over_plain_http(tmp_path):
    (tmp_path / "k").write_text("{}")
    data = {
        "destinations": [
            {
                "name": "c",
                "kind": "fhir",
                "url": "http://fhir.example/R4",
                "auth": {"kind": "private-key-jwt", "token_url": "https://h.example/t", "client_id": "a", "key_file": "k"},
            }
        ]
    }
    with pytest.raises(ConfigError, match="destinations\\[0\\].url: needs https://"):
        parse_config(data, base_dir=tmp_path)


@pytest.mark.parametrize("token_url", ["http://127.0.0.1:@helseid.example/connect/token", "http://helseid.example/t"])
def test_a_token_endpoint_that_is_not_https_or_this_machine_is_refused(token_url):
    with pytest.raises(ValueError, match="auth.token_url"):
        PrivateKeyJwtAuth(token_url=token_url, client_id="hub-42", client_key=SigningKey.generate())


async def test_no_token_is_fetched_or_sent_for_a_request_in_clear_to_another_machine():
    asked: list[httpx.Request] = []

    def anything(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json={"access_token": "t0k3n", "token_type": "DPoP", "expires_in": 60})

    token_client = httpx.AsyncClient(transport=httpx.MockTransport(anything))
    auth = _auth(token_client=token_client)
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(anything)) as api:
        for url in ("http://fhir.kommune.example/R4/metadata", "https://hub:pw@fhir.kommune.example/R4/metadata"):
            with pytest.raises(AuthError, match="only sent over https"):
                await api.get(url)
        assert asked == []  # neither the token endpoint nor the server was asked
        await api.get("http://127.0.0.1:8080/R4/metadata")  # a test server on this machine
    await token_client.aclose()
    assert [r.url.host for r in asked] == ["helseid.example", "127.0.0.1"]
    assert asked[1].headers["Authorization"] == "DPoP t0k3n"
