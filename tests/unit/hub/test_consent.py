"""Consent and routing per destination: the patient's say over where the data goes, and the
`receives`/`consent` configuration keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.config import ConfigError, DestinationConfig, parse_config
from hub.services.consent import NOT_CONFIGURED, ConsentService, ConsentState, UnknownDestination
from hub.services.events import ConsentChanged, EventBus
from hub.services.measurements import MeasurementService
from hub.store import Store
from tests.unit.hub.factories import measurement, spo2

T = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def dests(*specs: tuple[str, tuple[str, ...], str]) -> list[DestinationConfig]:
    return [DestinationConfig(name=n, kind="fhir", url=f"https://{n}.example/R4", receives=r, consent=c) for n, r, c in specs]


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "heima.db")
    yield s
    await s.close()


async def _service(store, configs, events=None) -> ConsentService:
    svc = ConsentService(store, configs, events=events, clock=lambda: T)
    await svc.load()
    return svc


async def test_routing_follows_receives_and_consent(store):
    svc = await _service(
        store,
        dests(
            ("kommune", ("vital-signs", "alerts"), "given"),
            ("fastlege", ("questionnaire-responses",), "given"),
            ("sykehus", ("vital-signs",), "not-given"),
        ),
    )
    from hub.domain.readings import MeasurementKind

    assert svc.destinations_for(MeasurementKind.OXYGEN_SATURATION) == ("kommune",)
    await svc.give("sykehus")
    assert svc.destinations_for(MeasurementKind.PULSE_RATE) == ("kommune", "sykehus")


async def test_continuous_oximetry_goes_to_fhir_destinations_and_not_to_pasientens_maledata(store):
    from hub.domain.readings import MeasurementKind

    pmd = DestinationConfig(name="pmd", kind="nhn-pmd", url="https://pmd.example/fhir", kommunenummer="0301")
    svc = await _service(store, [*dests(("kommune", ("vital-signs",), "given")), pmd])
    assert svc.destinations_for(MeasurementKind.OXYGEN_SATURATION) == ("kommune", "pmd")
    for kind in ("oxygen-saturation-series", "pulse-rate-series", "oximetry-summary"):
        assert svc.destinations_for(MeasurementKind(kind)) == ("kommune",)


async def test_withdrawal_stops_new_rows_and_sets_queued_ones_aside_visibly(store):
    events = EventBus()
    seen = []
    events.subscribe(lambda e: seen.append(e))
    svc = await _service(store, dests(("kommune", ("vital-signs",), "given"), ("sykehus", ("vital-signs",), "given")), events)
    sent, queued = measurement(spo2(97)), measurement(spo2(96), minutes=1)
    await store.record(sent, ["kommune", "sykehus"])
    await store.mark_delivered("sykehus", [str(sent.id)])
    await store.record(queued, ["kommune", "sykehus"])

    assert await svc.withdraw("sykehus") == 1
    assert {s.destination: s.state for s in await store.delivery_states(str(sent.id))} == {"kommune": "pending", "sykehus": "delivered"}  # sent stays sent
    states = {s.destination: s for s in await store.delivery_states(str(queued.id))}
    assert states["sykehus"].state == "withdrawn" and "consent withdrawn" in states["sykehus"].last_error
    assert await store.due("sykehus", limit=10, now=datetime.now(UTC)) == []  # never sent

    # a reading routed before the withdrawal but committed after it is not queued there either
    late = measurement(spo2(95), minutes=2)
    await store.record(late, ["kommune", "sykehus"])
    assert [s.destination for s in await store.delivery_states(str(late.id))] == ["kommune"]

    views = {v.name: v for v in await svc.destinations()}
    assert views["sykehus"].consent is ConsentState.WITHDRAWN and views["sykehus"].changed_by_patient
    assert (views["sykehus"].delivered, views["sykehus"].waiting, views["sykehus"].withdrawn) == (1, 0, 1)
    assert views["kommune"].consent is ConsentState.GIVEN and not views["kommune"].changed_by_patient
    assert views["kommune"].where == "kommune.example" and views["kommune"].receives == ("vital-signs",)
    assert seen[-1] == ConsentChanged("sykehus", "withdrawn", 1)

    # consent given again: new data goes; what was set aside stays aside
    await svc.give("sykehus")
    again = measurement(spo2(94), minutes=3)
    await store.record(again, ["kommune", "sykehus"])
    assert len(await store.delivery_states(str(again.id))) == 2
    assert {s.destination: s.state for s in await store.delivery_states(str(queued.id))}["sykehus"] == "withdrawn"


async def test_a_batch_in_flight_at_withdrawal_is_recorded_as_sent(store):
    svc = await _service(store, dests(("sykehus", ("vital-signs",), "given")))
    m = measurement(spo2(97))
    await store.record(m, ["sykehus"])
    [due] = await store.due("sykehus", limit=10, now=datetime.now(UTC))  # the worker has it on the wire...
    await svc.withdraw("sykehus")  # ...when the patient withdraws
    await store.mark_delivered("sykehus", [str(due.id)])  # the server took it
    [state] = await store.delivery_states(str(m.id))
    assert state.state == "delivered"  # the truth: it was sent


async def test_the_patients_choice_survives_a_restart_and_config_defaults_apply_once(store):
    configs = dests(("kommune", ("vital-signs",), "given"), ("sykehus", ("vital-signs",), "not-given"))
    svc = await _service(store, configs)
    await svc.withdraw("kommune")
    await svc.give("sykehus")
    again = await _service(store, configs)  # a restart: the configuration's defaults do not undo her choices
    from hub.domain.readings import MeasurementKind

    assert again.destinations_for(MeasurementKind.OXYGEN_SATURATION) == ("sykehus",)
    views = {v.name: v.consent for v in await again.destinations()}
    assert views == {"kommune": ConsentState.WITHDRAWN, "sykehus": ConsentState.GIVEN}


async def test_a_destination_removed_from_config_keeps_its_rows_reported_and_unsent(store, caplog):
    first = await _service(store, dests(("kommune", ("vital-signs",), "given"), ("gammel", ("vital-signs",), "given")))
    m = measurement(spo2(97))
    await store.record(m, ["kommune", "gammel"])
    del first
    caplog.set_level("WARNING")
    svc = await _service(store, dests(("kommune", ("vital-signs",), "given")))
    assert "gammel" in caplog.text and "no longer configured" in caplog.text
    assert "13116900216" not in caplog.text
    views = {v.name: v for v in await svc.destinations()}
    assert not views["gammel"].configured and views["gammel"].waiting == 1 and views["gammel"].note == NOT_CONFIGURED
    from hub.domain.readings import MeasurementKind

    assert svc.destinations_for(MeasurementKind.OXYGEN_SATURATION) == ("kommune",)  # never sent elsewhere
    assert await svc.withdraw("gammel") == 1  # the patient may still withdraw what waits there
    with pytest.raises(UnknownDestination):
        await svc.withdraw("nowhere")
    with pytest.raises(UnknownDestination):
        await svc.give("gammel")  # cannot give consent to what is not configured


async def test_the_measurement_service_queues_only_where_consent_allows(store):
    svc = await _service(store, dests(("kommune", ("vital-signs",), "given"), ("sykehus", ("vital-signs",), "given")))
    service = MeasurementService(store, destinations_for=svc.destinations_for, local_zone=ZoneInfo("Europe/Oslo"))
    await svc.withdraw("sykehus")
    outcome = await service.record_reading(spo2(98))
    assert [s.destination for s in await store.delivery_states(str(outcome.measurement.id))] == ["kommune"]


# -- configuration ---------------------------------------------------------------------------------


def test_receives_and_consent_are_read_with_defaults(tmp_path):
    config = parse_config(
        {
            "patient": {"identifier": "13116900216"},
            "organisation": {"identifier": "974633574"},
            "destinations": [
                {"name": "kommune", "kind": "fhir", "url": "https://k.example/R4"},
                {"name": "lege", "kind": "fhir", "url": "https://l.example/R4", "receives": ["questionnaire-responses"], "consent": "not-given"},
                {"name": "pmd", "kind": "nhn-pmd", "url": "https://pmd.example/fhir", "kommunenummer": "0301", "timeout": 10},
            ],
        },
        base_dir=tmp_path,
    )
    kommune, lege, pmd = config.destinations
    assert kommune.receives == ("vital-signs", "questionnaire-responses", "alerts") and kommune.consent == "given"
    assert lege.receives == ("questionnaire-responses",) and lege.consent == "not-given"
    assert pmd.receives == ("vital-signs", "questionnaire-responses") and pmd.batch_size == 50 and pmd.timeout == 10.0  # a questionnaire's scores
    assert config.organisation.identifier == "974633574"


PMD = {"name": "pmd", "kind": "nhn-pmd", "url": "https://pmd.example/fhir", "kommunenummer": "0301"}


@pytest.mark.parametrize(
    "data, setting",
    [
        ({"destinations": [{"name": "k", "kind": "fhir", "url": "https://k.example", "receives": ["everything"]}]}, "destinations[0].receives"),
        ({"destinations": [{"name": "k", "kind": "fhir", "url": "https://k.example", "consent": "maybe"}]}, "destinations[0].consent"),
        ({"destinations": [{"name": "k", "kind": "fhir", "url": "https://k.example", "timeout": 0}]}, "destinations[0].timeout"),
        ({"destinations": [{"name": "k", "kind": "fhir", "url": "https://k.example", "kommunenummer": "0301"}]}, "destinations[0].kommunenummer"),
        ({"patient": {"identifier": "13116900216"}, "organisation": {"identifier": "974633574"}, "destinations": [{**PMD, "kommunenummer": 301}]}, "destinations[0].kommunenummer"),
        ({"patient": {"identifier": "13116900216"}, "organisation": {"identifier": "974633574"}, "destinations": [{**PMD, "receives": ["alerts"]}]}, "destinations[0].receives"),
        ({"patient": {"identifier": "13116900216"}, "organisation": {"identifier": "974633574"}, "destinations": [{**PMD, "bundle": "transaction"}]}, "destinations[0].bundle"),
        ({"patient": {"identifier": "13116900216"}, "destinations": [PMD]}, "destinations[0].organisation"),
        ({"destinations": [PMD], "organisation": {"identifier": "974633574"}}, "destinations[0]: Pasientens måledata needs patient.identifier"),
        ({"organisation": {"identifier": "97463357"}}, "organisation.identifier"),
        ({"organisation": {"identifier": "974633574", "system": "hpr"}}, "organisation.system"),
        ({"patient": {"identifier": "13116900216"}, "organisation": {"identifier": "974633574"}, "destinations": [{**PMD, "batch_size": 500}]}, "destinations[0].batch_size"),
    ],
)
def test_bad_routing_settings_are_named_not_echoed(data, setting):
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=Path("/tmp"))
    assert setting in str(info.value)
    assert "13116900216" not in str(info.value)
