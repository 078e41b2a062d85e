"""The centre's side of a video check-in, as a centre would build it from docs/centre-protocol.md:
the nurse's page (headless Chromium, tests/servers/video/nurse.html) talks to the centre over a
WebSocket (the loopback relay's `/nurse/<hub>`); the centre speaks MQTT to the hub. Her offer
goes to the hub's `video/in` topic together with a `video-start` command for the same call id;
her candidates and hang-up follow on `video/in`; what the hub sends on `video/out/<worker>`
(ringing, answer, hangup) goes back to her page unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers.mosquitto_centre import Centre
from tests.servers.signalling import SignallingRelay


class NurseDesk:
    """`async with NurseDesk(centre, relay, hub_id) as desk:`; the page at `relay.page(hub_id)`."""

    def __init__(self, centre: Centre, relay: SignallingRelay, hub_id: str, *, ring_seconds: int = 45) -> None:
        self.centre = centre
        self.relay = relay
        self.hub_id = hub_id
        self.ring_seconds = ring_seconds
        self.starts: dict[str, bytes] = {}  # call id -> the video-start command's correlation data
        self._ws: ClientConnection | None = None
        self._pump: asyncio.Task[None] | None = None
        self._to_nurse: asyncio.Queue[str] = asyncio.Queue()
        self._back: asyncio.Task[None] | None = None

    async def __aenter__(self) -> NurseDesk:
        self._ws = await connect(self.relay.url("hub", self.hub_id), max_size=200_000)
        self.centre.on_signal = self._from_hub
        self._pump = asyncio.ensure_future(self._from_nurse())
        self._back = asyncio.ensure_future(self._to_page())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.centre.on_signal = None
        for task in (self._pump, self._back):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._ws is not None:
            await self._ws.close()

    async def _from_nurse(self) -> None:
        assert self._ws is not None
        async for text in self._ws:
            raw = text.encode() if isinstance(text, str) else text
            message: dict[str, Any] = json.loads(raw)
            self.centre.signal(self.hub_id, raw, expiry=self.ring_seconds)
            if message.get("type") == "offer":  # the call is started by the command
                args = {"call": message["call_id"], "ring_seconds": self.ring_seconds}
                self.starts[message["call_id"]] = self.centre.send(self.hub_id, "video-start", args, ttl=self.ring_seconds)

    def _from_hub(self, hub_id: str, raw: bytes) -> None:
        if hub_id == self.hub_id:
            self._to_nurse.put_nowait(raw.decode())

    async def _to_page(self) -> None:  # in the order the hub sent them
        assert self._ws is not None
        while True:
            text = await self._to_nurse.get()
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(text)

    def start_replies(self, call_id: str) -> list[dict[str, Any]]:
        """The hub's answers to the call's video-start command."""
        return self.centre.replies[self.starts[call_id]]
