"""The loudness meter the on-air tests measure with, checked against ITU-R BS.1770's own
reference: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LUFS."""

from __future__ import annotations

import numpy as np
import pytest

from tests.listen import RATE, integrated_loudness


def sine(freq: float, peak_db: float, seconds: float = 5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 10 ** (peak_db / 20) * np.sin(2 * np.pi * freq * t)


def test_the_meter_reads_the_standard_reference_sine() -> None:
    tone = sine(997, 0)
    silent = np.zeros_like(tone)
    assert integrated_loudness(np.stack([tone, silent], axis=1)) == pytest.approx(-3.0, abs=0.15)
    # Both channels: 3 dB louder; 16 dB down: 16 LU down; silence in between is gated out.
    quieter = np.concatenate([sine(997, -16), np.zeros(2 * RATE), sine(997, -16)])
    assert integrated_loudness(np.stack([quieter, quieter], axis=1)) == pytest.approx(
        -16.0, abs=0.15
    )
