"""Checked commands become calls on the `RemoteCommands` port; every outcome is answered and
audited.

The audit log (logger `heima.remote.audit`) says which command, its id (a UUID the centre made),
the status and a reason code — never an argument, never a result. Replies are checked against the
protocol's schemas before they leave: a result that does not fit (an identifier that slipped in)
is answered as failed/internal instead of being sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import jsonschema

from hub.domain.devices import DeviceFamily

from sync.remote.port import CommandFailed, CommandRefused, RemoteCommands
from sync.remote.protocol import Command, Reason, Refusal, Status, reply_body, reply_is_valid
from sync.remote.schemas import COMMAND_RESULTS
from sync.remote.settings import SettingRefused, check_setting

audit = logging.getLogger("heima.remote.audit")
log = logging.getLogger(__name__)

# (reply topic, correlation data, reply body)
Send = Callable[[str, bytes | None, dict[str, Any]], None]
_RESULT_VALIDATORS = {name: jsonschema.Draft202012Validator(s) for name, s in COMMAND_RESULTS.items()}


class Dispatcher:
    def __init__(self, port: RemoteCommands, send: Send, *, clock: Callable[[], datetime]) -> None:
        self._port = port
        self._send = send
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}  # long work by command name
        self.answered: dict[Status, int] = dict.fromkeys(Status, 0)

    async def handle(self, item: Command | Refusal) -> None:
        """Answer one parsed command; long work (measure-now, sync-now) goes on in a task."""
        if isinstance(item, Refusal):
            self._answer(item.reply_to, item.correlation, item.id, item.name, Status.REFUSED, item.reason)
            return
        try:
            await self._run(item)
        except CommandRefused as exc:
            self._answer_to(item, Status.REFUSED, exc.reason)
        except CommandFailed as exc:
            self._answer_to(item, Status.FAILED, exc.reason)
        except Exception as exc:  # a fault on the hub: the type is logged, the centre hears "internal"
            log.error("command %s failed on the hub (%s)", item.name, type(exc).__name__)
            self._answer_to(item, Status.FAILED, Reason.INTERNAL)

    async def _run(self, cmd: Command) -> None:
        name, args = cmd.name, cmd.args
        if name == "video-start":
            ring = int(args["ring_seconds"]) if "ring_seconds" in args else None  # None: the hub's [video] ring_seconds
            await self._port.start_video(args["call"], ring)
            self._answer_to(cmd, Status.ACCEPTED, Reason.OK)
        elif name == "measure-now":
            self._long(cmd, lambda: self._port.measure_now(DeviceFamily(args["family"]), float(args.get("timeout", 120))))
        elif name == "sync-now":
            self._long(cmd, self._port.sync_now)
        elif name == "refresh-plan":
            await self._port.refresh_plan()
            self._answer_to(cmd, Status.DONE, Reason.OK)
        elif name == "diagnostics":
            result = await self._port.diagnostics()
            if isinstance(result.get("clock"), dict):
                result["clock"]["centre_offset_seconds"] = round((self._clock() - cmd.sent_at).total_seconds(), 3)
            self._answer_to(cmd, Status.DONE, Reason.OK, result)
        elif name == "set-config":
            try:
                setting, value = check_setting(args["setting"], args["value"])
            except SettingRefused as exc:
                raise CommandRefused(Reason(exc.reason)) from None
            applies = await self._port.change_setting(setting, value)
            self._answer_to(cmd, Status.DONE, Reason.OK, {"applies": applies})
        else:  # parse_command lets through only the names above
            raise CommandRefused(Reason.UNKNOWN_COMMAND)

    def _long(self, cmd: Command, start: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Accepted now, done or failed when the work ends. One of each kind at a time."""
        if cmd.name in self._running:
            raise CommandRefused(Reason.BUSY)
        work = start()  # raises CommandRefused when it cannot start: nothing was accepted

        async def finish() -> None:
            try:
                result = await work
                self._answer_to(cmd, Status.DONE, Reason.OK, result)
            except CommandFailed as exc:
                self._answer_to(cmd, Status.FAILED, exc.reason)
            except CommandRefused as exc:  # refused late: still nothing done
                self._answer_to(cmd, Status.FAILED, exc.reason)
            except asyncio.CancelledError:
                self._answer_to(cmd, Status.FAILED, Reason.INTERNAL)
                raise
            except Exception as exc:
                log.error("command %s failed on the hub (%s)", cmd.name, type(exc).__name__)
                self._answer_to(cmd, Status.FAILED, Reason.INTERNAL)
            finally:
                self._running.pop(cmd.name, None)

        self._answer_to(cmd, Status.ACCEPTED, Reason.OK)
        self._running[cmd.name] = asyncio.ensure_future(finish())

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _answer_to(self, cmd: Command, status: Status, reason: Reason, result: dict[str, Any] | None = None) -> None:
        if result is not None and not _RESULT_VALIDATORS[cmd.name].is_valid(result):
            log.error("command %s: the hub's result does not fit the protocol; not sent", cmd.name)
            status, reason, result = Status.FAILED, Reason.INTERNAL, None
        self._answer(cmd.reply_to, cmd.correlation, cmd.id, cmd.name, status, reason, result)

    def _answer(
        self,
        reply_to: str,
        correlation: bytes | None,
        command_id: str | None,
        name: str | None,
        status: Status,
        reason: Reason,
        result: dict[str, Any] | None = None,
    ) -> None:
        body = reply_body(command_id=command_id, name=name, status=status, reason=reason, now=self._clock(), result=result)
        if not reply_is_valid(body):  # our own bug; never send what the centre cannot read
            log.error("command %s: reply does not fit the protocol; not sent", name)
            return
        self.answered[status] += 1
        audit.info("command %s %s: %s %s", name or "-", command_id or "-", status.value, reason.value)
        self._send(reply_to, correlation, body)
