"""Where the hub may send anything: the rule for every outgoing URL (a destination's base URL,
`--centre`, a token endpoint).

Decided on the parsed URL, never on its text's prefix: `http://127.0.0.1:@fhir.example/R4` starts
like a loopback URL but sends to fhir.example. The rule:

- `https://`, or plain `http://` only to this very machine (127.0.0.0/8, ::1, localhost), which
  is where test servers run; clear text never crosses a network;
- no user name or password in the URL (credentials belong in [destinations.auth], where they are
  never logged; a URL is logged and shown);
- a host, a valid port, no query or fragment, no spaces, control characters or backslashes
  (which parsers disagree on).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost",)


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: traffic that never leaves the machine."""
    host = host.lower().strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why the hub must not send to `url`, or None when it may. The reason never repeats the URL
    (it could carry a password)."""
    if any(c <= " " or c in "\\\x7f" for c in url) or not url.isascii():
        return "must not contain spaces, control characters, backslashes or non-ASCII characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ or ] around an IPv6 address
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not url.lower().startswith(f"{parts.scheme}://"):
        return "needs an https:// URL"
    if "@" in parts.netloc:
        return "must not carry a user name or password; credentials belong in [destinations.auth]"
    if not parts.hostname:
        return "has no host name"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "has an invalid port"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be a base URL, without ?query or #fragment"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "needs https://; plain http:// is only for a server on this machine (127.0.0.1, ::1, localhost)"
    return None


def is_allowed_url(url: str) -> bool:
    return url_problem(url) is None
