"""The written allow-list: the only settings the centre may change over the channel.

Everything else — destinations (where patient data goes), the patient, certificates and keys,
the data folder, the clock policy, the channel's own broker settings — is refused: changing
those needs a technician with the hub in hand (docs/centre-protocol.md, "Configuration changes").
A change is kept in the hub's data folder and takes effect the next time the hub starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any



@dataclass(frozen=True, slots=True)
class AllowedSetting:
    name: str
    schema: dict[str, Any]  # JSON schema of the value
    why: str  # why a centre may change it


ALLOWED_SETTINGS: dict[str, AllowedSetting] = {
    s.name: s
    for s in (
        AllowedSetting(
            "oximetry.record_continuous",
            {"type": "boolean"},
            "the nurse decides whether a night's oximetry is recorded",
        ),
        AllowedSetting(
            "oximetry.chunk_minutes",
            {"type": "number", "minimum": 1, "maximum": 60},
            "how long each continuous-oximetry Observation spans",
        ),
        AllowedSetting(
            "oximetry.period_seconds",
            {"type": "number", "minimum": 0.01, "maximum": 60},
            "one sample per period in a continuous recording",
        ),
        AllowedSetting(
            "hub.timezone",
            {"type": "string", "pattern": "^[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2}$", "maxLength": 40},
            "a hub moved with its patient; an IANA zone such as Europe/Oslo",
        ),
    )
}


class SettingRefused(ValueError):
    """`reason` is a code: setting-not-allowed or invalid-value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_setting(name: Any, value: Any) -> tuple[str, Any]:
    """(name, value) when the centre may set `name` to `value`; SettingRefused otherwise.
    Neither the name nor the value ever goes into the exception's text."""
    if not isinstance(name, str) or name not in ALLOWED_SETTINGS:
        raise SettingRefused("setting-not-allowed")
    import jsonschema  # with the first setting a centre asks to change, not with the hub

    validator = jsonschema.Draft202012Validator(ALLOWED_SETTINGS[name].schema)
    if isinstance(value, bool) and ALLOWED_SETTINGS[name].schema.get("type") == "number":
        raise SettingRefused("invalid-value")  # JSON true is not a number of minutes
    if not validator.is_valid(value):
        raise SettingRefused("invalid-value")
    return name, value
