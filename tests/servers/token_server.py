"""A small OAuth2 token endpoint and a DPoP-checking resource proxy of our own, on loopback.

`TokenServer` is what HelseID is to a hub, strict: it verifies for real (signatures checked with
joserfc) the `private_key_jwt` client assertion (registered key by `kid`, `iss` = `sub` =
client_id, `aud` = the issuer or the token URL, lifetime ≤ 60 s, not expired, not from the future,
single-use `jti`) and the DPoP proof (`typ: dpop+jwt`, a public `jwk` in the header that verifies
the signature, `htm`, `htu`, fresh `iat`, single-use `jti`, and the server's current nonce — a
request without it gets `400 use_dpop_nonce` with a `DPoP-Nonce` header). Tokens are opaque,
bound to the proof key's thumbprint, and expire.

With `upstream` set, every other path is a protected resource: the request must carry
`Authorization: DPoP <token>` and a proof with `ath` = SHA-256 of the token, from the key the
token is bound to, with the resource nonce (else `401 WWW-Authenticate: DPoP
error="use_dpop_nonce"` + `DPoP-Nonce`); an unknown or expired token gets `401 ... error="invalid_token"`.
Accepted requests are forwarded to the upstream (the reference FHIR server) and their bodies kept.

It can serve over TLS (`tls=ServerTls(...)`, optionally requiring a client certificate), with
`make_pki` creating a CA, a server certificate for 127.0.0.1 and a hub's client certificate.
The server's clock can be set off (`clock_offset`) to test skew.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"]
KEY_TYPES = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Rejected(Exception):
    def __init__(self, status: int, error: str, why: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(why)
        self.status, self.error, self.why, self.headers = status, error, why, headers or {}


# -- PKI for TLS tests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # the hub's certificate, signed by the CA
    client_key: Path
    other_ca_cert: Path  # a CA that signed nothing here (a wrong pin)
    rogue_client_cert: Path  # a client certificate from the other CA (not trusted by the server)
    rogue_client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, san_ip: bool = False, client: bool = False, days: int = 30):
    import ipaddress

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path, *, hub_serial: str = "HEIMA-TEST-0001") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def save(name: str, cert) -> Path:
        path = folder / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[name] = path
        return path

    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_key, client_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    save("ca.pem", _cert("Heima test CA", ca_key, "Heima test CA", ca_key, ca=True))
    save("other-ca.pem", _cert("Some other CA", other_key, "Some other CA", other_key, ca=True))
    save("server.pem", _cert("127.0.0.1", server_key, "Heima test CA", ca_key, ca=False, san_ip=True))
    save("hub.pem", _cert(hub_serial, client_key, "Heima test CA", ca_key, ca=False, client=True))
    save("rogue.pem", _cert(hub_serial, rogue_key, "Some other CA", other_key, ca=False, client=True))
    for name, key in (("server.key", server_key), ("hub.key", client_key), ("rogue.key", rogue_key)):
        _write_key(key, folder / name)
    return Pki(
        ca_cert=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "hub.pem",
        client_key=folder / "hub.key",
        other_ca_cert=folder / "other-ca.pem",
        rogue_client_cert=folder / "rogue.pem",
        rogue_client_key=folder / "rogue.key",
    )


@dataclass(frozen=True)
class ServerTls:
    cert: Path
    key: Path
    client_ca: Path | None = None  # require a client certificate signed by this CA (mutual TLS)

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        if self.client_ca is not None:
            context.load_verify_locations(str(self.client_ca))
            context.verify_mode = ssl.CERT_REQUIRED
        return context


# -- the server ----------------------------------------------------------------------------------------


@dataclass
class Stats:
    tokens_issued: int = 0
    token_nonce_challenges: int = 0
    resource_nonce_challenges: int = 0
    forwarded: int = 0
    rejected: Counter = field(default_factory=Counter)  # why -> count
    bodies: list[bytes] = field(default_factory=list)  # forwarded request bodies, in order
    client_certs: list[str] = field(default_factory=list)  # subject CN of each TLS client seen


class TokenServer:
    def __init__(
        self,
        *,
        clients: dict[str, list[dict[str, Any]]] | None = None,
        upstream: str | None = None,
        token_lifetime: int = 300,
        tls: ServerTls | None = None,
        require_nonce: bool = True,
        leeway: int = 30,
        max_assertion_lifetime: int = 60,
    ) -> None:
        self.clients = clients or {}  # client_id -> registered public JWKs (with kid)
        self.upstream = upstream.rstrip("/") if upstream else None
        self.token_lifetime = token_lifetime
        self.tls = tls
        self.require_nonce = require_nonce
        self.leeway = leeway
        self.max_assertion_lifetime = max_assertion_lifetime
        self.clock_offset = 0.0
        self.stats = Stats()
        self._lock = threading.Lock()
        self._seen_jti: set[str] = set()
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (client_id, jkt, expires)
        self._nonces = {"token": secrets.token_urlsafe(16), "resource": secrets.token_urlsafe(16)}
        self._old_nonces: dict[str, str] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._upstream_http: httpx.Client | None = None

    # -- control -------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def register(self, client_id: str, public_jwk: dict[str, Any]) -> None:
        self.clients.setdefault(client_id, []).append(public_jwk)

    def rotate_nonces(self) -> None:
        with self._lock:
            for role in self._nonces:
                self._old_nonces[role] = self._nonces[role]
                self._nonces[role] = secrets.token_urlsafe(16)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (the hub still holds them in its cache)."""
        with self._lock:
            self._tokens = {t: (c, j, 0.0) for t, (c, j, _) in self._tokens.items()}

    def start(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return formatdate(server.now(), usegmt=True)

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server._record_client_cert(self.connection)
                status, headers, payload = server.handle(self.command, self.path, dict(self.headers.items()), body, self._scheme())
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _scheme(self) -> str:
                return "https" if server.tls else "http"

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.context().wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="token-server")
        self._thread.start()
        if self.upstream:
            self._upstream_http = httpx.Client(timeout=30.0)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._upstream_http is not None:
            self._upstream_http.close()
            self._upstream_http = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.origin

    @property
    def token_url(self) -> str:
        return f"{self.origin}/connect/token"

    @property
    def fhir_base(self) -> str:
        """The proxied FHIR base URL (the upstream's path, on this server)."""
        assert self.upstream is not None
        return self.origin + urlsplit(self.upstream).path

    # -- request handling -------------------------------------------------------------------------

    def _record_client_cert(self, connection: Any) -> None:
        getpeercert = getattr(connection, "getpeercert", None)
        cert = getpeercert() if getpeercert else None
        if cert:
            for rdn in cert.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        self.stats.client_certs.append(value)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes, scheme: str) -> tuple[int, dict, bytes]:
        headers = {k.lower(): v for k, v in headers.items()}
        url = f"{scheme}://{headers.get('host', f'127.0.0.1:{self.port}')}{path}"
        try:
            if urlsplit(path).path == "/connect/token":
                if method != "POST":
                    raise Rejected(405, "invalid_request", "token endpoint takes POST")
                return self._token(url, headers, body)
            if self.upstream is None:
                raise Rejected(404, "not_found", "no such endpoint")
            return self._resource(method, url, path, headers, body)
        except Rejected as r:
            with self._lock:
                self.stats.rejected[r.why] += 1
            if r.status == 401:
                return 401, {"www-authenticate": f'DPoP error="{r.error}"', **r.headers}, b""
            payload = json.dumps({"error": r.error, "error_description": r.why}).encode()
            return r.status, {"content-type": "application/json", "cache-control": "no-store", **r.headers}, payload

    # -- the token endpoint ------------------------------------------------------------------------

    def _use_jti(self, jti: Any, what: str) -> None:
        if not isinstance(jti, str) or not jti:
            raise Rejected(400, "invalid_request", f"{what}: no jti")
        with self._lock:
            if jti in self._seen_jti:
                raise Rejected(400, "invalid_client" if what == "assertion" else "invalid_dpop_proof", f"{what}: jti replayed")
            self._seen_jti.add(jti)

    def _check_nonce(self, role: str, nonce: Any, status: int) -> None:
        if not self.require_nonce:
            return
        with self._lock:
            good = {self._nonces[role], self._old_nonces.get(role)} - {None}
            current = self._nonces[role]
        if not isinstance(nonce, str) or nonce not in good:
            with self._lock:
                if role == "token":
                    self.stats.token_nonce_challenges += 1
                else:
                    self.stats.resource_nonce_challenges += 1
            raise Rejected(status, "use_dpop_nonce", f"{role}: DPoP nonce missing or stale", {"dpop-nonce": current})

    def _verify_proof(self, proof: str | None, method: str, url: str) -> tuple[dict[str, Any], str]:
        """The proof's claims and its key's thumbprint (jkt), after checking signature and claims."""
        if not proof:
            raise Rejected(400, "invalid_dpop_proof", "no DPoP proof")
        try:
            header = jws.extract_compact(proof.encode()).protected
        except (JoseError, ValueError):
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof is not a JWS") from None
        if header.get("typ") != "dpop+jwt":
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: typ is not dpop+jwt")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") not in KEY_TYPES:
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: no public jwk in the header")
        if header.get("alg") not in ALGORITHMS:
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: algorithm not allowed")
        try:
            key = KEY_TYPES[jwk["kty"]].import_key(jwk)
            claims = jwt.decode(proof, key, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError):
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: signature does not verify") from None
        if claims.get("htm") != method:
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: htm does not match")
        parts = urlsplit(url)
        if claims.get("htu") != f"{parts.scheme}://{parts.netloc}{parts.path}":
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: htu does not match")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or abs(iat - self.now()) > self.leeway:
            raise Rejected(400, "invalid_dpop_proof", "DPoP proof: iat not fresh")
        return claims, key.thumbprint()

    def _verify_assertion(self, assertion: str | None, client_id: str | None, token_url: str) -> str:
        if not assertion:
            raise Rejected(400, "invalid_client", "no client assertion")
        try:
            header = jws.extract_compact(assertion.encode()).protected
        except (JoseError, ValueError):
            raise Rejected(400, "invalid_client", "assertion is not a JWS") from None
        try:
            unverified = json.loads(jws.extract_compact(assertion.encode()).payload)
        except ValueError:
            raise Rejected(400, "invalid_client", "assertion payload is not JSON") from None
        claimed = unverified.get("iss")
        if client_id is not None and claimed != client_id:
            raise Rejected(400, "invalid_client", "assertion iss is not the client_id")
        keys = [k for k in self.clients.get(str(claimed), []) if k.get("kid") == header.get("kid")]
        if not header.get("kid") or not keys:
            raise Rejected(400, "invalid_client", "assertion kid not registered for this client")
        if header.get("alg") not in ALGORITHMS:
            raise Rejected(400, "invalid_client", "assertion algorithm not allowed")
        try:
            key = KEY_TYPES[keys[0]["kty"]].import_key(keys[0])
            claims = jwt.decode(assertion, key, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError):
            raise Rejected(400, "invalid_client", "assertion signature does not verify") from None
        if claims.get("sub") != claimed:
            raise Rejected(400, "invalid_client", "assertion sub is not iss")
        if claims.get("aud") not in (self.issuer, token_url, [self.issuer], [token_url]):
            raise Rejected(400, "invalid_client", "assertion aud is not the issuer")
        now = self.now()
        exp, iat = claims.get("exp"), claims.get("iat", claims.get("nbf"))
        if not isinstance(exp, (int, float)) or exp < now - self.leeway:
            raise Rejected(400, "invalid_client", "assertion expired")
        if isinstance(iat, (int, float)):
            if iat > now + self.leeway:
                raise Rejected(400, "invalid_client", "assertion issued in the future")
            if exp - iat > self.max_assertion_lifetime:
                raise Rejected(400, "invalid_client", "assertion lives longer than allowed")
        elif exp > now + self.max_assertion_lifetime + self.leeway:
            raise Rejected(400, "invalid_client", "assertion lives longer than allowed")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now + self.leeway:
            raise Rejected(400, "invalid_client", "assertion not yet valid")
        self._use_jti(claims.get("jti"), "assertion")
        return str(claimed)

    def _token(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise Rejected(400, "unsupported_grant_type", "grant_type is not client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Rejected(400, "invalid_client", "wrong client_assertion_type")
        claims, jkt = self._verify_proof(headers.get("dpop"), "POST", url)
        self._check_nonce("token", claims.get("nonce"), 400)
        self._use_jti(claims.get("jti"), "token proof")
        client_id = self._verify_assertion(form.get("client_assertion"), form.get("client_id"), url)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (client_id, jkt, self.now() + self.token_lifetime)
            self.stats.tokens_issued += 1
        payload = {"access_token": token, "token_type": "DPoP", "expires_in": self.token_lifetime, "scope": form.get("scope", "")}
        return 200, {"content-type": "application/json", "cache-control": "no-store"}, json.dumps(payload).encode()

    # -- the protected resource ---------------------------------------------------------------------

    def _resource(self, method: str, url: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            raise Rejected(401, "invalid_token", "resource: no DPoP access token")
        with self._lock:
            known = self._tokens.get(token)
        if known is None or known[2] <= self.now():
            raise Rejected(401, "invalid_token", "resource: token unknown or expired")
        try:
            claims, jkt = self._verify_proof(headers.get("dpop"), method, url)
        except Rejected as r:
            raise Rejected(401, "invalid_dpop_proof", r.why) from None
        self._check_nonce("resource", claims.get("nonce"), 401)
        if jkt != known[1]:
            raise Rejected(401, "invalid_dpop_proof", "resource: proof key is not the token's key")
        if claims.get("ath") != _b64url(hashlib.sha256(token.encode()).digest()):
            raise Rejected(401, "invalid_dpop_proof", "resource: ath does not match the token")
        try:
            self._use_jti(claims.get("jti"), "resource proof")
        except Rejected as r:
            raise Rejected(401, "invalid_dpop_proof", r.why) from None
        return self.forward(method, path, headers, body)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        assert self._upstream_http is not None and self.upstream is not None
        with self._lock:
            self.stats.forwarded += 1
            self.stats.bodies.append(body)
        parts = urlsplit(self.upstream)
        answer = self._upstream_http.request(
            method,
            f"{parts.scheme}://{parts.netloc}{path}",
            content=body,
            headers={k: v for k, v in headers.items() if k in ("content-type", "accept")},
        )
        out = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "location", "retry-after")}
        out["dpop-nonce"] = self._nonces["resource"]
        return answer.status_code, out, answer.content


class PlainProxy(TokenServer):
    """No auth at all: a (TLS, perhaps mutual) front for the upstream, keeping bodies."""

    def _resource(self, method: str, url: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        status, out, payload = self.forward(method, path, headers, body)
        out.pop("dpop-nonce", None)
        return status, out, payload
