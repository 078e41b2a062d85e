"""Where a submitted questionnaire goes: to the destinations that receive questionnaire responses
and have the patient's consent — the response and its scores to a FHIR server, the scores alone
to Pasientens måledata — and nowhere that receives only vital signs."""

from __future__ import annotations

from hub.config import DestinationConfig, parse_config
from hub.domain.outgoing import OutgoingKind
from hub.services.consent import ConsentService
from hub.store import Store

QR, SCORE = OutgoingKind.QUESTIONNAIRE_RESPONSE, OutgoingKind.SCORE


async def test_a_questionnaire_goes_where_questionnaire_responses_are_received(tmp_path):
    config = parse_config({
        "hub": {"data_dir": str(tmp_path)},
        "patient": {"identifier": "13116900216"},
        "organisation": {"identifier": "974633574", "system": "org"},
        "destinations": [
            {"name": "kommune", "kind": "fhir", "url": "https://k.example/R4", "receives": ["vital-signs"]},
            {"name": "fastlege", "kind": "fhir", "url": "https://f.example/R4", "receives": ["questionnaire-responses"]},
            {"name": "sykehus", "kind": "fhir", "url": "https://s.example/R4", "consent": "not-given"},
            {"name": "pmd", "kind": "nhn-pmd", "url": "https://pmd.example/fhir", "kommunenummer": "0301"},
        ],
    })
    store = await Store.open(tmp_path / "heima.db")
    try:
        consent = ConsentService(store, config.effective_destinations())
        await consent.load()
        assert consent.destinations_for_resource(QR) == ("fastlege",)
        assert consent.destinations_for_resource(SCORE) == ("fastlege", "pmd")
        await consent.give("sykehus")
        assert consent.destinations_for_resource(QR) == ("fastlege", "sykehus")
        assert consent.destinations_for_resource(OutgoingKind.DEVICE) == ("kommune", "sykehus")
    finally:
        await store.close()
    assert isinstance(config.effective_destinations()[0], DestinationConfig)
