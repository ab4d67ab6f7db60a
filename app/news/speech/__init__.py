"""Text to speech: engines behind one interface, chosen by settings.

The engines load heavy things (eSpeak NG's C library, numpy): the station uses them only in
a child process (`app.news.speech.worker`), never in the process that serves listeners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from app.config import Settings


class SpeechError(RuntimeError):
    """An engine cannot be set up or cannot speak a text; the message says why."""


class SpeechEngine(Protocol):
    # Names the voice and its settings: part of the cache key, so a change re-renders.
    name: str

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """Mono float32 samples in [-1, 1] and their sample rate."""
        ...


@dataclass(frozen=True, slots=True)
class RenderedSpeech:
    duration: float  # seconds
    loudness_lufs: float


def make_engine(settings: Settings) -> SpeechEngine:
    """The configured engine; raises SpeechError when it cannot be used here."""
    if settings.tts_engine == "piper":
        from app.news.speech.piper import PiperEngine

        return PiperEngine(settings.piper_model)
    from app.news.speech.espeak import EspeakEngine

    return EspeakEngine(settings.tts_voice, settings.tts_rate_wpm, settings.tts_pitch)
