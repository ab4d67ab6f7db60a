"""MPEG audio frame headers: enough to cut an MP3 byte stream on frame boundaries."""

from __future__ import annotations

# How far after the end of the MP3 already emitted the next PCM frame fed to the encoder
# (app.stream.encoder) is heard, in frames: LAME holds 2500-3700 frames back (3100 on
# average, for blocks of 0.02 to 1 s), and the codec delays the sound by 1105 more (576 in
# the encoder, 529 in the decoder). Measured by decoding with ffmpeg, as browsers and stream
# players do.
LAME_HELD_FRAMES = 3100
HEARD_DELAY_FRAMES = LAME_HELD_FRAMES + 1105

# Bitrates in kbps, by [MPEG-1][layer III] and [MPEG-2/2.5][layer III].
_BITRATES_V1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_BITRATES_V2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def frame_length(header: bytes) -> int | None:
    """Length in bytes of the Layer III frame starting with these 4 bytes, or None if invalid."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0b11  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (header[1] >> 1) & 0b11  # 1: layer III
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0b11
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    padding = (header[2] >> 1) & 1
    sample_rate = _SAMPLE_RATES[version][rate_index]
    if version == 3:
        return 144_000 * _BITRATES_V1_L3[bitrate_index] // sample_rate + padding
    return 72_000 * _BITRATES_V2_L3[bitrate_index] // sample_rate + padding


def frame_samples(header: bytes) -> tuple[int, int]:
    """(samples per channel, sample rate) of the valid Layer III frame starting with `header`:
    1152 samples in MPEG-1, 576 in MPEG-2 and 2.5."""
    version = (header[1] >> 3) & 0b11
    sample_rate = _SAMPLE_RATES[version][(header[2] >> 2) & 0b11]
    return (1152 if version == 3 else 576), sample_rate


def split_frames(data: bytes) -> tuple[bytes, bytes]:
    """Split encoder output into (whole frames, the incomplete last frame)."""
    pos = 0
    while pos + 4 <= len(data):
        length = frame_length(data[pos : pos + 4])
        if length is None:
            raise ValueError(f"no MP3 frame header at byte {pos}")
        if pos + length > len(data):
            break
        pos += length
    return data[:pos], data[pos:]
