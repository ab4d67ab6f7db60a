"""The one MP3 encoder of the station: PCM in, whole MP3 frames out (LAME, in process)."""

from __future__ import annotations

import lameenc
import numpy as np

from app.playout.source import CHANNELS, Pcm
from app.stream.mp3 import frame_length, split_frames


def to_int16(pcm: Pcm, channels: int = CHANNELS) -> bytes:
    """Interleaved s16le; `channels` 1 mixes the two down."""
    if channels == 1:
        pcm = pcm.mean(axis=1, dtype=np.float32)
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Mp3Encoder:
    """Emits only whole frames, so every chunk the hub keeps starts on a frame boundary."""

    def __init__(self, bitrate_kbps: int, sample_rate: int, quality: int,
                 channels: int = CHANNELS) -> None:  # fmt: skip
        self._channels = channels
        self._lame = lameenc.Encoder()
        self._lame.set_bit_rate(bitrate_kbps)
        self._lame.set_in_sample_rate(sample_rate)
        self._lame.set_channels(channels)
        self._lame.set_quality(quality)
        self._pending = b""

    def encode(self, pcm: Pcm) -> bytes:
        frames, self._pending = split_frames(
            self._pending + bytes(self._lame.encode(to_int16(pcm, self._channels)))
        )
        return frames

    def flush(self) -> bytes:
        """The rest: LAME's held-back samples and the last frame (the encoder is done)."""
        frames, self._pending = split_frames(self._pending + bytes(self._lame.flush()))
        return frames


SAMPLES_PER_FRAME = 1152  # MPEG-1 Layer III


class EncodedLoop:
    """MP3 frames encoded in advance, aired from memory when the encoder cannot encode: the
    one output that cannot fail. It plays from its first frame (which needs no earlier
    frame to decode) each time it takes over, and loops; a frame for every 1152 samples of
    programme it stands in for, so the stream keeps its pace."""

    def __init__(self, pcm: Pcm, bitrate_kbps: int, sample_rate: int, quality: int) -> None:
        encoder = Mp3Encoder(bitrate_kbps, sample_rate, quality)
        data = encoder.encode(pcm) + encoder.flush()
        self._frames: list[bytes] = []
        while data:
            length = frame_length(data[:4])
            assert length is not None
            self._frames.append(data[:length])
            data = data[length:]
        self._next = 0
        self._owed = 0  # samples not yet covered by a whole frame

    def restart(self) -> None:
        self._next = self._owed = 0

    def frames_for(self, samples: int) -> bytes:
        self._owed += samples
        count, self._owed = divmod(self._owed, SAMPLES_PER_FRAME)
        out = []
        for _ in range(count):
            out.append(self._frames[self._next])
            self._next = (self._next + 1) % len(self._frames)
        return b"".join(out)
