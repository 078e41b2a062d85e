"""How the hub proves who it is to a centre: OAuth2 client credentials with `private_key_jwt` and
DPoP (HelseID style), mutual TLS with a per-hub certificate, TLS verification always on.

`PrivateKeyJwtAuth` is an httpx `Auth` (async clients only). Per API request it:

1. gets an access token from the token endpoint, cached and refreshed before it expires
   (lifetime measured on the monotonic clock, so a wall-clock jump or skew does not matter):
   `grant_type=client_credentials`, `client_assertion` = a JWT signed with the hub's key
   (`iss` = `sub` = client_id, `aud` = the issuer, `exp` ≤ 60 s, a fresh single-use `jti`, `kid`
   in the header), and — with DPoP — a DPoP proof; a `400 use_dpop_nonce` with a `DPoP-Nonce`
   header is answered once with a proof carrying that nonce (and a new assertion: a `jti` is never
   used twice). A token endpoint whose `Date` is far from the hub's clock teaches the hub the
   offset; assertions and proofs are then dated on the server's time, and a refusal that the
   offset explains is retried once.
2. sends the request with `Authorization: DPoP <token>` and a DPoP proof (`htm`, `htu`, `iat`,
   `jti`, `ath` = base64url(SHA-256(token)), the resource server's nonce when it gave one);
   a `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` is answered once with that nonce,
   a `401 invalid_token` (expired, revoked) once with a new token.

Failures raise `AuthError` with a reason a technician can act on. Keys come from files (PEM or
JWK); neither keys, assertions, proofs nor tokens are ever logged or put in a reason, nor is the
token endpoint's own text (`error_description`, a reason phrase, an `error` that is not one of
the OAuth codes in sync.server_text).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import ssl
import stat
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import certifi
import httpx

from hub.domain.endpoints import is_loopback_host, url_problem
from sync.server_text import OAUTH_ERRORS, coded, quiet_http_logs, seconds_text

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, OKPKey, RSAKey

log = logging.getLogger(__name__)
quiet_http_logs()  # httpx/httpcore would log the token endpoint's reason phrase and headers

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 30  # seconds; HelseID wants at most 60
SKEW_LEARN_THRESHOLD = 10.0  # seconds between the hub's clock and the token endpoint's Date
DEFAULT_TOKEN_LIFETIME = 60  # when the token endpoint does not say (expires_in)

_ALGORITHMS = {("EC", "P-256"): "ES256", ("EC", "P-384"): "ES384", ("EC", "P-521"): "ES512", ("OKP", "Ed25519"): "EdDSA"}
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"|(\w+)\s*=\s*([^\s,"]+)')


class AuthError(Exception):
    """Getting or using credentials failed. `reason` is for logs and the technician: it names
    what failed and what to check, never a key, token or patient data. Always transient for the
    outbox (a credentials problem is never the data's fault)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class KeyFileError(ValueError):
    """A key file cannot be used; the message names the file's role, never its content."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(token: str) -> str:
    """DPoP `ath`: base64url(SHA-256(ASCII access token))."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def _key_types() -> tuple[type, type, type]:
    """joserfc (and cryptography under it: ~11 MB) is loaded when a key is first used, not by
    every process that imports this module (the touch app with a folder destination never signs)."""
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    return ECKey, RSAKey, OKPKey


class SigningKey:
    """A private key for signing JWTs, with its `kid` and algorithm. Its repr names neither the
    key material nor anything derived from it beyond the kid."""

    __slots__ = ("_key", "kid", "alg")

    def __init__(self, key: ECKey | RSAKey | OKPKey, *, kid: str | None = None) -> None:
        if not key.is_private:
            raise KeyFileError("not a private key")
        public = key.as_dict(private=False)
        kty = public["kty"]
        alg = "RS256" if kty == "RSA" else _ALGORITHMS.get((kty, public.get("crv", "")))
        if alg is None:
            raise KeyFileError("key type not supported (use EC P-256, RSA or Ed25519)")
        self._key = key
        self.alg = alg
        self.kid = kid or public.get("kid") or key.thumbprint()

    def __repr__(self) -> str:
        return f"<SigningKey {self.alg} kid={self.kid}>"

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh EC P-256 key (a DPoP key needs no registration: the token is bound to it)."""
        ec_key, _, _ = _key_types()
        return cls(ec_key.generate_key("P-256"))

    @classmethod
    def from_file(cls, path: Path, *, kid: str | None = None, role: str = "key_file") -> SigningKey:
        """A PEM (PKCS#8 / traditional) or JWK (JSON) private key from a file."""
        try:
            data = path.read_bytes()
        except OSError:
            raise KeyFileError(f"{role}: the file cannot be read") from None
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning("%s: the private key file is readable by other users; chmod 600 it", role)
        except OSError:  # pragma: no cover - it was just read
            pass
        key: Any = None
        text = data.strip()
        if text.startswith(b"{"):
            try:
                jwk = json.loads(text)
            except ValueError:
                raise KeyFileError(f"{role}: not valid JSON (expected a JWK)") from None
            for kind in _key_types():
                if isinstance(jwk, dict) and jwk.get("kty") == kind.key_type:
                    try:
                        key = kind.import_key(jwk)
                    except Exception:
                        raise KeyFileError(f"{role}: the JWK is not a usable {kind.key_type} key") from None
            kid = kid or (jwk.get("kid") if isinstance(jwk, dict) else None)
        elif b"-----BEGIN" in text:
            for kind in _key_types():
                try:
                    key = kind.import_key(text)
                    break
                except Exception:
                    continue
        if key is None:
            raise KeyFileError(f"{role}: not a PEM or JWK private key")
        try:
            return cls(key, kid=kid)
        except KeyFileError as exc:
            raise KeyFileError(f"{role}: {exc}") from None

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK with only its key parameters (what a DPoP header carries)."""
        public = self._key.as_dict(private=False)
        return {k: v for k, v in public.items() if k in ("kty", "crv", "x", "y", "n", "e")}

    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint (a DPoP-bound token's `cnf.jkt`)."""
        return self._key.thumbprint()

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        from joserfc import jwt

        return jwt.encode({**header, "alg": self.alg}, claims, self._key)


# -- TLS ----------------------------------------------------------------------------------------


def tls_context(
    *, ca_file: Path | None = None, client_cert: Path | None = None, client_key: Path | None = None
) -> ssl.SSLContext:
    """A client TLS context: certificate and host name always verified, TLS 1.2 at least.

    `ca_file` pins the trust to that CA alone (default: the public CAs of `certifi`);
    `client_cert`/`client_key` present the hub's own certificate (mutual TLS)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else certifi.where())
    except (OSError, ssl.SSLError):
        raise KeyFileError("ca_file: not a readable PEM CA certificate") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError):
            raise KeyFileError(
                "client_cert/client_key: not a readable PEM certificate with its matching private key"
            ) from None
    return context


_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_EXPIRED",
    "ACCESS_DENIED",
)


def describe_tls_error(exc: BaseException, who: str = "the server") -> str | None:
    """A technician's sentence for a TLS failure anywhere in `exc`'s causes, or None."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause)
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            detail = getattr(cause, "verify_message", "") or text
            if "expired" in detail:
                why = "its certificate has expired (or the hub's clock is far off)"
            elif "hostname" in detail.lower() or "IP address mismatch" in detail:
                why = "its certificate is for another host name than the configured URL"
            elif "self-signed" in detail or "issuer" in detail:
                why = "its certificate is not signed by a CA the hub trusts (check ca_file if the CA is pinned)"
            else:
                why = "its certificate could not be verified"
            return f"TLS: {who} was not trusted: {why}; nothing was sent; will retry"
        if isinstance(cause, ssl.SSLError) or "SSLV3_ALERT" in text or "TLSV1" in text:
            upper = text.upper()
            if any(alert in upper for alert in _CLIENT_CERT_ALERTS):
                return (
                    f"TLS: {who} refused the hub's client certificate (mutual TLS): check client_cert/"
                    "client_key, its expiry, and that the centre has registered this hub's certificate; will retry"
                )
            if "WRONG_VERSION_NUMBER" in upper or "RECORD_LAYER_FAILURE" in upper:
                return f"TLS: {who} does not speak TLS on that port (http:// vs https://?); will retry"
            return f"TLS: the secure connection to {who} failed ({type(cause).__name__}); will retry"
        cause = cause.__cause__ or cause.__context__
    return None


# -- OAuth2 client credentials + DPoP ---------------------------------------------------------------


def _htu(url: httpx.URL | str) -> str:
    """DPoP `htu`: the URL without query and fragment."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _may_carry_credentials(url: httpx.URL) -> bool:
    """A token or proof goes only over TLS, or in clear only to this very machine (test servers)."""
    if url.userinfo:
        return False
    return url.scheme == "https" or (url.scheme == "http" and is_loopback_host(url.host))


def _origin(url: httpx.URL | str) -> str:
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}"


def parse_www_authenticate(value: str) -> tuple[str, dict[str, str]]:
    """`DPoP error="use_dpop_nonce", algs="ES256"` -> ("dpop", {"error": "use_dpop_nonce", ...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        key = match.group(1) or match.group(3)
        params[key.lower()] = match.group(2) if match.group(1) else match.group(4)
    return scheme.lower(), params


_TOKEN_ERRORS = {
    "invalid_client": "did not accept the hub's client credentials (invalid_client): check client_id, "
    "key_file and that the key's kid is registered for this client; if the hub's clock is far off, fix it",
    "unauthorized_client": "does not allow this client the client_credentials grant (unauthorized_client): "
    "check the client's registration at the centre",
    "invalid_scope": "refused the requested scope (invalid_scope): check auth.scope",
    "invalid_grant": "refused the grant (invalid_grant): check the client's registration",
    "invalid_dpop_proof": "refused the hub's DPoP proof (invalid_dpop_proof): check the hub's clock",
    "use_dpop_nonce": "kept asking for a new DPoP nonce",
}


class PrivateKeyJwtAuth(httpx.Auth):
    """OAuth2 client credentials with `private_key_jwt` (+ DPoP unless `dpop=False`)."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_key: SigningKey,
        audience: str | None = None,
        scope: Sequence[str] = (),
        dpop: bool = True,
        dpop_key: SigningKey | None = None,
        verify: ssl.SSLContext | None = None,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_margin: float = 60.0,
        token_client: httpx.AsyncClient | None = None,
    ) -> None:
        problem = url_problem(token_url)
        if problem is not None:  # the configuration refuses it first; this holds for any caller
            raise ValueError(f"auth.token_url: {problem}")
        self.token_url = token_url
        self.client_id = client_id
        self.client_key = client_key
        self.audience = audience or _origin(token_url)
        self.scope = " ".join(scope)
        self.dpop = dpop
        self.dpop_key = (dpop_key or SigningKey.generate()) if dpop else None
        self.clock = clock
        self.monotonic = monotonic
        self.refresh_margin = refresh_margin
        self.clock_offset = 0.0  # the token endpoint's clock minus ours, once learned
        self._token: tuple[str, str, float] | None = None  # (token, type, expires at, monotonic)
        self._token_nonce: str | None = None
        self._resource_nonces: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._owns_client = token_client is None
        self._http = token_client or httpx.AsyncClient(
            timeout=timeout, verify=verify or tls_context(), follow_redirects=False
        )
        self.tokens_fetched = 0  # for tests and diagnostics

    def __repr__(self) -> str:
        return f"<PrivateKeyJwtAuth client_id={self.client_id} dpop={self.dpop}>"

    def _now(self) -> int:
        return int(self.clock() + self.clock_offset)

    # -- JWTs ----------------------------------------------------------------------------------

    def client_assertion(self) -> str:
        now = self._now()
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        return self.client_key.sign({"typ": "client-authentication+jwt", "kid": self.client_key.kid}, claims)

    def dpop_proof(self, method: str, url: httpx.URL | str, *, nonce: str | None = None, token: str | None = None) -> str:
        assert self.dpop_key is not None
        claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method.upper(), "htu": _htu(url), "iat": self._now()}
        if nonce:
            claims["nonce"] = nonce
        if token:
            claims["ath"] = access_token_hash(token)
        return self.dpop_key.sign({"typ": "dpop+jwt", "jwk": self.dpop_key.public_jwk()}, claims)

    # -- the token ------------------------------------------------------------------------------

    def _cached(self) -> tuple[str, str] | None:
        if self._token is None:
            return None
        token, token_type, expires_at = self._token
        if self.monotonic() >= expires_at:
            return None
        return token, token_type

    async def access_token(self, *, force: bool = False) -> tuple[str, str]:
        """(token, type), from the cache unless it is near expiry (or `force`)."""
        async with self._lock:
            cached = None if force else self._cached()
            if cached is not None:
                return cached
            self._token = None
            return await self._fetch()

    def invalidate(self) -> None:
        self._token = None

    def _learn(self, response: httpx.Response) -> bool:
        """Take the token endpoint's nonce and clock; True when the clock offset changed."""
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self._token_nonce = nonce
        date = response.headers.get("date")
        if not date:
            return False
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        offset = server - self.clock()
        if abs(offset - self.clock_offset) > SKEW_LEARN_THRESHOLD:
            log.warning(
                "the token endpoint's clock is %s %s the hub's; dating credentials on its time "
                "(check the hub's time synchronisation)",
                seconds_text(abs(offset)),  # a number the server chose: repeated only while small
                "ahead of" if offset > 0 else "behind",
            )
            self.clock_offset = offset
            return True
        return False

    async def _fetch(self) -> tuple[str, str]:
        last = "no answer"
        for _ in range(3):  # a nonce challenge, a clock correction, the real try
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            }
            if self.scope:
                form["scope"] = self.scope
            headers = {"Accept": "application/json"}
            if self.dpop:
                headers["DPoP"] = self.dpop_proof("POST", self.token_url, nonce=self._token_nonce)
            try:
                response = await self._http.post(self.token_url, data=form, headers=headers)
            except httpx.HTTPError as exc:
                tls = describe_tls_error(exc, "the token endpoint")
                if tls:
                    raise AuthError(tls) from None
                if isinstance(exc, httpx.TimeoutException):
                    raise AuthError("the token endpoint did not answer in time; will retry") from None
                raise AuthError(f"could not reach the token endpoint ({type(exc).__name__}); will retry") from None
            except (ssl.SSLError, OSError) as exc:  # a TLS alert after the handshake may come unwrapped
                reason = describe_tls_error(exc, "the token endpoint")
                raise AuthError(reason or f"could not reach the token endpoint ({type(exc).__name__}); will retry") from None
            clock_moved = self._learn(response)
            if response.status_code == 200:
                return self._accept(response)
            error = self._error_code(response)
            last = error or str(response.status_code)
            if error == "use_dpop_nonce" and self.dpop and response.headers.get("dpop-nonce"):
                continue
            if clock_moved and error in ("invalid_client", "invalid_grant", "invalid_dpop_proof", "invalid_request"):
                continue
            raise AuthError(self._explain(response, error))
        raise AuthError(f"the token endpoint refused every try ({last}); will retry")

    @staticmethod
    def _error_code(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        # Only an OAuth error code from the fixed lists: anything else is the server's own text.
        return coded(body.get("error"), OAUTH_ERRORS) if isinstance(body, dict) else None

    def _explain(self, response: httpx.Response, error: str | None) -> str:
        status = response.status_code
        if error in _TOKEN_ERRORS:
            return f"the token endpoint {_TOKEN_ERRORS[error]}; will retry"
        if status == 429 or status >= 500:
            return f"the token endpoint is unavailable ({status}); will retry"
        if "html" in response.headers.get("content-type", "").lower():
            return f"the token endpoint answered {status} with an HTML page, not OAuth2 (check auth.token_url); will retry"
        return f"the token endpoint refused the request ({status}{', ' + error if error else ''}); will retry"

    def _accept(self, response: httpx.Response) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            raise AuthError("the token endpoint answered 200 but not with JSON (check auth.token_url); will retry") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = str(body.get("token_type", "")) if isinstance(body, dict) else ""
        if not isinstance(token, str) or not token or not token.isascii():
            raise AuthError("the token endpoint's answer has no access_token; will retry")
        expected = "dpop" if self.dpop else "bearer"
        if token_type.lower() != expected:
            got = f"a {token_type}" if token_type.lower() in ("bearer", "dpop") else "another kind of"
            raise AuthError(
                f"the token endpoint issued {got} token where a {expected} token was "
                "asked (check the client's DPoP setting at the centre); will retry"
            )
        lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        # Refresh before expiry: a margin of a fifth of the lifetime, at most refresh_margin.
        margin = min(self.refresh_margin, lifetime / 5)
        self._token = (token, token_type, self.monotonic() + lifetime - margin)
        self.tokens_fetched += 1
        log.info("access token obtained for client %s (valid %s)", self.client_id, seconds_text(lifetime))
        return token, token_type

    # -- the API request --------------------------------------------------------------------------

    def _authorize(self, request: httpx.Request, token: str, token_type: str) -> None:
        if self.dpop:
            request.headers["Authorization"] = f"DPoP {token}"
            request.headers["DPoP"] = self.dpop_proof(
                request.method, request.url, nonce=self._resource_nonces.get(_origin(request.url)), token=token
            )
        else:
            request.headers["Authorization"] = f"Bearer {token}"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("PrivateKeyJwtAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not _may_carry_credentials(request.url):
            raise AuthError(
                "credentials are only sent over https:// (plain http:// only to this machine) and never to a URL "
                "with a user name in it; check the destination's url"
            )
        token, token_type = await self.access_token()
        self._authorize(request, token, token_type)
        response = yield request
        nonce_retried = refreshed = False
        while True:
            nonce = response.headers.get("dpop-nonce")
            if nonce:
                self._resource_nonces[_origin(request.url)] = nonce
            if response.status_code != 401:
                return
            scheme, params = parse_www_authenticate(response.headers.get("www-authenticate", ""))
            error = params.get("error")
            if self.dpop and error == "use_dpop_nonce" and nonce and not nonce_retried:
                nonce_retried = True
            elif error in (None, "invalid_token") and not refreshed:
                refreshed = True
                self.invalidate()
                token, token_type = await self.access_token(force=True)
            else:
                return  # the caller sees the 401 and says "check the hub's credentials"
            self._authorize(request, token, token_type)
            response = yield request

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()
