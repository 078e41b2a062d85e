"""Configuration: defaults that work, errors that say which setting — never its value."""

from pathlib import Path

import pytest

from hub.config import ConfigError, HubConfig, load_config, parse_config


def test_without_a_file_the_hub_writes_bundles_to_a_local_folder():
    [dest] = HubConfig().effective_destinations()
    assert dest.kind == "directory" and dest.path.name == "bundles"


def test_a_centre_url_is_added_as_a_fhir_destination():
    config = HubConfig().with_centre("https://fhir.example.no/R4/")
    [dest] = config.effective_destinations()
    assert (dest.kind, dest.url) == ("fhir", "https://fhir.example.no/R4")


def test_a_full_file_is_read(tmp_path):
    path = tmp_path / "heima.toml"
    path.write_text(
        """
[hub]
data_dir = "data"
timezone = "Europe/Oslo"
serial = "HUB-42"
[patient]
identifier = "13116900216"
[[destinations]]
name = "kommune"
kind = "fhir"
url = "https://fhir.kommune.example/R4"
[[destinations]]
name = "usb"
kind = "directory"
path = "/media/usb"
"""
    )
    config = load_config(path)
    assert config.data_dir == tmp_path / "data"
    assert [d.name for d in config.effective_destinations()] == ["kommune", "usb"]


@pytest.mark.parametrize(
    "data, setting",
    [
        ({"destinations": [{"name": "x", "kind": "ftp"}]}, "destinations[0].kind"),
        ({"destinations": [{"name": "x", "kind": "fhir", "url": "ftp://no"}]}, "destinations[0].url"),
        ({"destinations": [{"name": "x", "kind": "directory"}]}, "destinations[0].path"),
        ({"hub": {"timezone": "Mars/Olympus"}}, "hub.timezone"),
        ({"destinations": [{"name": "x", "kind": "fhir", "url": "https://a", "bundle": "message"}]}, "destinations[0].bundle"),
        ({"patient": {"identifier": 13116900216}}, "patient.identifier"),
        ({"pasient": {}}, "unknown section"),
        ({"hub": {"clock": "sundial"}}, "hub.clock"),
        ({"patient": {"device_users": {"SN-1": 300}}}, "patient.device_users"),
    ],
)
def test_bad_settings_are_named_and_their_values_not_echoed(data, setting):
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=Path("/tmp"))
    assert setting in str(err.value)
    assert "13116900216" not in str(err.value)


def test_a_file_that_is_not_toml_is_a_clear_error(tmp_path):
    path = tmp_path / "heima.toml"
    path.write_text("[hub\nserial = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_a_pi_waits_for_ntp_and_knows_its_patients_user_numbers():
    config = parse_config(
        {"hub": {"clock": "wait-for-ntp"}, "patient": {"device_users": {"OMRON-123": 2}}}, base_dir=Path("/tmp")
    )
    assert config.clock == "wait-for-ntp"
    assert dict(config.patient.device_users) == {"OMRON-123": 2}


def test_continuous_oximetry_is_off_unless_the_configuration_turns_it_on():
    assert parse_config({}).oximetry.record_continuous is False
    on = parse_config({"oximetry": {"record_continuous": True, "chunk_minutes": 5}}).oximetry
    assert on.record_continuous and on.chunk_minutes == 5 and on.period_seconds == 1.0


@pytest.mark.parametrize(
    "table, words",
    [
        ({"record_continuous": "yes"}, "oximetry.record_continuous"),
        ({"chunk_minutes": 0}, "oximetry.chunk_minutes"),
        ({"period_seconds": True}, "oximetry.period_seconds"),
        ({"period_seconds": 0.01, "chunk_minutes": 60}, "at most 60,000 samples"),
        ({"chunk": 10}, "chunk"),
    ],
)
def test_a_wrong_oximetry_setting_is_named(table, words):
    with pytest.raises(ConfigError, match=words):
        parse_config({"oximetry": table})
