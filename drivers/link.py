"""Scanning, connecting, pairing and reconnecting: the hub's one owner of the Bluetooth radio.

`LinkManager` scans with `bleak.BleakScanner`, asks the driver registry which driver handles an
advertisement, connects with `bleak_retry_connector.establish_connection`, lets the driver run
its session and hands every `Reading` to the hub's async sink, in order, one at a time. Readings
wait in an unbounded queue while the sink works (the hub commits to SQLite before it returns),
so a slow sink never makes the link drop one; a session only returns once every reading it
received has been through the sink.

Rules kept here, not in drivers:
* one connection at a time (an `asyncio.Lock`): cheap adapters and medical devices cope badly
  with parallel connection attempts;
* nothing here unpairs, removes a device or clears BlueZ's cache by itself (`BleakClient`, not
  `BleakClientWithServiceCache`, so bleak-retry-connector never calls BlueZ `RemoveDevice`): a
  bond a device relies on is deleted only when a technician asks (`unpair`);
* scanning pauses while a session runs;
* after a session the device is left alone for a cool-down, unless it disconnected by itself
  and advertises again, or it stopped advertising for `readvertise_gap` seconds and came back
  (it has something new); a device the hub had to disconnect and that keeps advertising is not
  reconnected in a loop;
* events for the UI (`on_event(name, details)`) never carry measurement values;
* a session whose driver delivers stream points (continuous oximetry, `Session.deliver_point`)
  is a recording: no `max_session` limit, and a `StreamEnded` goes to the sink when it ends so
  the hub closes the recording (its last chunk and its summary). While it runs, other devices
  wait: one connection at a time holds for a night's recording too.

A technician's pairing (technician mode): `scan(seconds)` lists the supported devices heard
within a bounded time with their signal (hub.domain.nearby), `pair(address)` connects to one,
bonds (passkey / numeric comparison through the passkey provider) and, for a scale with the User
Data Service, gives the configured user's consent code, then disconnects without reading;
`unpair(address)` removes the bond from the Bluetooth stack (BlueZ `RemoveDevice`, the
emulator's keystore).

Backends: `scanner_backend` / `client_backend` are bleak backend classes (None: the platform's,
BlueZ on the Pi). A client backend with `supports_passkey_provider = True` (the emulator) gets the
passkey provider directly; on BlueZ a D-Bus `org.bluez.Agent1` must answer instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from drivers.devices.base import Advertisement, Clock, Driver, Registry, Session, utc_now
from drivers.pairing import ConsentRefused, PasskeyProvider
from hub.domain import refusals
from hub.domain.devices import DeviceHistory
from hub.domain.nearby import NearbyDevice, ScanReport, heard, norm_address, strongest_first
from hub.domain.oximetry import OximetryPoint, StreamEnded
from hub.domain.readings import DeviceIdentity, Reading

logger = logging.getLogger(__name__)

# A session's wait that returns this much later than asked means the hub's own loop was held up
# (a long frame of the touch app, a collection of a large heap): not the device's silence.
LOOP_HELD_UP = 0.05
# Then how long the session listens, the loop free, before calling the device quiet after all:
# a few turns of the loop are enough for packets already queued to reach the session.
LOOP_GRACE = 0.1

# Readings, and for a recording session its points and the end of its stream (hub.domain.oximetry).
Sink = Callable[[Reading | OximetryPoint | StreamEnded], Awaitable[None]]
EventCallback = Callable[[str, dict[str, Any]], None]


class _AnnouncingProvider:
    """Tells the UI that pairing needs the user, then asks the real provider."""

    def __init__(self, inner: PasskeyProvider, emit: Callable[[str, dict[str, Any]], None]) -> None:
        self._inner = inner
        self._emit = emit

    @staticmethod
    def _address(device: DeviceIdentity | str) -> str:
        return device.address if isinstance(device, DeviceIdentity) else device

    async def passkey_for(self, device: DeviceIdentity | str) -> int | None:
        self._emit("pairing-needed", {"address": self._address(device), "method": "passkey"})
        return await self._inner.passkey_for(device)

    async def confirm_numeric(self, device: DeviceIdentity | str, number: int) -> bool:
        self._emit("pairing-needed", {"address": self._address(device), "method": "numeric-comparison"})
        return await self._inner.confirm_numeric(device, number)

    async def consent_code_for(self, device: DeviceIdentity | str, user_index: int) -> int | None:
        """A scale's User Data Service consent code; None when the provider cannot answer it."""
        ask = getattr(self._inner, "consent_code_for", None)
        if ask is None:
            return None
        self._emit("pairing-needed", {"address": self._address(device), "method": "consent-code", "user_index": user_index})
        return await ask(device, user_index)


# How BlueZ, bleak and the emulator word a pairing that failed or a bond the device no longer
# has: the reason's code (hub.domain.refusals, worded on the touch screen in its language) and
# what a technician should do about it in English (the command line and the log).
_PAIRING_TROUBLE = (
    (("authenticationrejected", "authentication rejected", "pairing not allowed"), refusals.PAIR_REFUSED,
     "The device refused to pair. Put it in pairing mode (see its manual) and try again."),
    (("pin or key missing", "key missing", "authenticationfailed", "authentication failed", "bond", "pairing failed",
      "insufficient authentication", "insufficient encryption"), refusals.PAIR_FORGOTTEN,
     "The device no longer knows this hub (its pairing was reset, e.g. after a battery change, or it "
     "was paired with another hub). Put it in pairing mode and pair it with this hub again."),
    (("authenticationcanceled", "cancel"), refusals.PAIR_CANCELLED,
     "Pairing was cancelled before the passkey was entered. Try again and enter the number the device shows."),
)  # fmt: skip


def pairing_trouble(error: BaseException) -> tuple[str, str] | None:
    """(reason code, a technician's English words) for a pairing failure, or None when the
    error is about something else."""
    text = str(error).lower()
    for words, reason, advice in _PAIRING_TROUBLE:
        if any(w in text for w in words):
            return reason, advice
    return None


def pairing_advice(error: BaseException) -> str | None:
    """A technician's words for a pairing failure, or None when the error is about something else."""
    trouble = pairing_trouble(error)
    return None if trouble is None else trouble[1]


class PairingFailed(Exception):
    """A technician's pairing did not complete: `advice` says what to do in English (the command
    line, the log), `reason` is the same as a code (hub.domain.refusals) the screen words."""

    def __init__(self, advice: str, reason: str = refusals.PAIR_FAILED) -> None:
        super().__init__(advice)
        self.advice = advice
        self.reason = reason

    @classmethod
    def from_error(cls, error: BaseException) -> PairingFailed:
        reason, advice = pairing_trouble(error) or (refusals.PAIR_FAILED, GENERIC_ADVICE)
        return cls(advice, reason)


NOT_FOUND_ADVICE = (
    "The device was not heard. Switch it on, put it in pairing mode (see its manual), hold it near the hub and try again."
)
BROADCAST_ADVICE = "This device only sends its values over the air: it needs no pairing. Measure with it near the hub."
GENERIC_ADVICE = "Pairing did not complete. Put the device in pairing mode, hold it near the hub and try again."
WRONG_PASSKEY_ADVICE = "The device did not accept the passkey: it was not paired. Try again and enter the number the device shows."


class LinkManager:
    def __init__(
        self,
        registry: Registry,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        passkey_provider: PasskeyProvider | None = None,
        clock: Clock | None = None,
        history: DeviceHistory | None = None,
        on_event: EventCallback | None = None,
        settle: float = 3.0,
        cooldown: float = 60.0,
        readvertise_gap: float = 5.0,
        min_reconnect_interval: float = 5.0,
        connect_attempts: int = 3,
        connect_timeout: float = 45.0,
        max_session: float = 600.0,
        stale_after: float = 10.0,
    ) -> None:
        """
        settle: a session ends when the device said nothing for this long (it may end earlier
            by disconnecting); a moment the hub's own loop was held up is not the device's
            silence (LOOP_HELD_UP, LOOP_GRACE).
            cooldown / readvertise_gap / min_reconnect_interval: see the module docstring. connect_timeout bounds all connection attempts together;
            max_session bounds one session however chatty the device.
            history: what the hub already stored per device (its store), handed to every
            session as `session.history` so a meter is asked only for newer records.
        """
        self.registry = registry
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._passkey_provider = passkey_provider
        self._clock = clock or utc_now
        self._history = history
        self._on_event = on_event
        self._families: dict[str, str | None] = {}  # address -> the family its driver declares
        self._passkey_typed: set[str] = set()  # addresses asked for a passkey (their failed bond: a wrong number)
        self._settle = settle
        self._cooldown = cooldown
        self._readvertise_gap = readvertise_gap
        self._min_reconnect_interval = min_reconnect_interval
        self._connect_attempts = connect_attempts
        self._connect_timeout = connect_timeout
        self._max_session = max_session
        self._stale_after = stale_after
        self._lock = asyncio.Lock()
        self._ended: dict[str, tuple[float, bool]] = {}  # address -> (monotonic end, ended by hub)
        self._seen_after_end: dict[str, float] = {}
        self._last_broadcast: dict[str, tuple[Any, Any]] = {}

    # -- public API ----------------------------------------------------------------------------

    def use_history(self, history: DeviceHistory) -> None:
        """What the hub already stored, per device: handed to every later session."""
        self._history = history

    async def read_once(
        self,
        sink: Sink,
        *,
        timeout: float,
        prefer: Callable[[Driver], bool] | None = None,
        prefer_for: float = 5.0,
    ) -> DeviceIdentity:
        """Find the first device a driver matches (within `timeout` seconds, else TimeoutError),
        run one session until it disconnects or goes quiet, and return its identity.

        `prefer`: which drivers' devices the patient is about to measure with (the family chosen
        on the screen). Such a device is taken as soon as it is heard; another matching device
        only when none of the preferred kind was heard within `prefer_for` seconds of scanning
        (the patient picked up another device than the screen showed: its value still counts).

        Every reading has been through `sink` when this returns. An error from the sink is
        raised here after the connection is closed.
        """
        async with asyncio.timeout(timeout):
            ble_device, advertisement, driver = await self._find_first(prefer, prefer_for)
        return await self._handle(ble_device, advertisement, driver, sink)

    async def run(self, sink: Sink) -> None:
        """Scan forever; run a session for each device as it appears. Cancel to stop."""
        candidates: asyncio.Queue[tuple[float, BLEDevice, Advertisement, Driver]] = asyncio.Queue()
        queued: set[str] = set()

        def on_advertisement(device: BLEDevice, data: AdvertisementData) -> None:
            advertisement = Advertisement.from_bleak(device, data)
            if advertisement.address in queued:
                return
            driver = self.registry.match(advertisement)
            if driver is None:
                return
            if driver.connectable:
                if not self._should_connect(advertisement.address, time.monotonic()):
                    return
            elif not self._is_new_broadcast(advertisement):
                return
            queued.add(advertisement.address)
            self._found(advertisement, driver)
            candidates.put_nowait((time.monotonic(), device, advertisement, driver))

        scanner = self._scanner(on_advertisement)
        while True:
            await scanner.start()
            try:
                found_at, ble_device, advertisement, driver = await candidates.get()
            finally:
                await scanner.stop()
            while True:
                queued.discard(advertisement.address)
                if time.monotonic() - found_at <= self._stale_after:
                    try:
                        await self._handle(ble_device, advertisement, driver, sink)
                    except asyncio.CancelledError:
                        raise
                    except Exception as error:  # noqa: BLE001 - one device must not stop the hub
                        logger.warning("%s: session failed: %s", advertisement.address, error)
                if candidates.empty():
                    break
                found_at, ble_device, advertisement, driver = candidates.get_nowait()

    # -- a technician's pairing ------------------------------------------------------------------

    async def scan(self, seconds: float, *, enough: Callable[[ScanReport], bool] | None = None) -> ScanReport:
        """Listen for `seconds` (or until `enough(report so far)`): the supported devices heard,
        strongest signal first, and how many unsupported ones were heard. No service filter: an
        unsupported device is heard and counted, never listed. `known` is left False here: the
        hub decides it from its bonds and kit (hub.domain.nearby.mark_known)."""
        found: dict[str, NearbyDevice] = {}
        unsupported: set[str] = set()
        done = asyncio.Event()

        def report() -> ScanReport:
            return ScanReport(tuple(strongest_first(found.values())), len(unsupported - set(found)))

        def on_advertisement(device: BLEDevice, data: AdvertisementData) -> None:
            nonlocal found
            advertisement = Advertisement.from_bleak(device, data)
            driver = self.registry.match(advertisement)
            if driver is None:
                unsupported.add(norm_address(advertisement.address))
            else:
                family = getattr(driver, "family", None)
                seen = NearbyDevice(
                    address=advertisement.address,
                    name=advertisement.name,
                    driver=driver.name,
                    family=family.value if family is not None else None,
                    rssi=advertisement.rssi,
                )
                found = heard(found, seen)
                self._families[norm_address(advertisement.address)] = seen.family
            if enough is not None and enough(report()):
                done.set()

        kwargs: dict[str, Any] = {} if self._scanner_backend is None else {"backend": self._scanner_backend}
        async with BleakScanner(on_advertisement, **kwargs):
            try:
                async with asyncio.timeout(seconds):
                    await done.wait()
            except TimeoutError:
                pass  # the bounded time is up: what was heard is the answer
        result = report()
        self._emit("scan-done", {"devices": len(result.devices), "unsupported": result.unsupported})
        return result

    async def pair(self, address: str, *, timeout: float = 30.0) -> DeviceIdentity:
        """Find `address` (within `timeout` s), connect, bond and (a User Data Service scale) give
        the configured user's consent code; disconnect without reading anything. Raises
        PairingFailed with a technician's advice when it did not work."""
        wanted = norm_address(address)
        try:
            async with asyncio.timeout(timeout):
                ble_device, advertisement, driver = await self._find_first(None, 0.0, address=wanted)
        except TimeoutError:
            raise PairingFailed(NOT_FOUND_ADVICE, refusals.PAIR_NOT_FOUND) from None
        if not driver.connectable:
            raise PairingFailed(BROADCAST_ADVICE, refusals.PAIR_BROADCAST)
        async with self._lock:
            return await self._bond(ble_device, advertisement, driver)

    async def _bond(self, ble_device: BLEDevice, advertisement: Advertisement, driver: Driver) -> DeviceIdentity:
        address = advertisement.address
        self._passkey_typed.discard(address)
        identity = DeviceIdentity(address=address, name=advertisement.name)
        try:
            async with asyncio.timeout(self._connect_timeout):
                client = await establish_connection(
                    BleakClient, ble_device, advertisement.name or address, max_attempts=1, pair=True, **self._client_kwargs()
                )
        except (BleakError, TimeoutError) as error:
            logger.info("%s: pairing failed: %s", address, error)
            failed = PairingFailed.from_error(error)
            if failed.reason == refusals.PAIR_FORGOTTEN and address in self._passkey_typed:
                # A fresh pairing whose typed passkey was not accepted: a misread number, not a lost bond.
                failed = PairingFailed(WRONG_PASSKEY_ADVICE, refusals.PAIR_WRONG_PASSKEY)
            self._emit("pairing-failed", {"address": address, "name": advertisement.name, "advice": failed.advice, "reason": failed.reason})
            raise failed from None
        try:
            give_consent = getattr(driver, "give_consent", None)
            if give_consent is not None:  # a shared scale: the configured user's consent code
                session = Session(address=address, clock=self._clock, deliver=lambda _reading: None)
                session.consent_provider = (  # type: ignore[attr-defined]
                    None if self._passkey_provider is None else _AnnouncingProvider(self._passkey_provider, self._emit)
                )
                try:
                    await give_consent(client, identity, session)
                except ConsentRefused as refused:
                    self._emit("consent-failed", {"address": address, "name": advertisement.name, "user_index": refused.user_index, "advice": refused.advice, "reason": refusals.PAIR_CONSENT})
                    raise PairingFailed(refused.advice, refusals.PAIR_CONSENT) from None
                except BleakError as error:
                    raise PairingFailed.from_error(error) from None
            self._emit("paired", {"address": address, "name": advertisement.name, "driver": driver.name})
            return identity
        finally:
            try:
                await client.disconnect()
            except Exception as error:  # noqa: BLE001 - it is going away either way
                logger.info("%s: disconnect failed: %s", address, error)
            self._ended[address] = (time.monotonic(), True)

    async def unpair(self, address: str) -> bool:
        """Remove the bond with `address` from the Bluetooth stack (BlueZ `RemoveDevice`; the
        emulator's keystore). False when the stack did not know the device (nothing to remove)."""
        from bleak.exc import BleakDeviceNotFoundError

        kwargs: dict[str, Any] = {} if self._client_backend is None else {"backend": self._client_backend}
        async with self._lock:
            try:
                await BleakClient(norm_address(address), **kwargs).unpair()
            except BleakDeviceNotFoundError:
                return False
        self._ended.pop(norm_address(address), None)
        self._emit("unpaired", {"address": norm_address(address)})
        return True

    # -- finding -------------------------------------------------------------------------------

    def _scanner(self, callback: Callable[[BLEDevice, AdvertisementData], None]) -> BleakScanner:
        kwargs: dict[str, Any] = {}
        if self._scanner_backend is not None:
            kwargs["backend"] = self._scanner_backend
        return BleakScanner(callback, service_uuids=self.registry.scan_filter(), **kwargs)

    async def _find_first(
        self, prefer: Callable[[Driver], bool] | None = None, prefer_for: float = 0.0, *, address: str | None = None
    ) -> tuple[BLEDevice, Advertisement, Driver]:
        loop = asyncio.get_running_loop()
        found: asyncio.Future[tuple[BLEDevice, Advertisement, Driver]] = loop.create_future()
        other: list[tuple[BLEDevice, Advertisement, Driver]] = []  # the first of another kind, held
        waited = loop.time() + prefer_for if prefer is not None else loop.time()

        def take(candidate: tuple[BLEDevice, Advertisement, Driver]) -> None:
            if found.done():
                return
            _, advertisement, driver = candidate
            self._found(advertisement, driver)
            found.set_result(candidate)

        def on_advertisement(device: BLEDevice, data: AdvertisementData) -> None:
            if found.done():
                return
            advertisement = Advertisement.from_bleak(device, data)
            if address is not None and norm_address(advertisement.address) != address:
                return
            driver = self.registry.match(advertisement)
            if driver is None:
                return
            if prefer is None or prefer(driver) or loop.time() >= waited:
                take((device, advertisement, driver))
            elif not other:
                other.append((device, advertisement, driver))

        def give_up_waiting() -> None:
            if other:
                logger.info("%s: no device of the chosen kind answered; taking another", other[0][1].address)
                take(other[0])

        fallback = loop.call_later(prefer_for, give_up_waiting) if prefer is not None else None
        try:
            async with self._scanner(on_advertisement):
                return await found
        finally:
            if fallback is not None:
                fallback.cancel()

    def _should_connect(self, address: str, now: float) -> bool:
        ended = self._ended.get(address)
        if ended is None:
            return True
        ended_at, by_hub = ended
        previous = self._seen_after_end.get(address, ended_at)
        self._seen_after_end[address] = now
        since = now - ended_at
        if since < self._min_reconnect_interval:
            return False
        if since >= self._cooldown or not by_hub or now - previous >= self._readvertise_gap:
            self._ended.pop(address, None)
            self._seen_after_end.pop(address, None)
            return True
        return False

    def _is_new_broadcast(self, advertisement: Advertisement) -> bool:
        payload = (dict(advertisement.service_data), dict(advertisement.manufacturer_data))
        if self._last_broadcast.get(advertisement.address) == payload:
            return False
        self._last_broadcast[advertisement.address] = payload
        return True

    # -- sessions ------------------------------------------------------------------------------

    async def _handle(self, ble_device: BLEDevice, advertisement: Advertisement, driver: Driver, sink: Sink) -> DeviceIdentity:
        if not driver.connectable:
            return await self._broadcast(advertisement, driver, sink)
        async with self._lock:
            return await self._session(ble_device, advertisement, driver, sink)

    async def _broadcast(self, advertisement: Advertisement, driver: Driver, sink: Sink) -> DeviceIdentity:
        identity = DeviceIdentity(address=advertisement.address, name=advertisement.name)
        for reading in driver.readings_from_advertisement(advertisement, self._clock()):
            await sink(reading)
            self._emit("reading", {"address": advertisement.address, "kind": str(reading.kind)})
        return identity

    async def _session(self, ble_device: BLEDevice, advertisement: Advertisement, driver: Driver, sink: Sink) -> DeviceIdentity:
        queue: asyncio.Queue[Reading | OximetryPoint | StreamEnded | None] = asyncio.Queue()
        session = Session(address=advertisement.address, clock=self._clock, deliver=queue.put_nowait)
        session.history = self._history  # type: ignore[attr-defined]  # read by drivers with meter memory
        session.consent_provider = (  # type: ignore[attr-defined]  # read by drivers of User Data Service scales
            None if self._passkey_provider is None else _AnnouncingProvider(self._passkey_provider, self._emit)
        )
        consumer = asyncio.get_running_loop().create_task(self._consume(queue, sink, advertisement.address))
        try:
            identity = await self._converse(ble_device, advertisement, driver, session, consumer)
        except asyncio.CancelledError:
            consumer.cancel()
            raise
        except BaseException:
            if session.recording:
                queue.put_nowait(StreamEnded(session.identity))
            queue.put_nowait(None)
            await asyncio.gather(consumer, return_exceptions=True)  # keep what did arrive
            raise
        if session.recording:  # the stream ended with the session: the hub closes its recording
            queue.put_nowait(StreamEnded(session.identity or identity))
        queue.put_nowait(None)
        await consumer  # every reading through the sink; the sink's error, if any, surfaces here
        return identity

    async def _consume(self, queue: asyncio.Queue[Reading | OximetryPoint | StreamEnded | None], sink: Sink, address: str) -> None:
        while (reading := await queue.get()) is not None:
            await sink(reading)
            if isinstance(reading, Reading):
                self._emit("reading", {"address": address, "kind": str(reading.kind)})

    async def _converse(
        self,
        ble_device: BLEDevice,
        advertisement: Advertisement,
        driver: Driver,
        session: Session,
        consumer: asyncio.Task[None],
    ) -> DeviceIdentity:
        address = advertisement.address
        disconnected = asyncio.Event()
        # e.g. Omron: bond first. Then one attempt only: every retry of a refused pairing would ask
        # the patient for a passkey again; the device advertising again is the next attempt.
        pair_first = bool(getattr(driver, "pair_before_discovery", False))
        try:
            async with asyncio.timeout(self._connect_timeout):
                client = await establish_connection(
                    BleakClient,
                    ble_device,
                    advertisement.name or address,
                    disconnected_callback=lambda _client: disconnected.set(),
                    max_attempts=1 if pair_first else self._connect_attempts,
                    pair=pair_first,
                    **self._client_kwargs(),
                )
        except BleakError as error:
            trouble = pairing_trouble(error)
            if trouble is not None:
                self._emit("pairing-failed", {"address": address, "name": advertisement.name, "advice": trouble[1], "reason": trouble[0]})
            raise
        ended_by_hub = False
        identity = DeviceIdentity(address=address, name=advertisement.name)
        try:
            self._emit("connected", {"address": address, "name": advertisement.name, "driver": driver.name})
            try:
                identity = await driver.start(client, advertisement, session)
            except BleakError as error:
                if disconnected.is_set():
                    logger.info("%s: disconnected while the session started", address)
                else:
                    logger.warning("%s: session could not start: %s", address, error)
                trouble = pairing_trouble(error)
                if trouble is not None:
                    self._emit("pairing-failed", {"address": address, "name": advertisement.name, "advice": trouble[1], "reason": trouble[0]})
                return session.identity or identity
            except ConsentRefused as refused:  # the session ends with no readings
                logger.info("%s: %s", address, refused)
                self._emit(
                    "consent-failed",
                    {"address": address, "name": advertisement.name, "user_index": refused.user_index, "advice": refused.advice, "reason": refusals.PAIR_CONSENT},
                )
                return session.identity or identity
            session.touch()
            await self._until_done(session, disconnected, consumer)
            return identity
        finally:
            if client.is_connected:
                ended_by_hub = True
                try:
                    await client.disconnect()
                except Exception as error:  # noqa: BLE001 - it is going away either way
                    logger.info("%s: disconnect failed: %s", address, error)
            self._ended[address] = (time.monotonic(), ended_by_hub)
            self._seen_after_end.pop(address, None)
            self._emit(
                "disconnected",
                {
                    "address": address,
                    "ended_by": "hub" if ended_by_hub else "device",
                    "readings": session.delivered,
                    "skipped": session.skipped,
                },
            )

    async def _until_done(self, session: Session, disconnected: asyncio.Event, consumer: asyncio.Task[None]) -> None:
        """Until the device disconnects, goes quiet for `settle` s, the sink fails, or max_session."""
        deadline = time.monotonic() + self._max_session
        waiter = asyncio.get_running_loop().create_task(disconnected.wait())
        woke_late = False
        graced: float | None = None  # the last activity a grace was given after: once for each
        try:
            while not disconnected.is_set() and not consumer.done():
                now = time.monotonic()
                # A recording (continuous oximetry through the night) is not cut by max_session:
                # it ends when the device stops streaming or leaves.
                limit = math.inf if session.recording else deadline - now
                remaining = min(self._settle - (now - session.last_activity), limit)
                if remaining <= 0:
                    if now >= deadline:
                        logger.warning("%s: session cut at %g s", session.address, self._max_session)
                        return
                    if not woke_late or graced == session.last_activity:
                        return
                    # Quiet by the clock, but the loop woke us late: it was held up (the touch app
                    # draws on it; a collection), and what the device sent meanwhile may still wait
                    # in its queue. Listen a moment more before calling it silence — once, so a
                    # loop that is always late cannot keep a silent device's session open.
                    graced = session.last_activity
                    remaining = min(self._settle, LOOP_GRACE)
                asked = time.monotonic() + remaining
                await asyncio.wait({waiter, consumer}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                woke_late = time.monotonic() - asked > LOOP_HELD_UP
        finally:
            waiter.cancel()

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self._client_backend is not None:
            kwargs["backend"] = self._client_backend
            if self._passkey_provider is not None and getattr(self._client_backend, "supports_passkey_provider", False):
                kwargs["passkey_provider"] = _AnnouncingProvider(self._passkey_provider, self._emit)
        return kwargs

    def _found(self, advertisement: Advertisement, driver: Driver) -> None:
        """Tell that a device was found, with the family its driver declares; remembered, so a
        pairing it asks for later names the same family (the pairing dialog's words)."""
        family = getattr(driver, "family", None)
        family_value = family.value if family is not None else None
        self._families[advertisement.address] = family_value
        self._emit("device-found", {"address": advertisement.address, "name": advertisement.name, "driver": driver.name, "family": family_value})

    def _emit(self, name: str, details: dict[str, Any]) -> None:
        if name == "pairing-needed" and details.get("method") == "passkey":
            self._passkey_typed.add(details.get("address", ""))  # a failed bond then means a wrong number
        if self._on_event is None:
            return
        if name == "pairing-needed" and "family" not in details:
            details = {**details, "family": self._families.get(details.get("address", ""))}
        try:
            self._on_event(name, details)
        except Exception:  # noqa: BLE001 - the UI must not break the link
            logger.exception("event callback failed for %s", name)


__all__ = ["EventCallback", "LinkManager", "PairingFailed", "Sink"]
