"""JSON schemas (draft 2020-12) of everything on the channel: commands, replies, events, presence.

They are the contract docs/centre-protocol.md prints (`python -m sync.remote.schemas` writes them
as Markdown; a test keeps the page and these in step). Every object is closed
(`additionalProperties: false`), so nothing the protocol does not name — an identifier, a value —
can ride along unnoticed.
"""

from __future__ import annotations

import json
from typing import Any

from hub.domain.devices import DeviceFamily
from hub.domain.readings import MeasurementKind

from sync.remote.settings import ALLOWED_SETTINGS

UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# RFC 3339 in UTC, as the centre writes it: 2025-03-01T10:15:30Z or with a fraction.
UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
MAX_TTL = 7 * 24 * 3600  # a command lives at most a week (the hub's session lasts as long)

COMMAND_NAMES = ("video-start", "measure-now", "sync-now", "refresh-plan", "diagnostics", "set-config")
STATUSES = ("accepted", "refused", "done", "failed")


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _envelope(args: dict[str, Any]) -> dict[str, Any]:
    return _closed(
        {
            "id": {"type": "string", "pattern": UUID, "description": "a fresh UUID (lower case) per command"},
            "sent_at": {"type": "string", "pattern": UTC_TIME, "description": "the centre's clock, UTC"},
            "ttl": {"type": "integer", "minimum": 1, "maximum": MAX_TTL, "description": "seconds the command stays valid"},
            "args": args,
        },
        ("id", "sent_at", "ttl"),
    )


_NO_ARGS = _closed({})

COMMAND_ARGS: dict[str, dict[str, Any]] = {
    "video-start": _closed(
        {
            "call": {"type": "string", "pattern": UUID, "description": "the call's id, used by its signalling"},
            "ring_seconds": {"type": "integer", "minimum": 5, "maximum": 120},
        },
        ("call",),
    ),
    "measure-now": _closed(
        {
            "family": {"enum": [f.value for f in DeviceFamily]},
            "timeout": {"type": "integer", "minimum": 10, "maximum": 600, "description": "seconds to wait for a device (default 120)"},
        },
        ("family",),
    ),
    "sync-now": _NO_ARGS,
    "refresh-plan": _NO_ARGS,
    "diagnostics": _NO_ARGS,
    "set-config": _closed(
        {
            "setting": {"type": "string", "maxLength": 64, "description": "a name from the allow-list; others are refused setting-not-allowed"},
            "value": {"description": "checked against the setting's own schema (see the allow-list)"},
        },
        ("setting", "value"),
    ),
}

COMMANDS: dict[str, dict[str, Any]] = {name: _envelope(args) for name, args in COMMAND_ARGS.items()}

REPLY = _closed(
    {
        "id": {"type": ["string", "null"], "pattern": UUID, "description": "the command's id; null when it could not be read"},
        "command": {"type": ["string", "null"], "description": "the command's name; null when unknown"},
        "status": {"enum": list(STATUSES)},
        "reason": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,40}$", "description": "a code (see the table)"},
        "hub_time": {"type": "string", "pattern": UTC_TIME, "description": "the hub's clock when it answered"},
        "result": {"type": "object", "description": "done only: the command's result (per command)"},
    },
    ("id", "command", "status", "reason", "hub_time"),
)

_COUNT = {"type": "integer", "minimum": 0}
_SECONDS = {"type": ["number", "null"]}
_DEVICE = _closed(
    {
        "family": {"enum": [f.value for f in DeviceFamily] + ["unknown"]},
        "battery_low": {"type": "boolean"},
        "last_seen": {"type": ["string", "null"], "pattern": UTC_TIME},
    },
    ("family", "battery_low", "last_seen"),
)
DIAGNOSTICS = _closed(
    {
        "versions": _closed(
            {k: {"type": "string", "maxLength": 40} for k in ("heima", "python", "paho_mqtt", "os")},
            ("heima", "python", "paho_mqtt", "os"),
        ),
        "uptime_seconds": {"type": "number", "minimum": 0},
        "storage": _closed(
            {"database_bytes": _COUNT, "free_bytes": _COUNT, "total_bytes": _COUNT},
            ("database_bytes", "free_bytes", "total_bytes"),
        ),
        "queues": {
            "type": "object",
            "description": "per destination (the configuration's name for it): rows per state",
            "additionalProperties": {"type": "object", "additionalProperties": _COUNT},
        },
        "devices": {"type": "array", "items": _DEVICE, "maxItems": 32},
        "clock": _closed(
            {
                "trusted": {"type": "boolean", "description": "the hub's clock is synchronised (NTP)"},
                "centre_offset_seconds": {**_SECONDS, "description": "hub clock minus the command's sent_at (includes transit)"},
            },
            ("trusted", "centre_offset_seconds"),
        ),
        "bluetooth": _closed(
            {
                "state": {"enum": ["ok", "no-adapter", "not-configured", "unknown"]},
                "families": {"type": "array", "items": {"enum": [f.value for f in DeviceFamily]}},
            },
            ("state", "families"),
        ),
    },
    ("versions", "uptime_seconds", "storage", "queues", "devices", "clock", "bluetooth"),
)

COMMAND_RESULTS: dict[str, dict[str, Any]] = {
    "measure-now": _closed({"recorded": _COUNT, "kinds": {"type": "array", "items": {"enum": [k.value for k in MeasurementKind]}}}, ("recorded",)),
    "sync-now": _closed({"waiting": _COUNT, "failed": _COUNT}, ("waiting", "failed")),
    "diagnostics": DIAGNOSTICS,
    "set-config": _closed({"applies": {"enum": ["now", "next-start"]}}, ("applies",)),
}

PRESENCE = _closed(
    {
        "state": {"enum": ["online", "offline"]},
        "reason": {"enum": ["connected", "shutdown", "lost"], "description": "lost: the broker's Will (the hub vanished)"},
        "since": {"type": ["string", "null"], "pattern": UTC_TIME, "description": "hub clock; null in the Will"},
        "protocol": {"type": "integer", "const": 1},
    },
    ("state", "reason", "protocol"),
)

EVENTS: dict[str, dict[str, Any]] = {
    "measurement-recorded": _closed(
        {
            "measurement_id": {"type": "string", "pattern": UUID, "description": "Observation.identifier urn:uuid (the data goes by FHIR)"},
            "kind": {"enum": [k.value for k in MeasurementKind]},
            "hub_time": {"type": "string", "pattern": UTC_TIME},
        },
        ("measurement_id", "kind", "hub_time"),
    ),
    "hub-state": _closed(
        {
            "state": {"enum": ["idle", "measuring", "in-call"]},
            "hub_time": {"type": "string", "pattern": UTC_TIME},
        },
        ("state", "hub_time"),
    ),
    "missed-call": _closed(
        {
            "call": {"type": "string", "pattern": UUID, "description": "the call id of its video-start"},
            "hub_time": {"type": "string", "pattern": UTC_TIME, "description": "when the ring timed out"},
        },
        ("call", "hub_time"),
    ),
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by the name the protocol page uses for it."""
    named: dict[str, dict[str, Any]] = {f"command {n}": s for n, s in COMMANDS.items()}
    named["reply"] = REPLY
    named |= {f"result {n}": s for n, s in COMMAND_RESULTS.items()}
    named["presence"] = PRESENCE
    named |= {f"event {n}": s for n, s in EVENTS.items()}
    named["setting values"] = _closed({name: s.schema for name, s in sorted(ALLOWED_SETTINGS.items())})
    return named


def as_markdown() -> str:
    out = []
    for name, schema in all_schemas().items():
        out.append(f"#### Schema: {name}\n\n```json\n{json.dumps(schema, indent=2, sort_keys=True)}\n```\n")
    return "\n".join(out)


if __name__ == "__main__":  # python -m sync.remote.schemas > the schema section of the docs
    print(as_markdown())
