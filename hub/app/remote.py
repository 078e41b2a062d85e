"""The centre's MQTT channel wired to this hub: hub.api behind the channel's `RemoteCommands`
port, the hub's events out to the centre, and the settings the centre changed kept in the data
folder (applied when the hub starts: hub.app.centre_settings). See docs/centre-protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.api import DeviceFamily, QualityFlag, family_of
from hub.app.centre_settings import SETTINGS_FILE, apply_centre_settings, with_setting  # noqa: F401 - re-exported
from hub.config import ConfigError, HubConfig
from sync.remote.port import CommandFailed, CommandRefused
from sync.remote.protocol import Reason, utc_text

if TYPE_CHECKING:
    from hub.app import Hub
    from sync.remote.channel import ChannelSettings, RemoteChannel  # paho: imported when a centre is set

log = logging.getLogger(__name__)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- the port ---------------------------------------------------------------------------------------


def _event_name(event: Any) -> str | None:
    return getattr(type(event), "NAME", None) or getattr(event, "name", None)


def _field(event: Any, key: str) -> Any:
    data = getattr(event, "data", None)
    return data.get(key) if isinstance(data, dict) else getattr(event, key, None)


class HubRemoteCommands:
    """hub.api (and the hub's store and clock) as the channel's RemoteCommands port."""

    def __init__(self, hub: Hub, *, started: float | None = None) -> None:
        self._hub = hub
        self._started = time.monotonic() if started is None else started
        self._measuring = False

    async def start_video(self, call_id: str, ring_seconds: int | None) -> None:
        from hub.app.video import start_video

        await start_video(self._hub, call_id, ring_seconds)  # refused video-not-available without [video]

    def measure_now(self, family: DeviceFamily, timeout: float) -> Any:
        if not self._hub.api.can_measure:
            raise CommandRefused(Reason.NO_LINK)
        if self._measuring:
            raise CommandRefused(Reason.BUSY)
        self._measuring = True
        return self._measure(family, timeout)

    async def _measure(self, family: DeviceFamily, timeout: float) -> dict[str, Any]:
        kinds: list[str] = []

        def count(event: Any) -> None:
            if _event_name(event) == "measurement-recorded" and _field(event, "created") is not False:
                kinds.append(str(_field(event, "kind")))

        stop = self._hub.api.subscribe(count)
        try:
            await self._hub.api.measure_now(timeout=timeout, family=family)
        except TimeoutError:
            raise CommandFailed(Reason.NO_DEVICE) from None
        finally:
            stop()
            self._measuring = False
        return {"recorded": len(kinds), "kinds": sorted(set(kinds))}

    def sync_now(self) -> Any:
        return self._sync()

    async def _sync(self, quiet: float = 2.0) -> dict[str, Any]:
        """Wake every delivery worker and wait until they go quiet (no delivery news for
        `quiet` seconds, or nothing left due). A hub not delivering in the background drains
        once itself."""
        hub = self._hub
        if not hub._tasks:
            await hub.deliver_now()
        else:
            changed = asyncio.Event()
            stop = hub.api.subscribe(lambda e: changed.set() if _event_name(e) == "delivery-changed" else None)
            try:
                for worker in hub.workers:
                    worker.wake()
                while await self._waiting():
                    changed.clear()
                    try:
                        await asyncio.wait_for(changed.wait(), timeout=quiet)
                    except TimeoutError:
                        break
            finally:
                stop()
        counts = await hub.store.outbox_counts()
        return {
            "waiting": sum(c.get("pending", 0) for c in counts.values()),
            "failed": sum(c.get("dead", 0) for c in counts.values()),
        }

    async def _waiting(self) -> int:
        return sum(c.get("pending", 0) for c in (await self._hub.store.outbox_counts()).values())

    async def refresh_plan(self) -> None:
        raise CommandRefused(Reason.NOT_AVAILABLE)  # plans and forms are not pulled yet

    async def diagnostics(self) -> dict[str, Any]:
        hub = self._hub
        db = hub.config.database_path
        db_bytes = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
        disk = shutil.disk_usage(hub.config.data_dir)
        devices: dict[str, dict[str, Any]] = {}
        for view in await hub.api.recent(limit=500):  # newest first
            if view.device_name is None or view.device_name in devices:
                continue
            family = family_of(view.kind)
            devices[view.device_name] = {
                "family": family.value if family else "unknown",
                "battery_low": QualityFlag.BATTERY_LOW in view.flags,
                "last_seen": utc_text(view.taken_at),
            }
        families = [f.family.value for f in hub.api.families() if f.by_device]
        return {
            "versions": {
                "heima": _version("heima"),
                "python": platform.python_version(),
                "paho_mqtt": _version("paho-mqtt"),
                "os": f"{platform.system()} {platform.release()}"[:40],
            },
            "uptime_seconds": round(time.monotonic() - self._started, 1),
            "storage": {"database_bytes": db_bytes, "free_bytes": disk.free, "total_bytes": disk.total},
            "queues": await hub.store.outbox_counts(),
            "devices": list(devices.values())[:32],  # the device's name stays on the hub
            "clock": {"trusted": hub.hub_clock.is_trusted() if hub.hub_clock else True, "centre_offset_seconds": None},
            "bluetooth": {"state": "unknown" if hub.link is not None else "not-configured", "families": families},
        }

    async def change_setting(self, name: str, value: Any) -> str:
        try:
            with_setting(self._hub.config, name, value)
        except ConfigError:
            raise CommandRefused(Reason.INVALID_VALUE) from None
        path = self._hub.config.data_dir / SETTINGS_FILE
        kept: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, ValueError):
            loaded = json.loads(path.read_text())
            kept = loaded if isinstance(loaded, dict) else {}
        kept[name] = value
        await asyncio.to_thread(_write_atomically, path, json.dumps(kept, indent=1, sort_keys=True))
        return "next-start"


def _version(dist: str) -> str:
    from importlib import metadata  # when a centre asks: with `email` it is ~2 MB of the touch app's memory (part M1)

    try:
        return metadata.version(dist)[:40]
    except metadata.PackageNotFoundError:
        return "unknown"


# --- events to the centre and the channel's life -------------------------------------------------


def forward_events(hub: Hub, channel: RemoteChannel, clock: Callable[[], datetime]) -> Callable[[], None]:
    """The hub's events the centre hears of: a recorded measurement (id and kind, never the
    value), and the hub's state. Returns a function that stops forwarding."""

    def on_event(event: Any) -> None:
        name = _event_name(event)
        now = utc_text(clock())
        if name == "measurement-recorded" and _field(event, "created") is not False:
            channel.publish_event(
                "measurement-recorded",
                {"measurement_id": str(_field(event, "measurement_id")), "kind": str(_field(event, "kind")), "hub_time": now},
            )
        elif name == "measuring-started":
            channel.publish_event("hub-state", {"state": "measuring", "hub_time": now})
        elif name == "measuring-ended":
            channel.publish_event("hub-state", {"state": "idle", "hub_time": now})

    return hub.api.subscribe(on_event)


def channel_settings(config: HubConfig) -> ChannelSettings:
    from sync.remote.channel import ChannelSettings

    m = config.centre_mqtt
    assert m is not None
    return ChannelSettings(
        host=m.host,
        hub_id=m.hub_id,
        client_cert=m.client_cert,
        client_key=m.client_key,
        ca_file=m.ca_file,
        port=m.port,
        keepalive=m.keepalive,
        session_expiry=m.session_expiry,
        root=m.topic_root,
    )


async def run_remote(hub: Hub, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Keep the centre's channel up until cancelled (a task of the running hub)."""
    from sync.remote.channel import RemoteChannel

    channel = RemoteChannel(
        channel_settings(hub.config),
        HubRemoteCommands(hub),
        clock=clock,
        clock_trusted=hub.hub_clock.is_trusted if hub.hub_clock else (lambda: True),
        on_connected=lambda: channel.publish_event("hub-state", {"state": "idle", "hub_time": utc_text(clock())}),
        signalling=hub.signalling,  # the nurse's calls ([video]) travel on this channel too
    )
    await channel.start()
    log.info("centre channel started (broker %s:%d)", channel.settings.host, channel.settings.port)
    stop_forwarding = forward_events(hub, channel, clock)
    if hub.calls is not None:
        from hub.app.video import forward_call_events

        stop_calls = forward_call_events(hub, channel, clock)
    try:
        await asyncio.Event().wait()
    finally:
        stop_forwarding()
        if hub.calls is not None:
            stop_calls()
        await channel.stop()
