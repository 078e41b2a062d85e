"""A scale with the User Data Service over the virtual radio: the consent code is asked through
the provider, written to the User Control Point, and only a right code lets readings through."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from drivers.devices import default_registry
from drivers.emulator import VirtualRadio
from drivers.emulator.scales import EmulatedWeightScale
from drivers.link import LinkManager
from drivers.pairing import FixedPasskeyProvider, PasskeyProvider, RefusingPasskeyProvider
from hub.domain.readings import MeasurementKind
from tests.emulated import FAST_LINK, CollectingSink, EventLog

ADVICE = (
    "The scale asked for its 4-digit consent code for user 1 and it was not accepted. "
    "Find the code in the scale's settings or manual and enter it again."
)


async def session(scale: EmulatedWeightScale, provider: PasskeyProvider) -> tuple[CollectingSink, EventLog]:
    sink, events = CollectingSink(), EventLog()
    async with VirtualRadio() as radio:
        await radio.add(scale)
        link = LinkManager(
            default_registry(),
            scanner_backend=radio.scanner_backend,
            client_backend=radio.client_backend,
            passkey_provider=provider,
            on_event=events,
            **FAST_LINK,
        )
        await link.read_once(sink, timeout=10)
    return sink, events


def uds_scale(**options: Any) -> EmulatedWeightScale:
    scale = EmulatedWeightScale(user_data_service=True, consent_code=1234, user_index=1, user=1, **options)
    scale.record_weighing(72.35)
    return scale


def consent_failures(events: EventLog) -> list[dict[str, Any]]:
    return [details for name, details in events.events if name == "consent-failed"]


async def test_the_right_consent_code_lets_the_weight_through(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scale = uds_scale()
    provider = FixedPasskeyProvider(123456, consent_code=1234)
    sink, events = await session(scale, provider)
    assert [(r.kind, r.value) for r in sink.readings] == [(MeasurementKind.BODY_WEIGHT, 72.35)]
    assert scale.consents == [True]
    assert provider.asked == [scale.name]
    assert ("pairing-needed" in events.names()) and not consent_failures(events)
    assert "1234" not in caplog.text


async def test_a_wrong_code_gives_no_reading_and_advice(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scale = uds_scale()
    sink, events = await session(scale, FixedPasskeyProvider(123456, consent_code=4321))
    assert sink.readings == []
    assert scale.consents == [False]
    assert scale.indicated == [] and len(scale.records) == 1  # kept for the right user
    [failure] = consent_failures(events)
    assert failure["advice"] == ADVICE and failure["user_index"] == 1
    assert "4321" not in caplog.text and "4321" not in str(events.events)


async def test_a_cancelled_question_gives_no_reading_and_advice() -> None:
    scale = uds_scale()
    sink, events = await session(scale, RefusingPasskeyProvider())
    assert sink.readings == []
    assert scale.consents == [] and scale.indicated == []
    [failure] = consent_failures(events)
    assert failure["advice"] == ADVICE


async def test_consent_lasts_one_connection() -> None:
    scale = uds_scale()
    await session(scale, FixedPasskeyProvider(123456, consent_code=1234))
    scale.record_weighing(73.0)
    sink, events = await session(scale, FixedPasskeyProvider(123456, consent_code=1))
    assert sink.readings == [] and scale.consents == [True, False]
    assert consent_failures(events)


async def test_a_scale_without_the_user_data_service_is_not_asked() -> None:
    scale = EmulatedWeightScale()
    scale.record_weighing(80.0)
    provider = FixedPasskeyProvider(123456, consent_code=None)
    sink, events = await session(scale, provider)
    assert [r.value for r in sink.readings] == [80.0]
    assert provider.asked == [] and not consent_failures(events)
