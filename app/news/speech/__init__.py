"""Text to speech: engines behind one interface, chosen by settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from app.config import Settings


class SpeechError(RuntimeError):
    """An engine cannot be set up or cannot speak a text; the message says why."""


class SpeechEngine(Protocol):
    # Names the voice and its settings: part of the cache key, so a change re-renders.
    name: str

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """Mono float32 samples in [-1, 1] and their sample rate."""
        ...


def make_engine(settings: Settings) -> SpeechEngine:
    """The configured engine; raises SpeechError when it cannot be used here."""
    if settings.tts_engine == "piper":
        from app.news.speech.piper import PiperEngine

        return PiperEngine(settings.piper_model)
    from app.news.speech.espeak import EspeakEngine

    return EspeakEngine(settings.tts_voice, settings.tts_rate_wpm, settings.tts_pitch)
