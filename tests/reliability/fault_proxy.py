"""A fault-injecting HTTP/1.1 proxy of our own, between the hub and the reference FHIR server.

asyncio, on loopback. For every request it draws a fault from a seeded plan:

- `pass`            forward, answer what the server answered;
- `drop`            close (or reset) the hub's connection before forwarding: the server never saw it;
- `delay`           hold the request 20-300 ms, then forward normally;
- `reset-after-commit`  forward, let the server answer (it has committed), then reset the hub's
                    connection without a byte of the answer: the response is lost;
- `status-500`, `status-503`, `status-429`  answer by itself without forwarding (503 and 429 with
                    Retry-After, as delta-seconds or as an HTTP-date);
- `truncate`        forward, then send the headers and part of the body and close (Content-Length
                    promises more than arrives);
- `truncate-framed` forward, then send a cut body whose Content-Length matches the cut: the
                    framing is fine, the JSON is not.

Everything the proxy did is counted in `stats` (requests, forwarded, per fault kind).
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"proxy-connection", b"te", b"upgrade"}

# kind -> weight. About 70 % of requests meet a fault; `delay` alone still delivers.
DEFAULT_WEIGHTS: dict[str, float] = {
    "pass": 0.30,
    "drop": 0.12,
    "delay": 0.07,
    "reset-after-commit": 0.14,
    "status-500": 0.07,
    "status-503": 0.08,
    "status-429": 0.08,
    "truncate": 0.07,
    "truncate-framed": 0.07,
}
FORWARDED = {"pass", "delay", "reset-after-commit", "truncate", "truncate-framed"}


@dataclass
class FaultPlan:
    seed: int
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._kinds = list(self.weights)
        self._weights = [self.weights[k] for k in self._kinds]

    def next(self) -> str:
        return self.rng.choices(self._kinds, self._weights)[0]


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ProxyError(Exception):
    pass


async def _read_headers(reader: asyncio.StreamReader) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    first = await reader.readline()
    if not first:
        return None
    headers = []
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ProxyError("connection closed inside the headers")
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return first.rstrip(b"\r\n"), headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[bytes, bytes]], *, until_eof: bool) -> bytes:
    values = {k.lower(): v for k, v in headers}
    if values.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if b"content-length" in values:
        return await reader.readexactly(int(values[b"content-length"]))
    return await reader.read() if until_eof else b""


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer gets ECONNRESET, not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class FaultProxy:
    """`async with FaultProxy(upstream_port, plan) as proxy:` then send to `proxy.url(path)`."""

    def __init__(self, upstream_port: int, plan: FaultPlan, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan
        self.stats: Counter[str] = Counter()
        self.retry_after_given: list[float] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self.port: int | None = None

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def faults(self) -> int:
        return sum(n for kind, n in self.stats.items() if kind.startswith("fault:"))

    # -- serving -----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                head = await _read_headers(reader)
                if head is None:
                    return
                line, headers = head
                method, target, _ = line.decode("latin-1").split(" ", 2)
                request = Request(method, target, headers, await _read_body(reader, headers, until_eof=False))
                if not await self._handle(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ProxyError):
            pass
        finally:
            self._connections.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _handle(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Serve one request under the plan's next fault; False when the connection is gone."""
        kind = self.plan.next()
        self.stats["requests"] += 1
        self.stats["fault:" + kind if kind != "pass" else "pass"] += 1
        rng = self.plan.rng

        if kind == "drop":
            if rng.random() < 0.5:
                _reset(writer)
            else:
                writer.close()
            return False
        if kind.startswith("status-"):
            status = int(kind.split("-")[1])
            headers: list[tuple[bytes, bytes]] = [(b"Content-Type", b"application/fhir+json")]
            if status in (503, 429):
                seconds = rng.randint(1, 120)
                self.retry_after_given.append(seconds)
                value = (
                    format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)
                    if rng.random() < 0.25
                    else str(seconds)
                )
                headers.append((b"Retry-After", value.encode()))
            body = (
                b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}'
            )
            await self._respond(writer, Response(status, b"Fault", headers, body))
            return True
        if kind == "delay":
            await asyncio.sleep(rng.uniform(0.02, 0.3))

        response = await self._forward(request)
        self.stats["forwarded"] += 1
        if kind == "reset-after-commit":
            _reset(writer)
            return False
        if kind == "truncate":
            cut = rng.randint(0, max(0, len(response.body) - 1))
            await self._respond(writer, response, body=response.body[:cut], length=len(response.body))
            writer.close()
            return False
        if kind == "truncate-framed":
            cut = rng.randint(1, max(1, len(response.body) - 1))
            await self._respond(writer, response, body=response.body[:cut])
            return True
        await self._respond(writer, response)
        return True

    async def _forward(self, request: Request) -> Response:
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
            head = f"{request.method} {request.target} HTTP/1.1\r\n".encode("latin-1")
            head += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
            head += f"Content-Length: {len(request.body)}\r\nConnection: close\r\n\r\n".encode()
            writer.write(head + request.body)
            await writer.drain()
            got = await _read_headers(reader)
            if got is None:
                raise ProxyError("the server closed the connection without answering")
            line, response_headers = got
            _, status, *reason = line.split(b" ", 2)
            body = await _read_body(reader, response_headers, until_eof=True)
            return Response(int(status), reason[0] if reason else b"", response_headers, body)
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, response: Response, *, body: bytes | None = None, length: int | None = None) -> None:
        body = response.body if body is None else body
        head = f"HTTP/1.1 {response.status} ".encode() + (response.reason or b"-") + b"\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in response.headers if k.lower() not in HOP_BY_HOP)
        head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n".encode()
        writer.write(head + body)
        await writer.drain()
