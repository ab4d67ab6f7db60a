"""A track as a source: ffmpeg decodes it with the track's gain and silence cues applied.

A decoder that dies mid-track (killed, crashed) is started again where it stopped, so the
track goes on instead of ending early; that is reported as a problem, cleared once the new
decoder gives audio. A decoder that ends normally (status 0) ends the track.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
from collections.abc import Callable

import numpy as np

from app.core.item import Item
from app.playout.source import CHANNELS, Pcm

BYTES_PER_FRAME = 4 * CHANNELS  # float32
RESUMES = 3  # decoders started again for one item, at most
EARLY_SECONDS = 2.0  # an item ending this much before its scanned length is reported

# (key, what, cause): report a problem; cause None: it is over.
ProblemCallback = Callable[[str, str, str | None], None]
DECODER_PROBLEM = "decoder"


class DecodeError(Exception):
    pass


class DecoderSource:
    """Runs one ffmpeg per track; its stdout is raw float32 PCM in the station format."""

    def __init__(self, item: Item, ffmpeg: str, sample_rate: int,
                 on_problem: ProblemCallback | None = None) -> None:  # fmt: skip
        if item.path is None or not item.path.is_file():
            raise DecodeError("file is missing")
        self.item = item
        self._ffmpeg = ffmpeg
        self._rate = sample_rate
        self._on_problem = on_problem
        self._decoded = 0  # frames read from the decoders so far
        self._resumes = 0
        self._resumed_at: int | None = None  # frame a resumed decoder started at
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._process = self._start(0)

    def _start(self, frame: int) -> subprocess.Popen[bytes]:
        self._stderr.seek(0)
        self._stderr.truncate()
        return subprocess.Popen(
            self._command(self.item, self._ffmpeg, self._rate, frame / self._rate),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    @staticmethod
    def _command(item: Item, ffmpeg: str, sample_rate: int, offset: float = 0.0) -> list[str]:
        start = item.cue_in + offset
        cue = ["-ss", f"{start:.6f}"] if start > 0 else []
        if item.cue_out is not None:
            cue += ["-to", f"{item.cue_out:.3f}"]
        return [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            *cue, "-i", str(item.path), "-vn",
            "-af", f"volume={item.gain_db:.2f}dB",
            "-f", "f32le", "-ac", str(CHANNELS), "-ar", str(sample_rate), "pipe:1",
        ]  # fmt: skip

    def read(self, frames: int) -> Pcm:
        data = self._read(frames * BYTES_PER_FRAME)
        while len(data) < frames * BYTES_PER_FRAME and self._resume():
            data += self._read(frames * BYTES_PER_FRAME - len(data))
        usable = len(data) - len(data) % BYTES_PER_FRAME
        self._decoded += usable // BYTES_PER_FRAME
        if usable and self._resumed_at is not None:
            self._resumed_at = None
            self._tell(None)  # the resumed decoder gives audio: the track goes on
        return np.frombuffer(data[:usable], dtype=np.float32).reshape(-1, CHANNELS)

    def _read(self, size: int) -> bytes:
        assert self._process.stdout is not None
        return self._process.stdout.read(size)

    def _resume(self) -> bool:
        """The decoder's output ended early: if it died (not a normal end), start another at
        the frame it stopped at. Whether one was started."""
        status = self._process.wait()
        if status == 0:
            self._check_length()
            return False
        if self._decoded == 0 or self._resumes >= RESUMES:
            return False
        if self._resumed_at == self._decoded:  # the last one gave nothing: stop trying
            return False
        cause = _status(status)
        if self.item.path is None or not self.item.path.is_file():
            return False
        self._resumes += 1
        at = self._decoded / self._rate
        self._tell(f"{cause}; {self.error_text() or 'no message'}", at)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._resumed_at = self._decoded
        self._process = self._start(self._decoded)
        return True

    def _check_length(self) -> None:
        """A normal end well before the length the scan found: the file changed (cut short)
        since. Reported under the track's key; a scan finds it changed and mends that."""
        item, played = self.item, self._decoded / self._rate
        if self._on_problem is None or item.track_id is None or item.duration is None:
            return
        if played < item.duration - EARLY_SECONDS:
            what = (
                f"{item.display_title!r} ended {item.duration - played:.0f} s early: its "
                "file is shorter than when it was scanned"
            )
            cause = f"the file ended at {played:.1f} s of {item.duration:.1f} s"
            self._on_problem(f"track:{item.track_id}", what, cause)

    def _tell(self, cause: str | None, at: float = 0.0) -> None:
        if self._on_problem is None:
            return
        what = (f"The decoder of {self.item.display_title!r} stopped at {at:.1f} s: "
                "started again from there")  # fmt: skip
        self._on_problem(DECODER_PROBLEM, what, cause)

    def error_text(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def error(self) -> str:
        """What ffmpeg said, for telling hosts why a track failed."""
        return self.error_text() or f"decoder exited with status {self._process.poll()}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


def _status(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"killed by {name}"
    return f"exited with status {status}"
