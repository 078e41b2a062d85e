"""A continuous oximetry recording through the real stack: the emulated oximeter streams PLX
Continuous Measurements over the Bumble radio, the hub records them as chunks and a summary, and
the reference FHIR server (Medplum) holds one SampledData Observation per chunk and kind.

Time is compressed for the test, not faked: the stream runs at 5 Hz and the hub's recorder is
configured with 20 ms slots and 1-second chunks, so a few seconds of streaming give several
chunks. Everything else (notifications, parsing, commits, delivery) is what runs all night.
"""

from __future__ import annotations

import asyncio

from drivers.devices import default_registry
from drivers.gatt.ieee11073 import SpecialValue
from drivers.gatt.plx import PlxContinuous
from hub.app import start_hub
from hub.config import DestinationConfig, HubConfig, OximetryConfig
from tests.emulated import emulated_oximeter

SENT = [90 + i % 10 for i in range(20)]  # SpO2 values the device streams, in order


async def test_a_streamed_recording_reaches_the_centre_as_sampled_data_chunks_and_a_summary(tmp_path, fhir_server):
    config = HubConfig(
        data_dir=tmp_path / "hub",
        destinations=(DestinationConfig(name="centre", kind="fhir", url=fhir_server.base_url),),
        oximetry=OximetryConfig(record_continuous=True, chunk_minutes=1 / 60, period_seconds=0.02),
    )
    hub = await start_hub(config)
    try:
        stream = [PlxContinuous(spo2=v, pulse_rate=60 + i) for i, v in enumerate(SENT)]
        stream.insert(10, PlxContinuous(spo2=SpecialValue.NAN, pulse_rate=SpecialValue.NAN))  # finger out once
        async with emulated_oximeter() as rig:

            async def patient_wears_it():
                await rig.oximeter.wait_until(lambda: bool(rig.oximeter.continuous_subscribers))
                rig.oximeter.start_continuous(stream, rate_hz=5)

            asyncio.get_running_loop().create_task(patient_wears_it())
            registry = default_registry(record_continuous_oximetry=True)
            # max_session far shorter than the stream: a recording is not cut by it
            await rig.link_manager(registry, max_session=1.0, settle=1.0).read_once(hub.record, timeout=30)
        await hub.deliver_now()

        observations = fhir_server.observations()
        spo2_chunks = sorted(
            (o for o in observations if "valueSampledData" in o and o["valueSampledData"]["origin"]["code"] == "%"),
            key=lambda o: o["effectivePeriod"]["start"],
        )
        pulse_chunks = [o for o in observations if "valueSampledData" in o and o["valueSampledData"]["origin"]["code"] == "/min"]
        assert len(spo2_chunks) >= 3 and len(pulse_chunks) == len(spo2_chunks)
        values = [w for o in spo2_chunks for w in o["valueSampledData"]["data"].split() if w != "E"]
        assert values == [str(v) for v in SENT]  # every value once, in order; the NaN one is no value
        assert all(o["valueSampledData"]["period"] == 20 for o in spo2_chunks)

        [summary] = [o for o in observations if o["code"]["coding"][0]["code"] == "summary"]
        figures = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in summary["component"]}
        assert figures["spo2-lowest"] == 90
        assert figures["spo2-mean"] == round(sum(SENT) / len(SENT), 1)
        assert summary["effectivePeriod"]["start"] <= spo2_chunks[0]["effectivePeriod"]["start"]
        # the patient's own list shows the night's summary, not its chunks
        assert [m.reading.kind.value for m in await hub.store.measurements()] == ["oximetry-summary"]
    finally:
        await hub.stop()
