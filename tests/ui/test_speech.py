"""Read-aloud through espeak-ng: a real subprocess writing speech to a file; nynorsk falls back
to the bokmål voice, and says so."""

from __future__ import annotations

import shutil
import wave

import pytest

from ui.speech import EspeakSpeaker, RecordingSpeaker, _parse_voices

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (scripts/setup.sh installs it)")


@needs_espeak
async def test_espeak_speaks_norwegian_into_a_file(tmp_path):
    speaker = EspeakSpeaker(wav_dir=str(tmp_path))
    assert await speaker.say("Oksygen: 97 prosent. Sendt.", "nb")
    [wav] = list(tmp_path.glob("*.wav"))
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() > 1.0  # a second or more of speech


@needs_espeak
async def test_nynorsk_has_no_voice_and_falls_back_to_bokmal_visibly():
    speaker = EspeakSpeaker()
    await speaker.load_voices()
    nb, nn, en = (speaker.voice_for(x) for x in ("nb", "nn", "en"))
    assert (nb.voice, nb.fallback) == ("nb", False)
    assert (nn.voice, nn.fallback) == ("nb", True)
    assert en.voice in ("en-gb", "en") and not en.fallback


async def test_without_espeak_nothing_is_spoken_and_the_app_can_say_so():
    speaker = EspeakSpeaker(executable="/nonexistent/espeak-ng")
    speaker.executable = None
    assert not await speaker.say("Hei", "nb")
    assert speaker.voice_for("nb").voice is None


def test_voice_listing_is_parsed():
    listing = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n 5  nb              --/M      Norwegian_Bokmål  gmq/nb               (no 5)\n 2  en-gb           --/M      English gmw/en (en 2)\n"
    assert _parse_voices(listing) == {"nb", "en-gb"}
    assert RecordingSpeaker().voice_for("nn").fallback
