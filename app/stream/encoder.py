"""The one MP3 encoder of the station: PCM in, whole MP3 frames out (LAME, in process)."""

from __future__ import annotations

import lameenc
import numpy as np

from app.playout.source import CHANNELS, Pcm
from app.stream.mp3 import split_frames


def to_int16(pcm: Pcm) -> bytes:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Mp3Encoder:
    """Emits only whole frames, so every chunk the hub keeps starts on a frame boundary."""

    def __init__(self, bitrate_kbps: int, sample_rate: int, quality: int) -> None:
        self._lame = lameenc.Encoder()
        self._lame.set_bit_rate(bitrate_kbps)
        self._lame.set_in_sample_rate(sample_rate)
        self._lame.set_channels(CHANNELS)
        self._lame.set_quality(quality)
        self._pending = b""

    def encode(self, pcm: Pcm) -> bytes:
        frames, self._pending = split_frames(
            self._pending + bytes(self._lame.encode(to_int16(pcm)))
        )
        return frames
