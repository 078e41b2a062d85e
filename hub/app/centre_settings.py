"""The settings the centre changed over its channel, kept in the data folder and laid over the
configuration when the hub starts. Apart from the channel (hub.app.remote) so that a hub with no
centre starts without the channel's protocol modules (docs/performance.md, part M6)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.config import ConfigError, HubConfig, _oximetry

log = logging.getLogger(__name__)
SETTINGS_FILE = "centre-settings.json"


# --- settings the centre changed -----------------------------------------------------------------


def with_setting(config: HubConfig, name: str, value: Any) -> HubConfig:
    """The configuration with one allowed setting changed; ConfigError when the result is not
    a configuration the hub can run with (the same checks as the TOML file's)."""
    if name == "hub.timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("hub.timezone: not a known IANA time zone") from None
        return replace(config, timezone=value)
    if name.startswith("oximetry."):
        ox = config.oximetry
        table = {"record_continuous": ox.record_continuous, "chunk_minutes": ox.chunk_minutes, "period_seconds": ox.period_seconds}
        table[name.removeprefix("oximetry.")] = value
        return replace(config, oximetry=_oximetry(table))
    raise ConfigError(f"{name}: not a setting the centre may change")


def apply_centre_settings(config: HubConfig) -> HubConfig:
    """The configuration with what the centre set (kept in the data folder) laid over it. A kept
    setting that no longer fits is skipped and said so, without its value."""
    path = config.data_dir / SETTINGS_FILE
    try:
        kept = json.loads(path.read_text())
    except FileNotFoundError:
        return config
    except (OSError, ValueError):
        log.warning("%s cannot be read; the centre's settings are not applied", SETTINGS_FILE)
        return config
    from sync.remote.settings import SettingRefused, check_setting  # only when the centre set something

    for name, value in sorted(kept.items()) if isinstance(kept, dict) else ():
        try:
            check_setting(name, value)
            config = with_setting(config, name, value)
        except (SettingRefused, ConfigError):
            log.warning("a setting the centre made no longer fits; skipped")
    return config
