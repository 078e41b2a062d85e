"""The usual measurement on its way out, read straight from what was stored (issue 13).

Almost every row of a backlog is the same shape: one number from a device, nothing flagged, no
words, no series, no plan's zone. A destination needs five things of it — its id, kind, number,
unit, time and device — so the store hands such a row over as a `UsualOutgoing`: an Outgoing
whose `usual` carries those five, and whose full Measurement (`payload`) is built from the row
only if something asks for it. Sending a backlog then builds no Reading and no Measurement per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from hub.domain.measurements import Measurement
from hub.domain.outgoing import Outgoing, OutgoingKind
from hub.domain.readings import DeviceIdentity, MeasurementKind


class UsualValue(NamedTuple):
    """What a destination needs of the usual measurement: provenance device, a number (no absent
    reason), no flags, components, series, duration, context, body site nor evaluation."""

    id: str  # the measurement's id, canonical text (lowercase, hyphenated)
    kind: MeasurementKind
    value: float
    unit: str
    effective_time: str  # ISO 8601 as stored (datetime.isoformat(): with its UTC offset)
    device: DeviceIdentity


# Outgoing's own slots, set directly: a frozen dataclass refuses assignment, and its __init__
# checks what the store has already checked.
_KIND = Outgoing.__dict__["kind"]
_ID = Outgoing.__dict__["id"]
_PAYLOAD = Outgoing.__dict__["payload"]
_new = object.__new__
_MEASUREMENT = OutgoingKind.MEASUREMENT


class UsualOutgoing(Outgoing):
    """An outgoing measurement of the usual shape. `payload` (the Measurement) is built from the
    stored row the first time it is asked for, then kept: it is the same Measurement the store
    would have built, so everything that reads it sees what it always saw."""

    __slots__ = ("usual", "_row", "_build")
    usual: UsualValue

    @classmethod
    def of(cls, id: uuid.UUID, usual: UsualValue, row: Any, build: Callable[[Any], Measurement]) -> UsualOutgoing:
        new = _new(cls)
        _set_kind(new, _MEASUREMENT)
        _set_id(new, id)
        _set_usual(new, usual)
        _set_row(new, row)
        _set_build(new, build)
        return new

    @property  # type: ignore[override]
    def payload(self) -> Measurement:
        try:
            return _PAYLOAD.__get__(self, UsualOutgoing)
        except AttributeError:
            measurement = self._build(self._row)
            _PAYLOAD.__set__(self, measurement)
            return measurement


def id_texts(items: Iterable[Outgoing]) -> list[str]:
    """The outgoing resources' ids as text: a usual row's as the store read it (kept in its
    UsualValue), any other's str() of its UUID — on the delivery path str() of a UUID is a
    Python-level call, made several times per row before (issue 13, part D4)."""
    return [i.usual.id if type(i) is UsualOutgoing else str(i.id) for i in items]


__all__ = ["UsualOutgoing", "UsualValue", "id_texts"]


_USUAL = UsualOutgoing.__dict__["usual"]
_ROW = UsualOutgoing.__dict__["_row"]
_BUILD = UsualOutgoing.__dict__["_build"]
# Bound once: the store makes one UsualOutgoing per row of a backlog.
_set_kind, _set_id, _set_usual, _set_row, _set_build = (
    _KIND.__set__, _ID.__set__, _USUAL.__set__, _ROW.__set__, _BUILD.__set__
)
