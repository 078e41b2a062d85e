"""The hub's end of the MQTT channel (paho-mqtt 2.x, MQTT 5, callback API version 2).

One identity per hub: a client certificate whose CN is the hub id, mutual TLS to the broker with
verification always on (the centre's CA pinned when `ca_file` is given). A retained presence
message, with a Last Will saying `offline/lost`; a persistent session (clean_start False + a
session expiry) so commands sent while the hub was away arrive when it returns, unless their
message expiry ran out first. Subscriptions are made in on_connect, so they come back after a
broker restart. TCP_NODELAY on the socket: Nagle otherwise adds 40-80 ms to every reply.

paho runs its network in a thread of ours that reconnects with jittered backoff. Its callbacks
copy what they need and hand it to the asyncio loop with call_soon_threadsafe; they never raise
(an exception there silently kills paho's thread).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from sync.remote.backoff import reconnect_delay
from sync.remote.dispatch import Dispatcher
from sync.remote.port import RemoteCommands
from sync.remote.protocol import (
    MAX_COMMAND_BYTES,
    Envelope,
    ReplayGuard,
    Topics,
    encode,
    parse_command,
    presence_body,
)
from sync.remote.schemas import EVENTS
from sync.remote.signalling import MqttSignalling

log = logging.getLogger(__name__)
_EVENT_VALIDATORS = {name: jsonschema.Draft202012Validator(s) for name, s in EVENTS.items()}
EVENT_EXPIRY = 24 * 3600  # an event the centre did not pick up within a day is stale


class ChannelError(Exception):
    """The channel cannot start as configured; the message says what to fix (never a secret)."""


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    host: str
    hub_id: str
    client_cert: Path  # PEM; its subject CN must be hub_id
    client_key: Path | None = None  # PEM; default: inside client_cert
    ca_file: Path | None = None  # the centre's CA, pinned; default: the system's CAs
    port: int = 8883
    keepalive: int = 60  # seconds; the broker declares the hub gone after ~1.5 x this
    session_expiry: int = 7 * 24 * 3600  # how long the broker keeps commands for an absent hub
    root: str = "heima"
    skew_seconds: float = 120.0  # how far the centre's and the hub's clocks may disagree
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    connect_timeout: float = 10.0


def certificate_cn(path: Path) -> str | None:
    """The subject common name of the first certificate in a PEM file."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def tls_context(settings: ChannelSettings) -> ssl.SSLContext:
    """Verified TLS: the broker's certificate must chain to the CA and name the host."""
    try:
        ctx = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(settings.client_cert), str(settings.client_key) if settings.client_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise ChannelError(f"centre.mqtt: the CA file or the hub's certificate and key cannot be used ({type(exc).__name__})") from None
    return ctx


class RemoteChannel:
    def __init__(
        self,
        settings: ChannelSettings,
        port: RemoteCommands,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock_trusted: Callable[[], bool] = lambda: True,
        on_connected: Callable[[], None] | None = None,
        signalling: MqttSignalling | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.hub_id, settings.root)
        self._clock = clock
        self._clock_trusted = clock_trusted
        self._on_connected = on_connected
        self._replay = ReplayGuard()
        self.dispatcher = Dispatcher(port, self._send_reply, clock=clock)
        self._signalling = signalling  # video signalling ([video]): its topics are subscribed too
        if signalling is not None:
            signalling.bind(self.topics, self._publish_signal)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()  # set while connected and subscribed
        self.connections = 0  # successful connects (a reconnect adds one)

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        cn = certificate_cn(self.settings.client_cert)
        if cn is None:
            raise ChannelError("centre.mqtt.client_cert: not a PEM certificate")
        if cn != self.settings.hub_id:
            raise ChannelError("centre.mqtt: the certificate's CN is not this hub's id (centre.mqtt.hub_id)")
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._network, name=f"mqtt-{self.settings.hub_id}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Say goodbye (retained offline/shutdown, so no Will is needed), then disconnect."""
        await self.dispatcher.stop()
        client = self._client
        self._stopping.set()
        if client is not None and client.is_connected():
            info = client.publish(self.topics.presence, encode(presence_body("offline", "shutdown", self._clock())), qos=1, retain=True)
            await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 2.0)
            client.disconnect()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10.0)
        self.connected.clear()

    # -- events to the centre ------------------------------------------------------------------

    def publish_event(self, name: str, body: dict[str, Any]) -> bool:
        """Publish one event (schemas.EVENTS); an event that does not fit is dropped with a
        coded log line. Queued by paho while the hub is offline (in memory only)."""
        validator = _EVENT_VALIDATORS.get(name)
        if validator is None or not validator.is_valid(body) or self._client is None:
            log.error("event %s not sent: it does not fit the protocol", name if validator else "-")
            return False
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = EVENT_EXPIRY
        self._client.publish(self.topics.event(name), encode(body), qos=1, properties=props)
        return True

    # -- paho, in its thread ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.settings.hub_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # our thread reconnects, with jitter
        )
        client.tls_set_context(tls_context(self.settings))
        client.connect_timeout = self.settings.connect_timeout
        client.will_set(self.topics.presence, encode(presence_body("offline", "lost", None)), qos=1, retain=True)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_message = self._cb_message
        client.on_subscribe = self._cb_subscribe
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry
        props.MaximumPacketSize = 8 * MAX_COMMAND_BYTES  # larger is dropped by the broker; in between: refused too-large
        return props

    def _network(self) -> None:
        assert self._client is not None
        client, attempt = self._client, 0
        while not self._stopping.is_set():
            try:
                client.connect(
                    self.settings.host,
                    self.settings.port,
                    keepalive=self.settings.keepalive,
                    clean_start=False,
                    properties=self._connect_properties(),
                )
                sock = client.socket()
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                before = self.connections
                client.loop_forever()  # returns when the connection ends
                attempt = 0 if self.connections > before else attempt + 1
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.warning("centre broker not reachable (%s); retrying", type(exc).__name__)
                attempt += 1
            except Exception as exc:  # keep the channel alive whatever paho does
                log.error("MQTT network loop failed (%s); retrying", type(exc).__name__)
                attempt += 1
            if not self._stopping.is_set():
                self._stopping.wait(reconnect_delay(attempt, base=self.settings.backoff_base, cap=self.settings.backoff_cap))

    def _cb_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            if reason_code.is_failure:
                log.error("the centre's broker refused the connection (%s)", reason_code.getName())
                return
            topics = [self.topics.commands] + ([self.topics.signal_in] if self._signalling is not None else [])
            client.subscribe([(t, SubscribeOptions(qos=1, noLocal=True)) for t in topics])
            client.publish(self.topics.presence, encode(presence_body("online", "connected", self._clock())), qos=1, retain=True)
            self.connections += 1
        except Exception as exc:
            log.error("on_connect failed (%s)", type(exc).__name__)

    def _cb_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        try:
            if reason_codes and reason_codes[0].is_failure:
                log.error("the broker refused the hub's command subscription; check the ACL")
                return
            if any(rc.is_failure for rc in reason_codes[1:]):  # commands still work; calls do not
                log.error("the broker refused the hub's video signalling subscription; check the ACL")
            self._to_loop(self._now_connected)
        except Exception as exc:
            log.error("on_subscribe failed (%s)", type(exc).__name__)

    def _cb_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            if not self._stopping.is_set():
                log.warning("disconnected from the centre's broker (%s)", reason_code.getName())
            self._to_loop(self.connected.clear)
        except Exception as exc:
            log.error("on_disconnect failed (%s)", type(exc).__name__)

    def _cb_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            props = msg.properties
            envelope = Envelope(
                topic=msg.topic,
                response_topic=getattr(props, "ResponseTopic", None),
                correlation=getattr(props, "CorrelationData", None),
                message_expiry=getattr(props, "MessageExpiryInterval", None),
            )
            handle = self._signal if msg.topic == self.topics.signal_in else self._received
            self._to_loop(handle, bytes(msg.payload), envelope)
        except Exception as exc:
            log.error("on_message failed (%s)", type(exc).__name__)

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed meanwhile: the hub is stopping
                pass

    # -- on the asyncio loop ---------------------------------------------------------------------

    def _now_connected(self) -> None:
        self.connected.set()
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception as exc:
                log.error("on_connected hook failed (%s)", type(exc).__name__)

    def _received(self, payload: bytes, envelope: Envelope) -> None:
        parsed = parse_command(
            payload,
            envelope,
            topics=self.topics,
            now=self._clock(),
            replay=self._replay,
            skew=timedelta(seconds=self.settings.skew_seconds),
            clock_trusted=self._clock_trusted(),
        )
        task = asyncio.ensure_future(self.dispatcher.handle(parsed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _signal(self, payload: bytes, envelope: Envelope) -> None:
        if self._signalling is not None:
            self._signalling.received(payload, envelope)

    def _publish_signal(self, topic: str, payload: bytes, correlation: bytes | None, expiry: int) -> None:
        """One of the hub's signalling messages (queued by paho while the broker is away)."""
        if self._client is None:
            raise EOFError("the centre channel has not started")
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        props.MessageExpiryInterval = expiry
        self._client.publish(topic, payload, qos=1, properties=props)

    def _send_reply(self, topic: str, correlation: bytes | None, body: dict[str, Any]) -> None:
        if self._client is None:
            return
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        props.MessageExpiryInterval = EVENT_EXPIRY
        self._client.publish(topic, encode(body), qos=1, properties=props)

