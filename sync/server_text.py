"""What a server says back is not ours to repeat.

A FHIR server's diagnostics, an echoed resource, a status line's reason phrase, a header, an
OAuth `error_description`: any of it may quote the patient's data (a hostile or a careless server
can put a fødselsnummer anywhere). So no text from a reply reaches a log line, an exception
message or `outbox.last_error` unless it is one of the coded values below, drawn from a fixed
list; everything else is described in our own words ("?" where a code was not one of ours).

`quiet_http_logs()` keeps httpx's and httpcore's own log lines (at INFO and DEBUG they print the
reason phrase and every response header) to words and numbers of our own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from http import HTTPStatus

# FHIR R4 IssueSeverity (http://hl7.org/fhir/issue-severity) and IssueType
# (http://hl7.org/fhir/issue-type): fixed code systems, so a code from them is ours to repeat.
ISSUE_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
ISSUE_TYPES = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant",
        "security", "login", "unknown", "expired", "forbidden", "suppressed",
        "processing", "not-supported", "duplicate", "multiple-matches", "not-found", "deleted",
        "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict",
        "transient", "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled",
        "informational",
    }
)  # fmt: skip

# OAuth 2.0 error codes: RFC 6749 (§4.1.2.1, §5.2), RFC 6750 (§3.1) and DPoP's (RFC 9449).
OAUTH_ERRORS = frozenset(
    {
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
        "unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type",
        "server_error", "temporarily_unavailable",
        "invalid_token", "insufficient_scope",
        "invalid_dpop_proof", "use_dpop_nonce",
    }
)  # fmt: skip

# The longest wait we repeat as a number; anything longer is "more than a day" (a number the
# server chose, long enough to spell a fødselsnummer, is its text, not ours).
MAX_SHOWN_SECONDS = 86_400.0


def coded(value: object, allowed: Collection[str]) -> str | None:
    """`value` when it is one of the `allowed` codes, else None."""
    return value if isinstance(value, str) and value in allowed else None


def status_text(status: int) -> str:
    """`404 Not Found`: the number and the standard phrase, never the server's own reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def seconds_text(seconds: float) -> str:
    """A duration the server gave, in words safe to repeat."""
    if not 0 <= seconds <= MAX_SHOWN_SECONDS:
        return "more than a day" if seconds > 0 else "an unreadable time"
    return f"{round(seconds)} s"  # whole seconds: at most five digits


# -- third-party log lines --------------------------------------------------------------------

# Where httpx and httpcore log (httpcore's tracing logs every response header at DEBUG).
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_HTTPX_REQUEST_LINE = 'HTTP Request: %s %s "%s %d %s"'


class ServerTextFilter(logging.Filter):
    """Keeps httpx's request line to method, URL and status number with the standard phrase, and
    httpcore's trace lines to the name of the step (no return values: they carry the reason phrase
    and the response headers; no exceptions: their text may quote the bytes received)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "httpx":
            if record.msg == _HTTPX_REQUEST_LINE and isinstance(record.args, tuple) and len(record.args) == 5:
                method, url, _version, status, _reason = record.args
                # A search's query names the patient (CarePlan?subject:identifier=…): never logged.
                url = str(url).split("?", 1)[0] + ("?…" if "?" in str(url) else "")
                record.msg = "HTTP Request: %s %s %s"
                record.args = (method, url, status_text(status) if isinstance(status, int) else "?")
            return True
        # httpcore: "receive_response_headers.complete return_value=(...)" -> the step's name only
        record.msg = str(record.msg).split(" ", 1)[0]
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


_FILTER = ServerTextFilter()


def quiet_http_logs() -> None:
    """Install the filter on the HTTP libraries' loggers (idempotent)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
