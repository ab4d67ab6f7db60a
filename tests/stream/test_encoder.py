"""The station's MP3 encoder: whole frames only, at the configured constant bitrate."""

from __future__ import annotations

import numpy as np

from app.stream.encoder import Mp3Encoder
from app.stream.mp3 import frame_length, split_frames
from tests.listen import decode, mp3_frames_valid


def test_every_chunk_is_whole_cbr_frames_that_decode() -> None:
    encoder = Mp3Encoder(128, 44100, 5)
    t = np.arange(44100 * 3) / 44100
    pcm = np.repeat((0.3 * np.sin(2 * np.pi * 440 * t))[:, None], 2, axis=1).astype(np.float32)
    chunks = [encoder.encode(pcm[i : i + 8820]) for i in range(0, len(pcm), 8820)]
    for chunk in chunks:
        if chunk:
            frames = mp3_frames_valid(chunk)
            assert frame_length(chunk[:4]) in (417, 418)
            assert abs(len(chunk) - frames * 417.96) < frames  # CBR 128 kbps at 44.1 kHz
    audio, errors = decode(b"".join(chunks))
    assert errors == ""
    assert len(audio) / 44100 > 2.8


def test_split_frames_keeps_a_partial_frame_for_later() -> None:
    encoder = Mp3Encoder(128, 44100, 5)
    data = encoder.encode(np.zeros((44100, 2), dtype=np.float32))
    whole, rest = split_frames(data + data[:100])
    assert whole == data
    assert rest == data[:100]
