"""Record continuous oximetry: points in, chunks and a summary out, each committed like any reading.

The link hands every `OximetryPoint` of a stream (and a `StreamEnded` when the session ends) to
`ContinuousOximetryService.add`. A completed chunk (10 minutes by default) becomes two
measurements — the SpO2 series and the pulse-rate series — written through the
`MeasurementService`, so they get a UUID, a time on the hub's timeline and one outbox row per
destination in one transaction, like a spot reading. When the stream ends, the open chunk and
the recording's summary are written.

What a crash costs: the chunk still open (at most `chunk` seconds of samples) lives in memory
only; every chunk before it is committed. A 10-minute chunk keeps a night to ~50 commits per
kind instead of 28,800, and a power cut to at most 10 lost minutes of that night.
"""

from __future__ import annotations

import asyncio
import logging

from hub.domain.oximetry import OximetryPoint, OximetryRecorder, SampledSeries, StreamEnded, series_readings, summary_reading
from hub.domain.readings import DeviceIdentity
from hub.services.events import EventBus, OximetryRecording
from hub.services.measurements import MeasurementService

log = logging.getLogger(__name__)


class ContinuousOximetryService:
    """One recorder per device; see the module docstring."""

    def __init__(
        self,
        measurements: MeasurementService,
        *,
        period: float = 1.0,
        chunk: float = 600.0,
        events: EventBus | None = None,
    ) -> None:
        self.measurements = measurements
        self.period = period
        self.chunk = chunk
        self.events = events or measurements.events
        self._recorders: dict[str, OximetryRecorder] = {}
        self.chunks_recorded = 0
        self.summaries_recorded = 0

    @staticmethod
    def _key(device: DeviceIdentity | None) -> str:
        return device.stable_id if device is not None else "-"

    async def add(self, item: OximetryPoint | StreamEnded) -> None:
        """One point of a stream, or the end of one. Returns once whatever it completed is committed."""
        key = self._key(item.device)
        if isinstance(item, StreamEnded):
            await self.end(key)
            return
        recorder = self._recorders.get(key)
        if recorder is None:
            recorder = self._recorders[key] = OximetryRecorder(period=self.period, chunk=self.chunk)
            log.info("continuous oximetry recording started")
            self.events.publish(OximetryRecording("started"))
        for spo2, pulse in recorder.add(item):
            await self._write_chunk(spo2, pulse, recorder.device)

    async def end(self, key: str | None = None) -> None:
        """Close the recording of one device (or all): the open chunk, then the summary."""
        keys = list(self._recorders) if key is None else [key]
        for k in keys:
            recorder = self._recorders.pop(k, None)
            if recorder is None:
                continue
            last, summary = recorder.close()
            for spo2, pulse in last:
                await self._write_chunk(spo2, pulse, recorder.device)
            if summary is not None:
                await self.measurements.record_reading(summary_reading(summary, device=recorder.device), announce=False)
                self.summaries_recorded += 1
            log.info("continuous oximetry recording ended: %d points", recorder.points)
            self.events.publish(OximetryRecording("ended", summary=summary is not None))

    async def _write_chunk(self, spo2: SampledSeries, pulse: SampledSeries, device: DeviceIdentity | None) -> None:
        # both series in one group commit
        await asyncio.gather(
            *(self.measurements.record_reading(r, announce=False) for r in series_readings(spo2, pulse, device=device))
        )
        self.chunks_recorded += 1
        self.events.publish(OximetryRecording("chunk", chunks=self.chunks_recorded))

    @property
    def recording(self) -> bool:
        return bool(self._recorders)
