"""A live input as a source: what a host sends (MP3, AAC, Ogg Opus or Vorbis, WebM), decoded by
an ffmpeg of its own, levelled to the station's loudness, and ended by a fade.

The encoded bytes are fed in as they arrive (`feed`, never blocking: a bounded queue a thread
writes to ffmpeg); a second thread reads ffmpeg's PCM into a buffer. `read` hands out that
buffer at the pace the clock reads it, waiting a little for late audio and padding with
silence when the host's audio stalls (so the air never stops). The gain follows a running
loudness estimate towards the target, and is lowered at once when a block would clip.

It ends (a short read) after `end(reason)` with a fade-out of what it has, or by itself when
the host's audio is silent (or missing) for `silence_seconds`, or when the decoder stops.

While a clock item (the hourly news) has the air it is not read; `catch_up` then brings it
back at its live point (what the host sent meanwhile is dropped, and is no silence).
"""

from __future__ import annotations

import contextlib
import math
import queue
import subprocess
import tempfile
import threading
import time
from collections import deque

import numpy as np

from app.core.item import Item
from app.playout.fades import fade_out
from app.playout.source import CHANNELS, Pcm, silence

BYTES_PER_FRAME = 4 * CHANNELS  # float32
QUEUE_CHUNKS = 256  # encoded chunks waiting for the decoder (the station bounds the rate)
MAX_BUFFER_SECONDS = 3.0  # decoded audio kept ahead of air; beyond it the oldest goes
WAIT_SECONDS = 0.5  # how long a read waits for late audio before padding with silence
SILENT_DBFS = -50.0  # a block quieter than this (peak) counts as silence
GAIN_RANGE_DB = 20.0  # the levelling never changes the level by more than this
GAIN_STEP_DB = 0.5  # per second: how fast the levelling follows
LOUDNESS_SECONDS = 3.0  # the running estimate's time constant
CEILING = 0.95  # peaks are kept under this (about -0.4 dBFS)
LIVE_POINT_SECONDS = 0.4  # what `catch_up` keeps: about what a live input starts with

# What ffmpeg is told the input is, by the Content-Type the host's software sends; anything
# else is probed.
FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/webm": "webm",
    "video/webm": "webm",
}


def input_format(content_type: str) -> str | None:
    return FORMATS.get(content_type.split(";")[0].strip().lower())


class LiveSource:
    def __init__(
        self,
        item: Item,
        ffmpeg: str,
        sample_rate: int,
        content_type: str,
        target_lufs: float,
        silence_seconds: float,
        fade_seconds: float,
    ) -> None:
        self.item = item
        self._rate = sample_rate
        self._target = target_lufs
        self._silence_frames = round(silence_seconds * sample_rate)
        self._fade = max(1, round(fade_seconds * sample_rate))
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        fmt = input_format(content_type)
        self._process = subprocess.Popen(
            [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
             *(["-f", fmt] if fmt else []), "-i", "pipe:0", "-vn",
             "-f", "f32le", "-ac", str(CHANNELS), "-ar", str(sample_rate), "pipe:1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )  # fmt: skip
        self._input: queue.Queue[bytes | None] = queue.Queue(QUEUE_CHUNKS)
        self._lock = threading.Condition()
        self._chunks: deque[Pcm] = deque()
        self._buffered = 0
        self.decoded = 0  # frames the decoder gave so far
        self.dropped = 0  # encoded chunks dropped (the decoder could not keep up)
        self._decoder_done = False
        self._ending: str | None = None  # why it ends (set by end() or by itself)
        self.end_reason: str | None = None
        self.closed = False
        self._quiet = 0  # frames of silence in a row on air
        self._loudness: float | None = None  # running mean square (summed channels)
        self._gain_db = 0.0
        self._fading = False
        threading.Thread(target=self._write, name="live-in", daemon=True).start()
        threading.Thread(target=self._read_decoder, name="live-out", daemon=True).start()

    # -- the station's side ---------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Encoded audio as it arrives; never blocks (dropped when the decoder lags far)."""
        try:
            self._input.put_nowait(data)
        except queue.Full:
            self.dropped += 1

    def end(self, reason: str) -> None:
        """Fade out what is buffered and end (the host hung up, or handed back)."""
        with self._lock:
            if self._ending is None:
                self._ending = reason
            self._lock.notify_all()

    @property
    def buffered_seconds(self) -> float:
        with self._lock:
            return self._buffered / self._rate

    @property
    def ending(self) -> bool:
        """It was ended, or its decoder stopped with nothing left: it would only fade out."""
        with self._lock:
            return self._ending is not None or (self._decoder_done and self._buffered == 0)

    def catch_up(self) -> None:
        """Back to the live point after it waited (a clock item had the air): the audio
        buffered beyond LIVE_POINT_SECONDS is dropped, and the silence count starts over."""
        keep = round(LIVE_POINT_SECONDS * self._rate)
        with self._lock:
            if self._buffered > keep:
                self._take(self._buffered - keep)
            self._quiet = 0

    @property
    def decoder_ended(self) -> bool:
        """The decoder exited: the input ended, or it could not be decoded."""
        with self._lock:
            return self._decoder_done

    def error(self) -> str:
        """What ffmpeg said (its last line), for telling the host why it could not air."""
        with contextlib.suppress(ValueError, OSError):
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            if lines:
                return lines[-1]
        return "the decoder gave no audio"

    # -- the source protocol -------------------------------------------------------------------

    def read(self, frames: int) -> Pcm:
        with self._lock:
            if self._ending is None:
                deadline = time.monotonic() + WAIT_SECONDS
                while (self._buffered < frames and not self._decoder_done
                       and self._ending is None):  # fmt: skip
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
            if self._ending is None and self._decoder_done and self._buffered == 0:
                self._ending = "the source's audio ended"
            if self._ending is not None:
                return self._fade_out(frames)
            pcm = self._take(min(frames, self._buffered))
        if len(pcm) < frames:  # late audio: silence stands in (counted as silence below)
            pcm = np.concatenate([pcm, silence(frames - len(pcm))])
        pcm = self._level(pcm)
        if self._silence_frames and self._quiet >= self._silence_frames:
            with self._lock:
                self._ending = f"silent for {self._silence_frames / self._rate:.0f} s"
        return pcm

    def close(self) -> None:
        with self._lock:
            if self.end_reason is None:  # one that ended unheard (while a clock item aired)
                done = "the source's audio ended" if self._decoder_done else None
                self.end_reason = self._ending or done
        self.closed = True
        with contextlib.suppress(queue.Full):
            self._input.put_nowait(None)
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        with contextlib.suppress(OSError):
            self._stderr.close()

    # -- inside -------------------------------------------------------------------------------

    def _fade_out(self, frames: int) -> Pcm:
        """The next frames of the fade-out (hold _lock); fewer than `frames` at its end."""
        if self.end_reason is None:
            self.end_reason = self._ending
        if not self._fading:
            self._fading = True
            self._fade_left = self._fade
            self._fade_curve = fade_out(self._fade)
        n = min(frames, self._fade_left)
        pcm = self._take(min(n, self._buffered))
        if len(pcm) < n:
            pcm = np.concatenate([pcm, silence(n - len(pcm))])
        start = self._fade - self._fade_left
        self._fade_left -= n
        return self._apply_gain(pcm) * self._fade_curve[start : start + n]

    def _take(self, frames: int) -> Pcm:
        """`frames` buffered frames (hold _lock; frames <= self._buffered)."""
        parts, need = [], frames
        while need > 0:
            chunk = self._chunks[0]
            if len(chunk) <= need:
                parts.append(self._chunks.popleft())
                need -= len(chunk)
            else:
                parts.append(chunk[:need])
                self._chunks[0] = chunk[need:]
                need = 0
        self._buffered -= frames
        return np.concatenate(parts) if parts else silence(0)

    def _level(self, pcm: Pcm) -> Pcm:
        """Towards the target loudness, never clipping; counts silence."""
        peak = float(np.max(np.abs(pcm))) if len(pcm) else 0.0
        if peak <= 10 ** (SILENT_DBFS / 20):
            self._quiet += len(pcm)
            return pcm * np.float32(10 ** (self._gain_db / 20))
        self._quiet = 0
        square = float(np.mean(np.sum(pcm.astype(np.float64) ** 2, axis=1) / CHANNELS * 2))
        seconds = len(pcm) / self._rate
        first = self._loudness is None
        if self._loudness is None:
            self._loudness = square
        else:
            weight = 1.0 - math.exp(-seconds / LOUDNESS_SECONDS)
            self._loudness += (square - self._loudness) * weight
        # BS.1770's -0.691 offset, without its K-weighting filter: close enough to level by.
        lufs = -0.691 + 10 * math.log10(max(self._loudness, 1e-12))
        wanted = max(-GAIN_RANGE_DB, min(GAIN_RANGE_DB, self._target - lufs))
        if first:  # the first sound: start at the right level
            self._gain_db = wanted
        step = GAIN_STEP_DB * seconds
        self._gain_db += max(-step, min(step, wanted - self._gain_db))
        return self._apply_gain(pcm)

    def _apply_gain(self, pcm: Pcm) -> Pcm:
        gain = 10 ** (self._gain_db / 20)
        peak = float(np.max(np.abs(pcm))) if len(pcm) else 0.0
        if peak * gain > CEILING:  # a limiter, crude but safe: this block's gain comes down
            gain = CEILING / peak
            self._gain_db = 20 * math.log10(gain)
        return (pcm * np.float32(gain)).astype(np.float32)

    def _write(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError, ValueError):
            while (data := self._input.get()) is not None:
                stdin.write(data)
                stdin.flush()
        with contextlib.suppress(OSError, ValueError):
            stdin.close()

    def _read_decoder(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        size = max(1, self._rate // 20) * BYTES_PER_FRAME
        pending = b""
        with contextlib.suppress(OSError, ValueError):
            while data := stdout.read1(size):  # type: ignore[attr-defined]
                pending += data
                usable = len(pending) - len(pending) % BYTES_PER_FRAME
                if not usable:
                    continue
                pcm = np.frombuffer(pending[:usable], dtype=np.float32).reshape(-1, CHANNELS)
                pending = pending[usable:]
                with self._lock:
                    self._chunks.append(pcm)
                    self._buffered += len(pcm)
                    self.decoded += len(pcm)
                    limit = round(MAX_BUFFER_SECONDS * self._rate)
                    while self._buffered - len(self._chunks[0]) > limit:
                        self._buffered -= len(self._chunks.popleft())
                    self._lock.notify_all()
        with self._lock:
            self._decoder_done = True
            self._lock.notify_all()
