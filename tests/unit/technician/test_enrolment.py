"""Enrolment from a signed profile: a good one becomes a configuration hub.config loads and
secrets only the hub's user can read; a bad signature, an expired one, another hub's, a
malformed one or one with unknown keys is refused with a reason that never repeats the patient's
identifier; a hub that holds another patient's data is not enrolled again until returned."""

from __future__ import annotations

import io
import json
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import load_config, parse_config
from hub.domain.enrolment import ProfileRefused, check_profile
from hub.services.enrolment import decode_qr, encode_qr, enrol, load_trusted_keys, read_source, verify_envelope

from .profiles import HUB_ID, KEY_ID, NOW, OTHER_PATIENT, PATIENT, PIN, centre_key, payload, signed, write_trusted

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def centre(tmp_path: Path):  # noqa: ANN201
    key = centre_key()
    return key, load_trusted_keys(write_trusted(tmp_path / "enrolment-keys.json", key))


def do_enrol(tmp_path: Path, blob: bytes, trusted, *, now=NOW, data: str = "data"):  # noqa: ANN001, ANN202
    return enrol(
        blob,
        config_path=tmp_path / "etc" / "heima.toml",
        data_dir=tmp_path / data,
        hub_id=HUB_ID,
        trusted=trusted,
        pin=PIN,
        who="tone",
        clock=lambda: now,
        check_config=lambda config, base: parse_config(config, base_dir=base),
    )


def refusal(tmp_path: Path, blob: bytes, trusted, **kw) -> str:  # noqa: ANN001
    with pytest.raises(ProfileRefused) as refused:
        do_enrol(tmp_path, blob, trusted, **kw)
    message = str(refused.value)
    assert PATIENT not in message and "Kari" not in message
    assert not (tmp_path / "etc" / "heima.toml").exists()
    return message


def test_a_good_profile_becomes_the_configuration_and_private_secrets(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    dest = {
        "name": "kommune",
        "kind": "fhir",
        "url": "https://fhir.kommune.example/R4",
        "ca": "centre",
        "auth": {"kind": "private-key-jwt", "token_url": "https://helseid.example/connect/token", "client_id": "heima-0042", "key_pem": KEY_PEM},
    }
    mqtt = {"host": "mqtt.centre.example", "port": 8883, "client_cert_pem": CA_PEM.replace("MIIBfake", "MIIBhub"), "client_key_pem": KEY_PEM}
    data = payload(tmp_path / "inbox", centre={"name": "Oslo", "ca_pem": CA_PEM, "mqtt": mqtt})
    data["destinations"].append(dest)
    profile, written = do_enrol(tmp_path, signed(data, key), trusted)
    config = load_config(written.config_path)
    assert config.patient.identifier == PATIENT
    assert config.serial == HUB_ID and config.timezone == "Europe/Oslo"
    assert config.data_dir == (tmp_path / "data").absolute()
    kommune = config.destinations[1]
    assert kommune.auth.key_file is not None and kommune.auth.key_file.read_text() == KEY_PEM
    assert kommune.tls.ca_file is not None and kommune.tls.ca_file.read_text() == CA_PEM
    secrets = tmp_path / "data" / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for path in [*secrets.iterdir(), written.config_path, tmp_path / "data" / "enrolment.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    toml = written.config_path.read_text()
    assert "BEGIN PRIVATE KEY" not in toml and "BEGIN CERTIFICATE" not in toml  # secrets only in their files
    record = json.loads((tmp_path / "data" / "enrolment.json").read_text())
    assert record["mqtt"] == {"host": "mqtt.centre.example", "port": 8883}
    channel = config.centre_mqtt
    assert channel is not None and channel.hub_id == HUB_ID and channel.host == "mqtt.centre.example"
    assert channel.ca_file == kommune.tls.ca_file and channel.client_key is not None
    assert channel.client_key.read_text() == KEY_PEM
    assert PATIENT not in json.dumps(record)
    assert json.loads((tmp_path / "data" / "ui-settings.json").read_text())["language"] == "nn"
    assert profile.profile_id == "profile-7f3a" and PATIENT not in repr(profile)


def test_a_bad_signature_is_refused(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    envelope = json.loads(signed(payload(tmp_path / "inbox"), key))
    forged = payload(tmp_path / "inbox", hub_id=HUB_ID)
    forged["destinations"][0]["path"] = "/tmp/elsewhere"
    import base64

    envelope["payload"] = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    assert "signature is not valid" in refusal(tmp_path, json.dumps(envelope).encode(), trusted)


def test_a_profile_signed_by_an_unpinned_key_is_refused(tmp_path: Path, centre) -> None:  # noqa: ANN001
    _key, trusted = centre
    # Another key under the pinned key's name: the signature does not verify.
    assert "signature is not valid" in refusal(tmp_path, signed(payload(tmp_path / "inbox"), centre_key()), trusted)
    assert "does not trust" in refusal(tmp_path, signed(payload(tmp_path / "inbox"), centre_key(), "other-key"), trusted)


def test_an_expired_or_not_yet_valid_profile_is_refused(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    blob = signed(payload(tmp_path / "inbox"), key)
    assert "expired" in refusal(tmp_path, blob, trusted, now=NOW + timedelta(days=14))
    assert "valid only from" in refusal(tmp_path, blob, trusted, now=NOW - timedelta(days=2))


def test_another_hubs_profile_is_refused(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    message = refusal(tmp_path, signed(payload(tmp_path / "inbox", hub_id="HEIMA-0099"), key), trusted)
    assert "HEIMA-0099" in message and HUB_ID in message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"surprise": 1}, "unknown key"),
        ({"format": "heima-enrolment/0"}, "format"),
        ({"language": "de"}, "language"),
        ({"destinations": []}, "destinations"),
        ({"patient": {"identifier": "01019012345"}}, "not a valid national identity number"),
        ({"patient": {"identifier": PATIENT, "blood_type": "A"}}, "unknown key"),
        ({"expires_at": "2026-03-20T10:00:00"}, "zone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_malformed_profiles_are_refused_with_the_field_named(tmp_path: Path, centre, change: dict, says: str) -> None:  # noqa: ANN001
    key, trusted = centre
    data = payload(tmp_path / "inbox")
    data.update(change)
    assert says in refusal(tmp_path, signed(data, key), trusted)


def test_a_destination_the_hub_config_refuses_refuses_the_profile_and_leaves_no_secret(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    bad = {"name": "x", "kind": "fhir", "url": "http://public.example/R4", "auth": {"kind": "private-key-jwt", "token_url": "https://t.example/token", "client_id": "c", "key_pem": KEY_PEM}}
    data = payload(tmp_path / "inbox")
    data["destinations"].append(bad)
    assert "https" in refusal(tmp_path, signed(data, key), trusted)
    assert not list((tmp_path / "data" / "secrets").glob("*.pem"))


def test_re_enrolling_a_hub_with_another_patients_data_is_refused_the_same_patient_is_renewed(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    do_enrol(tmp_path, signed(payload(tmp_path / "inbox"), key), trusted)
    (tmp_path / "data" / "heima.db").write_bytes(b"")  # the patient's store
    message = refusal_after_enrolment(tmp_path, signed(payload(tmp_path / "inbox", patient=OTHER_PATIENT), key), trusted)
    assert "another patient's data" in message and "heima return" in message
    assert load_config(tmp_path / "etc" / "heima.toml").patient.identifier == PATIENT  # untouched
    renewed = payload(tmp_path / "inbox", language="en", profile_id="profile-renewed")
    do_enrol(tmp_path, signed(renewed, key), trusted)
    assert json.loads((tmp_path / "data" / "enrolment.json").read_text())["profile_id"] == "profile-renewed"


def refusal_after_enrolment(tmp_path: Path, blob: bytes, trusted) -> str:  # noqa: ANN001
    with pytest.raises(ProfileRefused) as refused:
        do_enrol(tmp_path, blob, trusted)
    assert PATIENT not in str(refused.value) and OTHER_PATIENT not in str(refused.value)
    return str(refused.value)


def test_profile_from_a_usb_folder_and_from_a_qr_code(tmp_path: Path, centre) -> None:  # noqa: ANN001
    key, trusted = centre
    blob = signed(payload(tmp_path / "inbox"), key)
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "heima-enrolment.json").write_bytes(blob)
    assert read_source(stick) == blob
    text = encode_qr(blob)
    assert text.startswith("HEIMA1:") and len(text) < 2953  # fits a version-40 QR code (binary)
    assert decode_qr(text) == blob
    check_profile(verify_envelope(decode_qr(text), trusted), hub_id=HUB_ID, now=NOW)


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_qr_text_is_a_profile_or_a_clear_refusal(text: str) -> None:
    try:
        decode_qr(text)
    except ProfileRefused:
        pass


@settings(max_examples=200)
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_a_verified_profile_or_a_clear_refusal(blob: bytes) -> None:
    try:
        verify_envelope(blob, {})
    except ProfileRefused:
        pass


def test_the_cli_enrols_and_a_returned_hub_says_not_enrolled(tmp_path: Path, centre, monkeypatch, capsys) -> None:  # noqa: ANN001
    from hub.cli import main

    key, _trusted = centre
    etc = tmp_path / "etc"
    etc.mkdir()
    write_trusted(etc / "enrolment-keys.json", key)
    (etc / "hub-id").write_text(HUB_ID + "\n")
    profile = tmp_path / "profile.json"
    data = payload(tmp_path / "inbox")
    import datetime as dt

    # The CLI reads the wall clock: a profile valid around it (its content is not compared with a date).
    now = dt.datetime.now(dt.UTC)
    data.update(issued_at=(now - timedelta(hours=1)).isoformat(), expires_at=(now + timedelta(days=1)).isoformat())
    profile.write_bytes(signed(data, key))
    config = etc / "heima.toml"
    assert main(["--config", str(config), "status"]) == 2
    assert "not enrolled" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(PIN + "\n"))
    assert main(["--config", str(config), "--data-dir", str(tmp_path / "data"), "enrol", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "Enrolled hub HEIMA-0042" in out and PATIENT not in out
    assert load_config(config).patient.identifier == PATIENT
