"""A loopback HTTP/1.1 server that answers as the test scripts it: any status line (reason phrase
included), any headers, any body, a body dripped a byte at a time, or the request passed on to the
reference FHIR server. For what real servers do badly: hostile or careless replies, and slowness
that no per-read timeout catches.

    with ScriptedServer() as server:
        server.answer(Reply(200, body=b'{"resourceType": "..."}'))
        ... FhirServerDestination("centre", server.base_url, ...) ...
        server.forward_to(fhir_server.base_url)   # from now on: behave
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Reply:
    status: int = 200
    reason: str | None = None  # the status line's reason phrase; None: the standard one
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drip_every: float | None = None  # seconds between body bytes (None: all at once)


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


Script = Callable[[str, bytes], Reply]


class ScriptedServer:
    def __init__(self) -> None:
        self.seen = Seen()
        self._script: Script = lambda path, body: Reply(503)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._upstream: httpx.Client | None = None

    # -- what to say --------------------------------------------------------------------------------

    def answer(self, reply: Reply | Script) -> None:
        """Answer every request with `reply` (or with what `reply(path, body)` returns)."""
        with self._lock:
            self._script = reply if callable(reply) else (lambda path, body: reply)

    def forward_to(self, upstream_base: str) -> None:
        """Behave: pass every request to `upstream_base`'s server and relay its answer."""
        parts = urlsplit(upstream_base)
        if self._upstream is None:
            self._upstream = httpx.Client(timeout=30.0)
        upstream = self._upstream

        def relay(path: str, body: bytes) -> Reply:
            got = upstream.post(f"{parts.scheme}://{parts.netloc}{path}", content=body, headers={"content-type": "application/fhir+json"})
            kept = tuple((k, v) for k, v in got.headers.items() if k.lower() in ("content-type", "location"))
            return Reply(got.status_code, headers=kept, body=got.content)

        self.answer(relay)

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.seen.paths.append(self.path)
                    server.seen.bodies.append(body)
                    script = server._script
                reply = script(self.path, body)
                server._write(self, reply)

            do_GET = do_PUT = do_POST

        httpd = self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        # A short poll so that stopping (every test's teardown) takes milliseconds, not half a second.
        threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.02), daemon=True, name="scripted-http").start()
        return self

    def _write(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response_only(reply.status, reply.reason)
        for name, value in reply.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if reply.drip_every is None:
            handler.wfile.write(reply.body)
            return
        handler.wfile.flush()
        for i in range(len(reply.body)):
            if self._stopping.wait(reply.drip_every):
                return
            try:
                handler.wfile.write(reply.body[i : i + 1])
                handler.wfile.flush()
            except OSError:  # the client gave up: that is the point
                handler.close_connection = True
                return

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/fhir/R4"
