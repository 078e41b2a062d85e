"""[centre.mqtt]: strict keys, clear errors that never echo a value, paths from the file's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, parse_config


def table(tmp_path: Path, **over: object) -> dict:
    (tmp_path / "hub.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    mqtt = {"host": "mqtt.centre.example", "hub_id": "hub-0042", "client_cert": "hub.crt"} | over
    return {"centre": {"mqtt": mqtt}}


def test_a_channel_is_configured_with_defaults_that_keep_a_session_for_a_week(tmp_path: Path) -> None:
    cfg = parse_config(table(tmp_path), base_dir=tmp_path).centre_mqtt
    assert cfg is not None
    assert (cfg.port, cfg.keepalive, cfg.session_expiry, cfg.topic_root) == (8883, 60, 7 * 24 * 3600, "heima")
    assert cfg.client_cert == tmp_path / "hub.crt" and cfg.ca_file is None
    assert parse_config({}).centre_mqtt is None


@pytest.mark.parametrize(
    ("over", "names"),
    [
        ({"password": "s3cret"}, "unknown setting"),
        ({"host": "mqtts://mqtt.centre.example:8883"}, "centre.mqtt.host"),
        ({"hub_id": "hub/0042"}, "centre.mqtt.hub_id"),
        ({"hub_id": "+"}, "centre.mqtt.hub_id"),
        ({"client_cert": "missing.crt"}, "centre.mqtt.client_cert"),
        ({"keepalive": 0}, "centre.mqtt.keepalive"),
        ({"keepalive": True}, "centre.mqtt.keepalive"),
        ({"session_expiry": 10}, "centre.mqtt.session_expiry"),
        ({"topic_root": "a/b"}, "centre.mqtt.topic_root"),
    ],
)
def test_a_wrong_channel_setting_is_named_never_echoed(tmp_path: Path, over: dict, names: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(table(tmp_path, **over), base_dir=tmp_path)
    assert names in str(exc.value)
    assert "s3cret" not in str(exc.value) and "mqtts://" not in str(exc.value)


def test_only_mqtt_lives_under_centre(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="centre"):
        parse_config({"centre": {"amqp": {}}}, base_dir=tmp_path)
