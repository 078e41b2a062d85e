"""Blood glucose meters: the standard Glucose service (0x1808) read through its Record Access
Control Point, plus the Contour Next One and Accu-Chek Guide with their own clocks.

One session, in this order (a meter that sees RACP written before its CCCDs answers ATT 0x81,
the Contour Next One among them):

1. Device Information (identity), then notifications on Glucose Measurement and Measurement
   Context and indications on RACP, before anything else of the Glucose service;
2. the meter's clock, read in the same session: `device_clock_offset = hub now − device now`
   goes onto every reading (the hub places stored records on its own timeline with it);
3. `history.last_sequence(device, BLOOD_GLUCOSE)` (the hub's store, handed over by the link
   manager) and the meter's last record (RACP "report stored records: last record"). A meter
   whose last sequence number is lower than the hub's has had its memory cleared (or its
   numbering restarted): everything is downloaded. Otherwise only "sequence ≥ last + 1". The
   probe's record is never delivered: records go to the hub strictly in sequence order, so a
   download cut off after record N leaves N as the hub's last sequence and the next session
   asks for N + 1 — no loss, no duplicates;
4. each record is paired with its context (the measurement's "context follows" flag says one
   comes; waited for up to `context_timeout`), turned into a `Reading` and handed on at once.
   If the link drops while a context is awaited, that record is not delivered: the next
   session fetches it again with its context;
5. the clock is written only when it drifted more than `clock_drift_limit` (or is not set, or
   shows a time before 2020: reset), only when the hub's own clock is trusted, only through a
   characteristic the driver may write for that model, and only when reading it in this session
   proved its layout. Written after the download, so every record of the session is corrected
   with the one offset measured before.

While records come, the screen is told how far the download is: `("download-progress",
{"address", "done", "total"})` through the `on_event` callback the driver was given (counts only,
throttled). `total` is the number of records asked for: from the first sequence requested to the
meter's last (the probe's), or, when everything is requested, from the first record that arrives
to the meter's last; no extra RACP request is made. A meter that cannot tell its last record gets
no progress.

Values, quality flags and what to request are decided by the pure `drivers.protocol.glucose`
(record -> `Reading`, `plan_download`, `RecordAssembler`); the clocks and the offset by the pure
`drivers.protocol.glucose_clock`. This module is the I/O around them.

A malformed packet is logged (the defect, never a value) and skipped. Measurements a meter
notifies on its own outside a RACP procedure are not read: the next session fetches them.

The pure parts are tested without a radio in tests/unit/test_glucose_driver.py.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.exc import BleakError, BleakGATTProtocolError

from drivers.devices.base import Advertisement, Driver, Matcher, Session
from drivers.devices.pulse_oximeter import read_device_identity
from drivers.gatt import MalformedPacket
from drivers.gatt.glucose import (
    GLUCOSE_FEATURE_UUID,
    GLUCOSE_MEASUREMENT_CONTEXT_UUID,
    GLUCOSE_MEASUREMENT_UUID,
    GLUCOSE_SERVICE_UUID,
    GlucoseFeature,
    parse_glucose_feature,
)
from drivers.gatt.racp import (
    ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED,
    ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS,
    RACP_UUID,
    RacpGeneralResponse,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpResponse,
    RacpResponseCode,
    abort,
    encode_request,
    parse_response,
    report_all_records,
)
from drivers.protocol.glucose import (
    LAST_UNKNOWN,
    Assembled,
    DownloadPlan,
    GlucoseRecord,
    RecordAssembler,
    glucose_reading,
    plan_download,
)
from drivers.protocol.glucose_clock import (
    CONTOUR_CLOCK,
    CURRENT_TIME_CLOCK,
    DATE_TIME_CLOCK,
    ClockCharacteristic,
    ClockReading,
    clock_offset,
)
from hub.domain.devices import DeviceFamily, DeviceHistory
from hub.domain.readings import DeviceIdentity, MeasurementKind

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic

logger = logging.getLogger(__name__)

CONTOUR_SERVICE_UUID = "00000000-0002-11e2-9e96-0800200c9a66"
DOWNLOAD_PROGRESS_EVENT = "download-progress"

# --- the session --------------------------------------------------------------------------------


def _history_of(session: Session) -> DeviceHistory | None:
    return getattr(session, "history", None)  # set by the LinkManager when the hub gave one


def _att_code(error: BleakError) -> int | None:
    if isinstance(error, BleakGATTProtocolError) and error.args and isinstance(error.args[0], int):
        return int(error.args[0])
    return None


class _Disconnected(BleakError):
    pass


class _Download:
    """One connection's RACP conversation: packets in arrival order, one procedure at a time."""

    POLL = 0.05

    def __init__(self, driver: GlucoseMeterDriver, client: BleakClient, session: Session, identity: DeviceIdentity) -> None:
        self.driver = driver
        self.client = client
        self.session = session
        self.identity = identity
        self.packets: collections.deque[tuple[str, bytes]] = collections.deque()
        self.arrived = asyncio.Event()
        self.active = True
        self.has_context = client.services.get_characteristic(GLUCOSE_MEASUREMENT_CONTEXT_UUID) is not None
        self.clock: ClockReading | None = None
        self.delivered = 0
        self.meter_last: int | None = None  # the meter's last sequence (the probe), for progress
        self.total: int | None = None  # records asked for in this download; None: not known yet
        self._progress_at = -math.inf

    def _packet(self, kind: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_value(_: BleakGATTCharacteristic, data: bytearray) -> None:
            if not self.active:
                logger.info("%s: a %s notified outside a download is left for the next session", self.identity.address, kind)
                return
            self.packets.append((kind, bytes(data)))
            self.arrived.set()

        return on_value

    async def subscribe(self) -> None:
        """Measurement and context notifications, RACP indications: before any RACP write."""
        await self.client.start_notify(GLUCOSE_MEASUREMENT_UUID, self._packet("measurement"))
        if self.has_context:
            await self.client.start_notify(GLUCOSE_MEASUREMENT_CONTEXT_UUID, self._packet("context"))
        await self.client.start_notify(RACP_UUID, self._packet("racp"))

    async def _write(self, request: bytes) -> None:
        """Write a RACP request; on 0x80 abort the running procedure, on 0x81 subscribe again;
        then retry once."""
        for attempt in (1, 2):
            try:
                await self.client.write_gatt_char(RACP_UUID, request, response=True)
                return
            except BleakError as error:
                code = _att_code(error)
                if attempt == 2 or code not in (ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS, ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED):
                    raise
                logger.info("%s: RACP refused with ATT 0x%02X; retrying once", self.identity.address, code)
                if code == ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS:
                    await self.client.write_gatt_char(RACP_UUID, abort(), response=True)
                    await self._await_response(RecordAssembler(), deliver=False, collected=[])
                else:
                    await self.subscribe()

    async def procedure(self, request: bytes, *, deliver: bool) -> tuple[RacpResponse | None, list[GlucoseRecord]]:
        """Run one RACP procedure; records are delivered as they complete (`deliver`) or
        returned. The response is None when the meter went silent (the procedure is aborted)."""
        self.packets.clear()  # anything left over belongs to no procedure
        collected: list[GlucoseRecord] = []
        assembler = RecordAssembler()
        await self._write(request)
        response = await self._await_response(assembler, deliver=deliver, collected=collected)
        return response, collected

    def _handle(self, items: list[Assembled], *, deliver: bool, collected: list[GlucoseRecord]) -> None:
        for item in items:
            if isinstance(item, MalformedPacket):
                logger.warning("%s: glucose record skipped: %s", self.identity.address, item)
                self.session.skip()
                continue
            if not deliver:
                collected.append(item)
                continue
            clock = self.clock
            reading = glucose_reading(
                item.measurement,
                item.context,
                device=self.identity,
                received_at=self.session.now(),
                clock_offset=clock.offset if clock is not None else None,
                clock_not_set=clock is not None and not clock.is_set,
            )
            self.session.deliver(reading)
            self.delivered += 1
            self._progress(item.measurement.sequence_number)

    def expect(self, plan: DownloadPlan, meter_last: int | None) -> None:
        """How many records this download asked for, when the plan and the meter's last sequence
        tell (records from the first asked for to the meter's last); else it is counted from the
        first record that arrives (a meter sends its records in sequence order)."""
        self.meter_last = meter_last if meter_last is not None and meter_last != LAST_UNKNOWN else None
        if plan.first_sequence is not None and self.meter_last is not None:
            self.total = max(0, self.meter_last - plan.first_sequence + 1)
            self._emit_progress(0)

    def _progress(self, sequence: int) -> None:
        """A record of the download was handed on: tell the screen (throttled, last one always)."""
        done = self.delivered
        if self.total is None:
            if self.meter_last is None:
                return  # the meter cannot say how many: no progress to show
            self.total = max(1, self.meter_last - sequence + 1)
        self.total = max(self.total, done)  # more than the meter's numbering said: never more than all
        now = time.monotonic()
        if done < self.total and now - self._progress_at < self.driver.progress_interval:
            return
        self._progress_at = now
        self._emit_progress(done)

    def _emit_progress(self, done: int) -> None:
        assert self.total is not None
        self.driver.emit(DOWNLOAD_PROGRESS_EVENT, {"address": self.identity.address, "done": done, "total": self.total})

    async def _await_response(
        self, assembler: RecordAssembler, *, deliver: bool, collected: list[GlucoseRecord]
    ) -> RacpResponse | None:
        driver = self.driver
        last_packet = pending_since = time.monotonic()
        while True:
            if not self.packets:
                self.arrived.clear()
                try:
                    await asyncio.wait_for(self.arrived.wait(), self.POLL)
                except TimeoutError:
                    pass
            now = time.monotonic()
            if not self.packets:
                if not self.client.is_connected:
                    if assembler.drop():
                        logger.info("%s: link lost before a record's context: fetched again next time", self.identity.address)
                    raise _Disconnected(f"{self.identity.address}: disconnected during a RACP procedure")
                if assembler.pending is not None and now - pending_since > driver.context_timeout:
                    logger.info("%s: a context announced by the meter did not come", self.identity.address)
                    self._handle(assembler.expire(), deliver=deliver, collected=collected)
                if now - last_packet > driver.record_timeout:
                    logger.warning("%s: the meter went silent during a RACP procedure: aborting", self.identity.address)
                    self._handle(assembler.end(), deliver=deliver, collected=collected)
                    try:
                        await self.client.write_gatt_char(RACP_UUID, abort(), response=True)
                    except BleakError as error:
                        logger.info("%s: abort not accepted: %s", self.identity.address, error)
                    return None
                continue
            kind, data = self.packets.popleft()
            last_packet = now
            self.session.touch()
            if kind == "measurement":
                self._handle(assembler.measurement(data), deliver=deliver, collected=collected)
                if assembler.pending is not None:
                    pending_since = now
            elif kind == "context":
                self._handle(assembler.context(data), deliver=deliver, collected=collected)
            else:
                try:
                    response = parse_response(data)
                except MalformedPacket as error:
                    logger.warning("%s: RACP indication skipped: %s", self.identity.address, error)
                    continue
                self._handle(assembler.end(), deliver=deliver, collected=collected)
                return response

    async def last_sequence(self) -> int | None:
        """The sequence number of the meter's last record: None when it has none,
        `LAST_UNKNOWN` when it cannot say."""
        request = encode_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.LAST_RECORD)
        response, records = await self.procedure(request, deliver=False)
        if isinstance(response, RacpGeneralResponse) and response.response_code is RacpResponseCode.NO_RECORDS_FOUND:
            return None
        if records:
            return max(record.measurement.sequence_number for record in records)
        logger.info("%s: the meter did not tell its last record (%s)", self.identity.address, response)
        return LAST_UNKNOWN

    async def download(self, plan: DownloadPlan) -> RacpResponse | None:
        logger.info(
            "%s: requesting %s (%s)",
            self.identity.address,
            "all records" if plan.first_sequence is None else f"records from sequence {plan.first_sequence}",
            plan.reason,
        )
        response, _ = await self.procedure(plan.request(), deliver=True)
        if (
            plan.first_sequence is not None
            and isinstance(response, RacpGeneralResponse)
            and response.response_code in (RacpResponseCode.OPERATOR_NOT_SUPPORTED, RacpResponseCode.OPERAND_NOT_SUPPORTED)
        ):
            logger.info("%s: the meter cannot filter by sequence: requesting all (the hub dedupes)", self.identity.address)
            response, _ = await self.procedure(report_all_records(), deliver=True)
        if isinstance(response, RacpGeneralResponse) and response.response_code not in (
            RacpResponseCode.SUCCESS,
            RacpResponseCode.NO_RECORDS_FOUND,
        ):
            logger.warning("%s: RACP answered %s", self.identity.address, response.response_code.name)
        elif isinstance(response, RacpNumberOfRecords):
            logger.warning("%s: RACP answered a count to a report request", self.identity.address)
        return response


class GlucoseMeterDriver(Driver):
    """Any meter with the standard Glucose service and its RACP (see the module docstring)."""

    name: ClassVar[str] = "glucose-standard"
    family: ClassVar[DeviceFamily] = DeviceFamily.GLUCOSE
    matcher: ClassVar[Matcher] = Matcher(service_uuids=frozenset({GLUCOSE_SERVICE_UUID}))
    read_clocks: ClassVar[tuple[ClockCharacteristic, ...]] = (CURRENT_TIME_CLOCK, DATE_TIME_CLOCK)
    write_clocks: ClassVar[tuple[ClockCharacteristic, ...]] = (CURRENT_TIME_CLOCK, DATE_TIME_CLOCK)

    def __init__(
        self,
        *,
        context_timeout: float = 2.0,
        record_timeout: float = 10.0,
        clock_drift_limit: timedelta = timedelta(minutes=3),
        set_clock: bool = True,
        local_zone: tzinfo | None = None,
        clock_trusted: Callable[[], bool] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        progress_interval: float = 0.2,
    ) -> None:
        """`local_zone`: the zone meter clocks are kept in (the hub's; None: the system's).
        `clock_trusted`: whether the hub's own clock may be written into a meter (a Pi before
        NTP answered must not); None: always. `set_clock=False`: never write a meter's clock.
        `on_event`: the memory download's progress for the screen, `("download-progress",
        {"address", "done", "total"})` at most every `progress_interval` seconds (and the last
        record always); counts only, never values."""
        self.on_event = on_event
        self.progress_interval = progress_interval
        self.context_timeout = context_timeout
        self.record_timeout = record_timeout
        self.clock_drift_limit = clock_drift_limit
        self.set_clock = set_clock
        self.local_zone = local_zone
        self.clock_trusted = clock_trusted
        self.features: dict[str, GlucoseFeature] = {}  # by address, last read

    async def start(self, client: BleakClient, advertisement: Advertisement, session: Session) -> DeviceIdentity:
        identity = await read_device_identity(client, advertisement)
        session.identify(identity)
        services = client.services
        if services.get_characteristic(GLUCOSE_MEASUREMENT_UUID) is None or services.get_characteristic(RACP_UUID) is None:
            logger.warning("%s: no Glucose Measurement or RACP: nothing to read", identity.address)
            return identity
        download = _Download(self, client, session, identity)
        try:
            await download.subscribe()
            await self._read_feature(client, identity.address)
            download.clock = await self._read_clock(client, session, identity.address)
            known = await self._known_sequence(session, identity)
            meter_last = await download.last_sequence()
            plan = plan_download(known, meter_last)
            if plan is not None:
                download.expect(plan, meter_last)
                await download.download(plan)
            else:
                logger.info("%s: no new records", identity.address)
        finally:
            download.active = False
        await self._maybe_set_clock(client, session, download.clock, identity.address)
        return identity

    def emit(self, name: str, details: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(name, details)
        except Exception:  # noqa: BLE001 - the screen must not break a download
            logger.exception("event callback failed for %s", name)

    async def _known_sequence(self, session: Session, identity: DeviceIdentity) -> int | None:
        history = _history_of(session)
        if history is None:
            return None
        try:
            return await history.last_sequence(identity, MeasurementKind.BLOOD_GLUCOSE)
        except Exception as error:  # noqa: BLE001 - without it, everything is fetched (the hub dedupes)
            logger.warning("%s: last stored sequence unknown (%s): downloading all", identity.address, type(error).__name__)
            return None

    async def _read_feature(self, client: BleakClient, address: str) -> None:
        if client.services.get_characteristic(GLUCOSE_FEATURE_UUID) is None:
            return
        try:
            self.features[address] = parse_glucose_feature(bytes(await client.read_gatt_char(GLUCOSE_FEATURE_UUID)))
        except MalformedPacket as error:
            logger.warning("%s: %s", address, error)
        except BleakError as error:  # informative only
            if not client.is_connected:
                raise
            logger.warning("%s: Glucose Feature not readable: %s", address, error)

    def _hub_wall_clock(self, session: Session) -> datetime:
        return session.now().astimezone(self.local_zone).replace(tzinfo=None)

    async def _read_one(self, client: BleakClient, clock: ClockCharacteristic, address: str) -> tuple[bool, datetime | None]:
        """(read and parsed, the time it said)."""
        if client.services.get_characteristic(clock.uuid) is None:
            return False, None
        try:
            return True, clock.parse(bytes(await client.read_gatt_char(clock.uuid)))
        except MalformedPacket as error:
            logger.warning("%s: %s", address, error)
        except BleakError as error:
            if not client.is_connected:
                raise
            logger.warning("%s: %s not readable: %s", address, clock.label, error)
        return False, None

    async def _read_clock(self, client: BleakClient, session: Session, address: str) -> ClockReading | None:
        for clock in self.read_clocks:
            ok, device_time = await self._read_one(client, clock, address)
            if ok:
                reading = ClockReading(clock, device_time, clock_offset(session.now(), device_time, self.local_zone))
                if not reading.is_set:
                    logger.info("%s: the meter's clock is not set: its records are flagged", address)
                return reading
        logger.info("%s: no readable clock: device times are taken as they are", address)
        return None

    async def _maybe_set_clock(self, client: BleakClient, session: Session, reading: ClockReading | None, address: str) -> None:
        if not self.set_clock or not client.is_connected:
            return
        if reading is not None and reading.offset is not None and abs(reading.offset) <= self.clock_drift_limit:
            return
        if self.clock_trusted is not None and not self.clock_trusted():
            logger.info("%s: the hub's clock is not trusted yet: the meter's clock is left as it is", address)
            return
        for clock in self.write_clocks:
            characteristic = client.services.get_characteristic(clock.uuid)
            if characteristic is None or "write" not in characteristic.properties:
                continue
            if reading is None or reading.clock is not clock:
                ok, _ = await self._read_one(client, clock, address)  # prove the layout first
                if not ok:
                    continue
            try:
                await client.write_gatt_char(clock.uuid, clock.encode(self._hub_wall_clock(session)), response=True)
            except BleakError as error:
                logger.warning("%s: %s not set: %s", address, clock.label, error)
                return
            drift = "unset" if reading is None or reading.offset is None else f"{reading.offset.total_seconds():+.0f} s"
            logger.info("%s: clock set through %s (was %s)", address, clock.label, drift)
            return


class ContourNextOneDriver(GlucoseMeterDriver):
    """Ascensia Contour Next One: standard glucose + RACP, passkey; its clock is read through
    Current Time when present, else the proprietary clock, and set through the proprietary
    service only (GUESSED characteristic and layout: a real unit must confirm; the driver
    writes it only after a read in the same session parsed as that layout). The name pattern
    is unverified: "Contour" followed by anything."""

    name: ClassVar[str] = "glucose-contour-next-one"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"(?i)contour.*", example_name="Contour7830H6000001")
    read_clocks = (CURRENT_TIME_CLOCK, CONTOUR_CLOCK)
    write_clocks = (CONTOUR_CLOCK,)


class AccuChekGuideDriver(GlucoseMeterDriver):
    """Roche Accu-Chek Guide: standard glucose + RACP, passkey; its clock is Date Time (0x2A08),
    set there when writable. The name patterns ("meter+" and digits, "Accu-Chek…") are
    unverified."""

    name: ClassVar[str] = "glucose-accu-chek-guide"
    matcher: ClassVar[Matcher] = Matcher(local_name=r"(?i)(meter\+\d+|accu-?chek.*)", example_name="meter+06647395")
    read_clocks = (DATE_TIME_CLOCK, CURRENT_TIME_CLOCK)
    write_clocks = (DATE_TIME_CLOCK,)


__all__ = [
    "CONTOUR_SERVICE_UUID",
    "DOWNLOAD_PROGRESS_EVENT",
    "AccuChekGuideDriver",
    "ContourNextOneDriver",
    "GlucoseMeterDriver",
]
