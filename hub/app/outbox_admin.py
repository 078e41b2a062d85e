"""The outbox as the operator sees it: what waits per destination, why and until when (`heima
sync`, `heima status`); destinations no longer configured that still hold rows (`heima outbox`),
and handing their waiting rows to a configured destination (`heima outbox move`).

A destination removed from the configuration keeps its rows (hub.services.consent): nothing is
sent elsewhere by itself. Only the operator moves them, and the move is one transaction in the
store (`Store.requeue`): a measurement is queued for the new destination once, never twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.config import DestinationConfig, HubConfig
from hub.domain.readings import MeasurementKind
from hub.services.consent import NOT_FOR_PMD, data_category
from hub.store import Requeued, SetAside, Store, Waiting

HELD_NOTE = "held until the hub's clock is set (NTP); sent after that"


class OutboxCommandError(ValueError):
    """The command cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where every destination's rows stand, and which destinations are configured."""

    counts: dict[str, dict[str, int]]
    waiting: dict[str, Waiting]
    configured: tuple[DestinationConfig, ...] = field(default=())
    measurements: int = 0  # every measurement stored
    set_aside: tuple[SetAside, ...] = ()  # refused for good, with the destination's reason (oldest first)

    @property
    def configured_names(self) -> list[str]:
        return [d.name for d in self.configured]

    @property
    def stranded(self) -> list[str]:
        """Destinations that hold rows but are no longer configured, by name."""
        return sorted(name for name in self.counts if name not in self.configured_names)

    def waiting_total(self) -> int:
        return sum(w.count for w in self.waiting.values())


async def snapshot(config: HubConfig) -> Snapshot | None:
    """The outbox as it stands; None when there is no database yet. Reads only (a hub may run)."""
    if not config.database_path.exists():
        return None
    store = await Store.open(config.database_path)
    try:
        counts = await store.outbox_counts()
        waiting = {w.destination: w for w in await store.waiting()}
        stored = await store.count_measurements()
        set_aside = tuple(await store.set_aside())
    finally:
        await store.close()
    return Snapshot(counts, waiting, config.effective_destinations(), stored, set_aside)


def counts_text(counts: dict[str, int]) -> str:
    text = f"sent {counts.get('delivered', 0)}, waiting {counts.get('pending', 0)}, could not be sent {counts.get('dead', 0)}"
    if counts.get("withdrawn"):
        text += f", not shared (consent withdrawn) {counts['withdrawn']}"
    return text


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s" if s else f"{minutes} min"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m} min" if m else f"{hours} h"


def waiting_lines(w: Waiting, *, now: datetime, zone: ZoneInfo) -> list[str]:
    """Why rows wait for a configured destination and when the next try is (indented lines).
    The reason is what the hub wrote when a try failed: its own words, never a server's text."""
    lines = [f"  why: {w.last_error or 'not tried yet'}"]
    if w.next_attempt_at is not None:
        at = w.next_attempt_at.astimezone(UTC)
        if at <= now:
            lines.append("  next try: due now (the next `heima sync`, or the running hub at once)")
        else:
            local = at.astimezone(zone)
            lines.append(f"  next try: {local:%Y-%m-%d %H:%M:%S} ({zone.key}), in {_duration((at - now).total_seconds())}")
    if w.held:
        lines.append(f"  {w.held} of them {HELD_NOTE}")
    return lines


def stranded_text(name: str, counts: dict[str, int]) -> str:
    return f"{name}: not in the configuration — {counts_text(counts)}; kept, nothing is sent there (see `heima outbox`)"


def kinds_taken(dest: DestinationConfig) -> list[str]:
    """The measurement kinds a destination takes (its `receives`; what Pasientens måledata
    takes), as routing decides for new measurements (hub.services.consent)."""
    return [
        kind.value
        for kind in MeasurementKind
        if dest.receives_category(data_category(kind)) and not (dest.kind == "nhn-pmd" and kind in NOT_FOR_PMD)
    ]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def move(config: HubConfig, source: str, target: str, *, clock: Callable[[], datetime] = _wall_clock) -> Requeued:
    """Queue the rows still waiting for `source` (no longer configured) for `target` (configured).
    Takes the data folder like any command that writes (a running hub refuses it)."""
    configured = {d.name: d for d in config.effective_destinations()}
    if source in configured:
        raise OutboxCommandError(
            f"{source!r} is configured: its own delivery sends its rows; move only a destination no longer configured"
        )
    if target not in configured:
        raise OutboxCommandError(
            f"{target!r} is not a configured destination (configured: {', '.join(configured)}); "
            "add it to the --config file first"
        )
    if not config.database_path.exists():
        raise OutboxCommandError(f"no data yet at {config.database_path}")
    store = await Store.open(config.database_path, owner=True)
    try:
        if source not in await store.outbox_counts():
            raise OutboxCommandError(f"no rows for a destination named {source!r}; `heima outbox` lists them")
        # A destination the hub has never started with gets its configured consent first, as at
        # start-up, so a `consent = "not-given"` one is not taken for given.
        defaults = {name: "given" if d.consent == "given" else "withdrawn" for name, d in configured.items()}
        await store.initialise_consent(defaults, at=clock())
        return await store.requeue(source, target, kinds=kinds_taken(configured[target]))
    finally:
        await store.close()
