"""A track as a source: ffmpeg decodes it with the track's gain and silence cues applied."""

from __future__ import annotations

import subprocess
import tempfile

import numpy as np

from app.playout.source import CHANNELS, Pcm
from app.scheduler.item import Item

BYTES_PER_FRAME = 4 * CHANNELS  # float32


class DecodeError(Exception):
    pass


class DecoderSource:
    """Runs one ffmpeg per track; its stdout is raw float32 PCM in the station format."""

    def __init__(self, item: Item, ffmpeg: str, sample_rate: int) -> None:
        if item.path is None or not item.path.is_file():
            raise DecodeError("file is missing")
        self.item = item
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._process = subprocess.Popen(
            self._command(item, ffmpeg, sample_rate),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    @staticmethod
    def _command(item: Item, ffmpeg: str, sample_rate: int) -> list[str]:
        cue = ["-ss", f"{item.cue_in:.3f}"] if item.cue_in > 0 else []
        if item.cue_out is not None:
            cue += ["-to", f"{item.cue_out:.3f}"]
        return [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            *cue, "-i", str(item.path), "-vn",
            "-af", f"volume={item.gain_db:.2f}dB",
            "-f", "f32le", "-ac", str(CHANNELS), "-ar", str(sample_rate), "pipe:1",
        ]  # fmt: skip

    def read(self, frames: int) -> Pcm:
        assert self._process.stdout is not None
        data = self._process.stdout.read(frames * BYTES_PER_FRAME)
        usable = len(data) - len(data) % BYTES_PER_FRAME
        return np.frombuffer(data[:usable], dtype=np.float32).reshape(-1, CHANNELS)

    def error(self) -> str:
        """What ffmpeg said, for telling hosts why a track failed."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"decoder exited with status {self._process.poll()}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()
