"""A loopback signalling relay for video tests: a WebSocket server that pairs the hub and the
nurse's page of one hub id and passes their messages between them unchanged; it also serves the
nurse's page (tests/servers/video/nurse.html). In production the MQTT channel to the centre
carries the same messages (docs/centre-protocol.md); `WebSocketSignalling` is the hub's end here,
implementing hub.services.video.Signalling.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from hub.domain.video import SignalMessage, parse_signal, signal_json

PAGE = Path(__file__).parent / "video" / "nurse.html"


class SignallingRelay:
    """`ws://127.0.0.1:<port>/hub/<id>` and `/nurse/<id>`; the page at `/nurse.html?hub=<id>`."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self._peers: dict[tuple[str, str], ServerConnection] = {}
        self.relayed = 0

    async def __aenter__(self) -> SignallingRelay:
        self._server = await serve(self._serve, "127.0.0.1", 0, process_request=self._page, max_size=200_000)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, side: str, hub_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{side}/{hub_id}"

    def page(self, hub_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/nurse.html?hub={hub_id}"

    def _page(self, connection: ServerConnection, request) -> Response | None:
        if request.path.startswith("/nurse.html"):
            body = PAGE.read_bytes()
            headers = Headers({"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body)), "Cache-Control": "no-store"})
            return Response(http.HTTPStatus.OK, "OK", headers, body)
        return None  # a WebSocket

    async def _serve(self, ws: ServerConnection) -> None:
        parts = ws.request.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("hub", "nurse"):
            await ws.close(1008, "path must be /hub/<id> or /nurse/<id>")
            return
        side, hub_id = parts
        other = "nurse" if side == "hub" else "hub"
        self._peers[(side, hub_id)] = ws
        try:
            async for message in ws:
                peer = self._peers.get((other, hub_id))
                if peer is not None:
                    self.relayed += 1
                    with contextlib.suppress(ConnectionClosed):
                        await peer.send(message)
        finally:
            if self._peers.get((side, hub_id)) is ws:
                del self._peers[(side, hub_id)]


class WebSocketSignalling:
    """The hub's end of the relay (hub.services.video.Signalling)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> WebSocketSignalling:
        self._ws = await connect(self.url, max_size=200_000)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def send(self, message: SignalMessage) -> None:
        assert self._ws is not None
        try:
            await self._ws.send(signal_json(message))
        except ConnectionClosed as exc:
            raise EOFError("the signalling relay closed") from exc

    async def receive(self) -> SignalMessage:
        assert self._ws is not None
        try:
            text = await self._ws.recv()
        except ConnectionClosed as exc:
            raise EOFError("the signalling relay closed") from exc
        return parse_signal(text)


async def wait_until(condition, *, timeout: float = 10.0, what: str = "the condition") -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
