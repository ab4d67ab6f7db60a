"""A stream client for tests: raw socket capture, ICY parsing, and real ffmpeg decoding."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.ffmpeg import ffmpeg_path

RATE = 44100
BYTES_PER_SECOND = 16000  # 128 kbps CBR
TIMELY_NICE = -10  # a timely capture's reading thread: with the station's playout, ahead of hogs


class StreamCapture(threading.Thread):
    """Reads /stream on a raw socket, keeping every byte and when it arrived.

    `timely`: the reading thread runs at nice TIMELY_NICE when allowed (as root), ahead of CPU
    hogs: a listener on another machine does not share the station's CPU, so when arrival
    times are the oracle, they measure the station rather than this thread's own wait."""

    def __init__(self, port: int, *, icy: bool = False, path: str = "/stream",
                 extra_headers: str = "", rcvbuf: int | None = None,
                 read_size: int = 65536, reading: bool = True,
                 http_version: str = "1.1", source: str | None = None,
                 timely: bool = False) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self._timely = timely
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source is not None:  # another loopback address (127.0.0.2, ...): another machine
            self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        request = (
            f"GET {path} HTTP/{http_version}\r\nHost: 127.0.0.1\r\nUser-Agent: stream-test\r\n"
        )
        if icy:
            request += "Icy-MetaData: 1\r\n"
        self.sock.sendall((request + extra_headers + "\r\n").encode())
        self.connected_at = time.monotonic()
        self.head = b""
        self.body = bytearray()
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, body bytes so far)
        self.closed_at: float | None = None
        self._read_size = read_size
        self._stopping = threading.Event()
        if reading:  # a stalled client connects, asks, and then never reads
            self.start()

    @property
    def status_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    @property
    def headers(self) -> dict[str, str]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return {
            k.strip().lower(): v.strip()
            for k, v in (line.split(":", 1) for line in lines if ":" in line)
        }

    def run(self) -> None:
        if self._timely:
            with contextlib.suppress(PermissionError):  # Linux: nice is per thread
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TIMELY_NICE)
        buffer = b""
        while not self._stopping.is_set():
            try:
                data = self.sock.recv(self._read_size)
            except OSError:
                data = b""
            if not data:
                # Closed by the station, not by stop() (whose close can meet this thread
                # between its check of _stopping and its recv: that is no drop).
                if not self._stopping.is_set():
                    self.closed_at = time.monotonic()
                return
            if not self.head:
                buffer += data
                if b"\r\n\r\n" not in buffer:
                    continue
                self.head, data = buffer.split(b"\r\n\r\n", 1)
            self.body += data
            self.arrivals.append((time.monotonic(), len(self.body)))

    def bytes_at(self, when: float) -> int:
        """How many body bytes had arrived by monotonic time `when`."""
        received = 0
        for t, total in self.arrivals:
            if t > when:
                break
            received = total
        return received

    def stop(self) -> None:
        self._stopping.set()
        self.sock.close()
        if self.is_alive():
            self.join(5)


class FfmpegTitles(threading.Thread):
    """The real ffmpeg playing the stream with ICY metadata, as a stream client does: every
    StreamTitle it takes from the stream, in order, by its own reading of the blocks."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.titles: list[str] = []
        command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "verbose",
                   "-icy", "1", "-i", url, "-t", "600", "-f", "null", "-"]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        self.start()

    def run(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            found = re.search(r"Metadata update for StreamTitle: (.*)$", line.rstrip("\n"))
            if found:
                self.titles.append(found.group(1))

    def wait_for(self, condition: Callable[[list[str]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition(list(self.titles)):
            assert self.process.poll() is None, f"ffmpeg stopped; it showed {self.titles}"
            assert time.monotonic() < deadline, f"ffmpeg showed only {self.titles}"
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


@dataclass
class IcyStream:
    """A body split as a client trusting `icy-metaint` splits it. Where the blocks were read
    is where the client expected them (every metaint bytes by construction), not evidence
    that the station put them there: compare `audio` with a plain capture for that."""

    audio: bytes
    titles: list[tuple[int, str]] = field(default_factory=list)  # (audio offset, StreamTitle)
    block_offsets: list[int] = field(default_factory=list)  # audio offset of every block
    block_sizes: list[int] = field(default_factory=list)  # bytes of every block, length included

    def audio_offset(self, body_position: int) -> int:
        """The audio offset of a position in the body as received (blocks included)."""
        audio = body_position
        for offset, size in zip(self.block_offsets, self.block_sizes, strict=True):
            consumed = offset + sum(self.block_sizes[: self.block_offsets.index(offset)])
            if consumed >= body_position:
                break
            audio -= min(size, body_position - consumed)
        return audio


def split_icy(body: bytes, metaint: int) -> IcyStream:
    """Separate audio from metadata blocks as a player does: a block after every `metaint`
    audio bytes. Fails on a block that is not `StreamTitle='...';` text."""
    stream = IcyStream(b"")
    audio = bytearray()
    pos = 0
    while pos + metaint < len(body):
        audio += body[pos : pos + metaint]
        pos += metaint
        length = body[pos] * 16
        block = body[pos + 1 : pos + 1 + length]
        if len(block) < length:
            break
        stream.block_offsets.append(len(audio))
        stream.block_sizes.append(1 + length)
        if length:
            text = block.rstrip(b"\0").decode("utf-8")
            match = re.match(r"StreamTitle='(.*?)';", text)
            assert match, f"malformed metadata block {text!r}"
            stream.titles.append((len(audio), match.group(1)))
        pos += 1 + length
    stream.audio = bytes(audio)
    return stream


def common_start(a: bytes, b: bytes, needle: int = 4096) -> tuple[int, int]:
    """Where two captures of one stream start to hold the same bytes: (i, j) such that
    a[i:] and b[j:] begin with the same `needle` bytes. Fails when they share no such start.
    A steady tone encodes to frames that repeat every few seconds, so the first match is
    taken: the caller compares everything after it, and a stretch that equals the other
    capture's bytes is the same audio wherever it aligned."""
    for first, second, swap in ((a, b, False), (b, a, True)):
        at = first.find(second[:needle])
        if at >= 0:
            return (0, at) if swap else (at, 0)
    raise AssertionError("the two captures share no stretch of the stream")


def decode(mp3: bytes, channels: int = 1) -> tuple[np.ndarray, str]:
    """Decode MP3 bytes with the real ffmpeg to float samples, mono (shape (n,)) unless
    `channels` is 2 (shape (n, 2)); also return ffmpeg's errors."""
    result = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "mp3", "-i",
         "pipe:0", "-f", "f32le", "-ac", str(channels), "-ar", str(RATE), "pipe:1"],
        input=mp3, capture_output=True, check=True,
    )  # fmt: skip
    samples = np.frombuffer(result.stdout, dtype=np.float32)
    return (samples if channels == 1 else samples.reshape(-1, channels)), result.stderr.decode()


def integrated_loudness(stereo: np.ndarray) -> float:
    """EBU R128 integrated loudness (LUFS) of stereo float samples, by ffmpeg's `ebur128`
    filter: a meter that follows the standard, not the station's code (which only reads
    the loudness of its source files; what airs is its gain, mixing and encoding)."""
    assert stereo.shape[1:] == (2,), "the meter wants both channels"
    result = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-hide_banner", "-nostats", "-f", "f32le", "-ac", "2",
         "-ar", str(RATE), "-i", "pipe:0", "-af", "ebur128=framelog=quiet", "-f", "null", "-"],
        input=np.ascontiguousarray(stereo, dtype=np.float32).tobytes(), capture_output=True,
        check=True,
    )  # fmt: skip
    summary = re.findall(r"Integrated loudness:\s+I:\s+(-?[\d.]+) LUFS", result.stderr.decode())
    assert summary, result.stderr.decode()[-2000:]
    return float(summary[-1])


def window_rms_db(samples: np.ndarray, window: float = 0.05) -> np.ndarray:
    size = int(RATE * window)
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


def longest_quiet_run(
    samples: np.ndarray, threshold_db: float = -45, window: float = 0.05
) -> float:
    """Seconds of the longest stretch whose level stays under `threshold_db`."""
    quiet = window_rms_db(samples, window) < threshold_db
    longest = run = 0
    for is_quiet in quiet:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest * window


def tone_levels(samples: np.ndarray, freqs: list[float], window: float = 0.1) -> np.ndarray:
    """Per window, the magnitude of each of `freqs` (rows: windows, columns: freqs)."""
    size = int(RATE * window)
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) / size
    bins = [round(f * size / RATE) for f in freqs]
    return spectrum[:, bins]


def dominant_tone(
    samples: np.ndarray, freqs: list[float], window: float = 0.1
) -> list[float | None]:
    """Per window, which of `freqs` sounds (None when none clearly does)."""
    levels = tone_levels(samples, freqs, window)
    out: list[float | None] = []
    for row in levels:
        best = int(np.argmax(row))
        out.append(freqs[best] if row[best] > 0.01 else None)
    return out


def mp3_frames_valid(data: bytes) -> int:
    """Walk MPEG frame headers from byte 0, each one MPEG-1 Layer III at 128 kbps, 44.1 kHz,
    two channels (the stream's format, read here from the header bits themselves, not with
    the station's parser); return the number of whole frames, or fail."""
    return _walk_frames(data)[0]


def whole_frames(data: bytes) -> bytes:
    """The stream's bytes up to the end of its last whole frame: a capture stops anywhere,
    and ffmpeg reports a frame cut short at the end ("invalid new backstep") as an error."""
    return data[: _walk_frames(data)[1]]


def _walk_frames(data: bytes) -> tuple[int, int]:
    """(whole frames, bytes they take) from byte 0; fails on a header not of the stream's."""
    pos = frames = 0
    while pos + 4 <= len(data):
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        where = f"at byte {pos} of {len(data)}: {data[pos : pos + 4].hex()}"
        assert (data[pos] << 3) | (b1 >> 5) == 0x7FF, f"no MP3 frame header {where}"
        assert (b1 >> 1) & 0xF == 0b1101, f"not MPEG-1 Layer III {where}"  # version 11, layer 01
        assert b2 >> 4 == 9, f"not 128 kbps {where}"  # bitrate index 9: 128 kbps
        assert (b2 >> 2) & 3 == 0, f"not 44.1 kHz {where}"
        assert b3 >> 6 != 3, f"mono {where}"
        length = 144 * 128_000 // 44_100 + ((b2 >> 1) & 1)  # 417, or 418 with padding
        if pos + length > len(data):
            break
        pos += length
        frames += 1
    return frames, pos
