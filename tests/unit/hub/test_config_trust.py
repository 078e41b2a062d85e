"""What may leave the hub: the configuration refuses a URL that would send in clear text to
another machine or carries credentials, unknown keys and wrong types, and a care provider's
server without a valid patient — naming the setting, never echoing the value."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import ConfigError, HubConfig, load_config, parse_config
from hub.domain.endpoints import is_loopback_host, url_problem

FNR = "13116900216"  # a valid fødselsnummer (check digits right); not a real person's in any test
PATIENT = {"identifier": FNR}

REFUSED_URLS = [
    "http://127.0.0.1:@fhir.kommune.example/R4",  # looks loopback by prefix, sends to the remote host
    "http://localhost:@fhir.kommune.example/R4",
    "http://fhir.kommune.example/R4",  # clear text over the network, even without credentials
    "http://localhost.kommune.example/R4",
    "http://127.0.0.1.nip.example/R4",
    "http://[::2]/R4",
    "http://10.0.0.5/R4",
    "https://hub:s3cret-pw@fhir.kommune.example/R4",  # credentials belong in [destinations.auth]
    "https://@fhir.kommune.example/R4",
    "https://fhir.kommune.example:99999/R4",
    "https://fhir.kommune.example/R4#s3cret-pw",
    "https://fhir.kommune.example/R4?token=s3cret-pw",
    "https://fhir.kommune.example\\@127.0.0.1/R4",
    "https://fhir.kommune.example/R4\n",
    "ftp://fhir.kommune.example/R4",
    "https:///R4",
    "fhir.kommune.example/R4",
]
ACCEPTED_URLS = [
    "https://fhir.kommune.example/R4",
    "https://fhir.kommune.example:8443/fhir/R4/",
    "http://127.0.0.1:8080/R4",
    "http://127.3.4.5/R4",
    "http://[::1]:8080/R4",
    "http://localhost:8103/fhir/R4",
    "http://LOCALHOST/fhir",
]


def _fhir(url: str, **extra) -> dict:
    return {"patient": PATIENT, "destinations": [{"name": "kommune", "kind": "fhir", "url": url, **extra}]}


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_destination_url_that_leaves_the_machine_in_clear_or_carries_credentials_is_refused(url):
    with pytest.raises(ConfigError) as err:
        parse_config(_fhir(url), base_dir=Path("/tmp"))
    assert "destinations[0].url" in str(err.value)
    assert "s3cret-pw" not in str(err.value) and "kommune.example" not in str(err.value)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_the_same_urls_are_refused_for_centre(url):
    with pytest.raises(ConfigError, match="--centre") as err:
        HubConfig().with_centre(url)
    assert "s3cret-pw" not in str(err.value)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_the_same_urls_are_refused_as_a_token_endpoint(tmp_path, url):
    (tmp_path / "client.jwk").write_text("{}")
    auth = {"kind": "private-key-jwt", "token_url": url, "client_id": "hub-42", "key_file": "client.jwk"}
    with pytest.raises(ConfigError, match=r"destinations\[0\]\.auth\.token_url") as err:
        parse_config(_fhir("https://fhir.kommune.example/R4", auth=auth), base_dir=tmp_path)
    assert "s3cret-pw" not in str(err.value)


@pytest.mark.parametrize("url", ACCEPTED_URLS)
def test_https_anywhere_and_plain_http_to_this_machine_are_accepted(url):
    [dest] = parse_config(_fhir(url), base_dir=Path("/tmp")).destinations
    assert dest.url == url.rstrip("/")
    assert HubConfig().with_centre(url).destinations[0].url == url.rstrip("/")


def test_loopback_means_this_machine_only():
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.255.0.9", "::1", "[::1]", "localhost", "LocalHost"))
    assert not any(is_loopback_host(h) for h in ("128.0.0.1", "::2", "localhost.example", "0.0.0.0", "10.0.0.1"))


_URL_TEXT = st.text(alphabet="abcl0127.:@[]/?#%-_~!$&'()*+,;=\\ ", max_size=40)


@given(_URL_TEXT, st.sampled_from(["http://", "https://", "HTTP://"]))
def test_whatever_the_rule_accepts_an_http_client_sends_to_the_host_the_rule_saw(rest, scheme):
    """The rule and httpx (which does the sending) agree on where a URL goes: an accepted plain
    http URL reaches a loopback host, and no accepted URL carries a user name or password."""
    url = scheme + rest
    if url_problem(url) is not None:
        return
    sent_to = httpx.URL(url)
    assert not sent_to.userinfo
    if sent_to.scheme == "http":
        assert is_loopback_host(sent_to.host)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:", min_size=0, max_size=20))
def test_any_user_info_is_refused(userinfo):
    assert url_problem(f"https://{userinfo}@fhir.kommune.example/R4") is not None
    assert url_problem(f"http://{userinfo}@127.0.0.1/R4") is not None


# -- unknown keys and wrong types ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        ({"patient": {"identifer": FNR}}, r"patient: unknown setting\(s\) \['identifer'\]"),
        ({"hub": {"data-dir": "/var/lib/heima"}}, r"hub: unknown setting\(s\) \['data-dir'\]"),
        ({"hub": {"serial": "HUB-1", "timezon": "Europe/Oslo"}}, r"hub: unknown setting\(s\) \['timezon'\]"),
        (_fhir("https://fhir.kommune.example/R4", batch_size=True), r"destinations\[0\]\.batch_size: must be a whole number"),
        ({"hub": {"serial": 42}}, r"hub\.serial: must be a string"),
        ({"hub": {"data_dir": ""}}, r"hub\.data_dir: must not be empty"),
        ({"hub": "heima"}, r"config\.hub: must be a table"),
        ({"destinations": {"name": "x"}}, r"config\.destinations: must be a list"),
        ({"patient": {"identifier": FNR, "display": True}}, r"patient\.display: must be a string"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused_in_every_section(data, words):
    with pytest.raises(ConfigError, match=words) as err:
        parse_config(data, base_dir=Path("/tmp"))
    assert FNR not in str(err.value)


def test_config_pointing_at_a_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_config_file_is_a_configuration_error(tmp_path):
    path = tmp_path / "heima.toml"
    path.write_text("[hub]\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(path)


# -- the patient a care provider's server files the data under ---------------------------------------

DNR = "53116900048"  # a D-number: the day + 40, check digits computed
SYNTHETIC = "13916900281"  # month + 80: Skatteetaten's synthetic test numbers


@pytest.mark.parametrize("kind", ["fhir", "nhn-pmd"])
def test_a_care_providers_server_needs_the_patient(kind):
    dest = {"name": "kommune", "kind": kind, "url": "https://fhir.kommune.example/R4"}
    if kind == "nhn-pmd":
        dest |= {"kommunenummer": "0301", "organisation": {"identifier": "974633574"}}
    with pytest.raises(ConfigError, match=r"destinations\[0\].*needs patient|needs the patient"):
        parse_config({"destinations": [dest]}, base_dir=Path("/tmp"))


def test_a_misspelt_patient_key_is_not_silently_a_hub_without_a_patient():
    data = _fhir("https://fhir.kommune.example/R4")
    data["patient"] = {"identifer": FNR}
    with pytest.raises(ConfigError, match="identifer") as err:
        parse_config(data, base_dir=Path("/tmp"))
    assert FNR not in str(err.value)


def test_a_folder_alone_needs_no_patient():
    config = parse_config({"destinations": [{"name": "usb", "kind": "directory", "path": "/media/usb"}]})
    assert config.patient.identifier is None


@pytest.mark.parametrize(
    "patient, words",
    [
        ({"identifier": "13116900217"}, "patient.identifier: not a valid fødselsnummer: the check digits do not match"),
        ({"identifier": "1311690021"}, "patient.identifier: not a valid fødselsnummer: must be exactly 11 digits"),
        ({"identifier": "13136900216"}, "date of birth"),
        ({"identifier": DNR}, "this is a D-number, not a fødselsnummer; set patient.identifier_system"),
        ({"identifier": FNR, "identifier_system": "urn:oid:2.16.578.1.12.4.1.4.2"}, "this is a fødselsnummer, not a D-number"),
        ({"identifier": "  "}, "patient.identifier: must not be empty"),
    ],
)
def test_a_wrong_national_id_is_refused_without_echoing_it(patient, words):
    with pytest.raises(ConfigError, match=words) as err:
        parse_config(_fhir("https://fhir.kommune.example/R4") | {"patient": patient}, base_dir=Path("/tmp"))
    assert patient["identifier"].strip() not in str(err.value) or not patient["identifier"].strip()


@pytest.mark.parametrize(
    "patient",
    [
        {"identifier": FNR},
        {"identifier": DNR, "identifier_system": "urn:oid:2.16.578.1.12.4.1.4.2"},
        {"identifier": SYNTHETIC},
        {"identifier": "PAS-00042", "identifier_system": "urn:oid:2.16.578.1.12.4.1.2.99999"},  # the centre's own
    ],
)
def test_valid_and_synthetic_numbers_and_a_centres_own_identifier_are_accepted(patient):
    config = parse_config(_fhir("https://fhir.kommune.example/R4") | {"patient": patient}, base_dir=Path("/tmp"))
    assert config.patient.identifier == patient["identifier"]
