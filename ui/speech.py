"""Read-aloud: a platform adapter behind a small port.

Linux: espeak-ng in an async subprocess (one utterance at a time; a new one stops the old). A
language without a voice falls back *visibly*: `voice_for()` says which voice is used and whether
it is a fallback, and the app shows that note (nynorsk is read with the bokmål voice). Android
TextToSpeech is a later adapter with the same two methods. Nothing spoken is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

# Preferred espeak-ng voices per app language, best first.
VOICE_CANDIDATES = {"nb": ("nb", "no"), "nn": ("nn", "nb", "no"), "en": ("en-gb", "en")}
FALLBACK_LANGUAGE = {"nn": "nb"}


@dataclass(frozen=True, slots=True)
class Voice:
    language: str  # what the app asked for
    voice: str | None  # the voice used; None: no voice at all, read-aloud cannot work
    fallback: bool  # True when the voice is of another language (shown to the patient)


class Speaker(Protocol):
    def voice_for(self, language: str) -> Voice: ...

    async def say(self, text: str, language: str) -> bool:
        """Speak `text`; True when it was spoken to the end (False: stopped, failed, no voice)."""
        ...

    def stop(self) -> None: ...


def _parse_voices(listing: str) -> set[str]:
    voices: set[str] = set()
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            voices.add(parts[1].lower())
    return voices


class EspeakSpeaker:
    """espeak-ng through `asyncio.create_subprocess_exec`; `wav_dir` writes files instead of
    playing (tests, machines without sound)."""

    def __init__(self, *, executable: str | None = None, rate: int = 135, wav_dir: str | None = None) -> None:
        self.executable = executable or shutil.which("espeak-ng")
        self.rate = rate  # words per minute: slower than espeak's 175, for older listeners
        self.wav_dir = wav_dir
        self._voices: set[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self.spoken = 0

    @property
    def available(self) -> bool:
        return self.executable is not None

    async def load_voices(self) -> set[str]:
        if self._voices is None:
            self._voices = set()
            if self.executable:
                proc = await asyncio.create_subprocess_exec(
                    self.executable, "--voices", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
                )
                out, _ = await proc.communicate()
                self._voices = _parse_voices(out.decode("utf-8", "replace"))
        return self._voices

    def voice_for(self, language: str) -> Voice:
        voices = self._voices if self._voices is not None else set()
        for candidate in VOICE_CANDIDATES.get(language, (language,)):
            if candidate in voices:
                own = candidate == language or candidate.split("-")[0] == language
                return Voice(language, candidate, fallback=not own)
        return Voice(language, None, fallback=True)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # only the espeak-ng this adapter started

    async def say(self, text: str, language: str) -> bool:
        await self.load_voices()
        voice = self.voice_for(language)
        if voice.voice is None or not self.executable:
            return False
        self.stop()
        args = [self.executable, "-v", voice.voice, "-s", str(self.rate)]
        if self.wav_dir:
            self.spoken += 1
            args += ["-w", f"{self.wav_dir}/speech-{self.spoken}.wav"]
        args += ["--", text]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        self._proc = proc
        _, err = await proc.communicate()
        if self._proc is proc:
            self._proc = None
        if proc.returncode != 0:
            log.warning("espeak-ng ended with status %s", proc.returncode)  # never the text
            return False
        return True


@dataclass
class RecordingSpeaker:
    """Keeps what it was asked to say (tests, the gallery); `voices` as a Linux box has them."""

    voices: set[str] = field(default_factory=lambda: {"nb", "en-gb"})
    said: list[tuple[str, str]] = field(default_factory=list)

    def voice_for(self, language: str) -> Voice:
        for candidate in VOICE_CANDIDATES.get(language, (language,)):
            if candidate in self.voices:
                return Voice(language, candidate, fallback=candidate.split("-")[0] != language)
        return Voice(language, None, fallback=True)

    async def say(self, text: str, language: str) -> bool:
        voice = self.voice_for(language)
        if voice.voice is None:
            return False
        self.said.append((voice.voice, text))
        return True

    def stop(self) -> None:
        pass
