"""The centre's end, as a test (or a centre's developer) would write it from
docs/centre-protocol.md: paho-mqtt, MQTT 5, commands with ResponseTopic + CorrelationData,
replies, presence and events collected on an asyncio loop."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.servers.mosquitto import Identity, MosquittoBroker


def utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tls_client(client: mqtt.Client, ca: str, identity: Identity | None) -> None:
    ctx = ssl.create_default_context(cafile=ca)
    if identity is not None:
        ctx.load_cert_chain(str(identity.cert), str(identity.key))
    client.tls_set_context(ctx)


class Centre:
    def __init__(self, broker: MosquittoBroker, *, worker: str = "w1", identity: Identity | None = None) -> None:
        self.broker = broker
        self.root = broker.root
        self.worker = worker
        self.identity = identity or broker.centre
        self.loop = asyncio.get_running_loop()
        self.replies: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
        self.presence: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.signals: list[tuple[str, dict[str, Any], bytes | None]] = []  # the hubs' video signalling
        self.on_signal: Any = None  # called on the loop with (hub id, raw payload) for each
        self.changed = asyncio.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="centre", protocol=mqtt.MQTTv5)
        tls_client(self.client, str(broker.ca.cert_path), self.identity)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._ready = asyncio.Event()

    async def connect(self) -> Centre:
        self.client.connect("localhost", self.broker.port, keepalive=30, clean_start=True)
        self.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        await asyncio.wait_for(self._ready.wait(), 30)
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        subs = [
            (f"{self.root}/+/presence", 1),
            (f"{self.root}/+/event/+", 1),
            (f"{self.root}/+/reply/{self.worker}/#", 1),
            (f"{self.root}/+/video/out/{self.worker}", 1),
        ]
        client.subscribe(subs)
        self.client.on_subscribe = lambda *a: self.loop.call_soon_threadsafe(self._ready.set)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            body = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            body = {"unreadable": True}
        corr = getattr(msg.properties, "CorrelationData", None)
        self.loop.call_soon_threadsafe(self._store, msg.topic, body, corr, self.loop.time(), bytes(msg.payload))

    def _store(self, topic: str, body: dict[str, Any], corr: bytes | None, at: float, raw: bytes = b"") -> None:
        parts = topic.split("/")
        if parts[2] == "video":
            self.signals.append((parts[1], body, corr))
            if self.on_signal is not None:
                self.on_signal(parts[1], raw)
        elif parts[2] == "presence":
            self.presence[parts[1]].append((at, body))
        elif parts[2] == "event":
            self.events.append((parts[1], parts[3], body))
        elif parts[2] == "reply" and corr is not None:
            self.replies[corr].append(body)
        self.loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 30.0) -> Any:
        async def until() -> Any:
            async with self.changed:
                while not (found := predicate()):
                    await self.changed.wait()
                return found

        return await asyncio.wait_for(until(), timeout)

    def send(
        self,
        hub_id: str,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        ttl: int = 60,
        sent_at: datetime | None = None,
        command_id: str | None = None,
        expiry: int | None = None,
        payload: bytes | None = None,
        response_topic: str | None = None,
    ) -> bytes:
        """Publish one command; returns its correlation data (replies are filed under it)."""
        correlation = uuid.uuid4().bytes
        body: dict[str, Any] = {"id": command_id or str(uuid.uuid4()), "sent_at": utc(sent_at or datetime.now(UTC)), "ttl": ttl}
        if args is not None:
            body["args"] = args
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic or f"{self.root}/{hub_id}/reply/{self.worker}"
        props.CorrelationData = correlation
        props.MessageExpiryInterval = expiry if expiry is not None else ttl
        data = payload if payload is not None else json.dumps(body).encode()
        info = self.client.publish(f"{self.root}/{hub_id}/cmd/{name}", data, qos=1, properties=props)
        info.wait_for_publish(5)
        return correlation

    def signal(self, hub_id: str, payload: bytes, *, expiry: int = 60, correlation: bytes | None = None) -> None:
        """Publish one of the nurse's video signalling messages to a hub (its answers come to this
        worker's video/out topic)."""
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"{self.root}/{hub_id}/video/out/{self.worker}"
        if correlation is not None:
            props.CorrelationData = correlation
        props.MessageExpiryInterval = expiry
        self.client.publish(f"{self.root}/{hub_id}/video/in", payload, qos=1, properties=props).wait_for_publish(5)

    async def ask(self, hub_id: str, name: str, args: dict[str, Any] | None = None, *, final: bool = True, timeout: float = 30.0, **kw: Any) -> list[dict[str, Any]]:
        """Send a command and wait for its answer (with `final`, until done/failed/refused)."""
        corr = self.send(hub_id, name, args, **kw)
        ends = ("done", "failed", "refused") if final else ("accepted", "done", "failed", "refused")
        await self.wait_for(lambda: any(r["status"] in ends for r in self.replies[corr]), timeout)
        return self.replies[corr]
