"""[video] in heima.toml: strict keys like every other table, errors that name the setting and never
echo a value (a TURN credential sits in this table), and only beside [centre.mqtt]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import ConfigError, parse_config
from hub.domain.video import IceServer, VideoSettings

SECRET = "s3cret-turn-credential"


def with_video(tmp_path: Path, video: Any) -> dict[str, Any]:
    (tmp_path / "hub.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return {"centre": {"mqtt": {"host": "mqtt.centre.example", "hub_id": "hub-0042", "client_cert": "hub.crt"}}, "video": video}


def test_a_hub_with_video_takes_the_centres_turn_server_and_times(tmp_path: Path) -> None:
    video = {
        "ice_servers": [{"urls": ["turns:turn.centre.example:5349"], "username": "hub-0042", "credential": SECRET}],
        "ring_seconds": 30,
        "connect_seconds": 20,
        "camera": "/dev/video0",
    }
    cfg = parse_config(with_video(tmp_path, video), base_dir=tmp_path)
    assert cfg.video == VideoSettings((IceServer(("turns:turn.centre.example:5349",), "hub-0042", SECRET),), 30.0, 20.0, "/dev/video0")
    assert parse_config(with_video(tmp_path, {}), base_dir=tmp_path).video == VideoSettings()  # no public STUN default
    assert parse_config({}).video is None


@pytest.mark.parametrize(
    ("video", "names"),
    [
        ({"ring": 30}, "unknown key(s) ring"),
        ({"ring_seconds": 1}, "ring_seconds"),
        ({"ring_seconds": True}, "ring_seconds"),
        ({"connect_seconds": "15"}, "connect_seconds"),
        ({"camera": ""}, "camera"),
        ({"ice_servers": {"urls": "turn:x"}}, "video.ice_servers"),
        ({"ice_servers": ["turn:x"]}, "video.ice_servers[0]"),
        ({"ice_servers": [{"url": "turn:x", "credential": SECRET}]}, "video.ice_servers[0]"),
        ({"ice_servers": [{"urls": 5, "credential": SECRET}]}, "video.ice_servers[0].urls"),
        ({"ice_servers": [{"urls": [f"https://{SECRET}.example"]}]}, "url must begin stun:"),
        ({"ice_servers": [{"urls": ["turn:x"], "credential": 1234}]}, "video.ice_servers[0].credential"),
    ],
)
def test_a_wrong_video_setting_is_named_never_echoed(tmp_path: Path, video: dict, names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_video(tmp_path, video), base_dir=tmp_path)
    assert names in str(caught.value)
    assert SECRET not in str(caught.value)


def test_video_without_the_centres_channel_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"configure \[centre.mqtt\]"):
        parse_config({"video": {"ring_seconds": 30}}, base_dir=tmp_path)


_toml = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["urls", "username", "credential", "x"]), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(["ice_servers", "ring_seconds", "connect_seconds", "camera", "other"]), _toml, max_size=4))
def test_any_video_table_is_taken_or_refused_with_a_config_error(video: dict) -> None:
    data = {"centre": {"mqtt": {"host": "h", "hub_id": "hub-1", "client_cert": "/etc/hostname"}}, "video": video}
    try:
        cfg = parse_config(data)
    except ConfigError:
        return
    assert isinstance(cfg.video, VideoSettings)
