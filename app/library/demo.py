"""A small synthesized demo library, so a fresh install has something to put on air.

Everything is generated with numpy from a seed per track (chords, a melody, bass and soft
noise drums), so it needs no network and sounds the same on every machine.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.files import atomic_path
from app.library.encode import SAMPLE_RATE, encode
from app.library.scanner import JINGLES_DIR, has_music_files
from app.library.tags import write_tags

ALBUM = "Demo Station"
PEAK = 0.45  # about -7 dBFS: room for lossy codecs' overshoot, far from clipping

WAVETABLE_SIZE = 4096

# Semitone steps of the scales; chords are built on scale degrees (0-based, I = 0).
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True, slots=True)
class Song:
    file: str
    artist: str
    title: str
    root: int  # MIDI note of the key
    scale: tuple[int, ...]
    bpm: float
    progression: tuple[int, ...]  # one chord per bar
    bars: int
    harmonics: tuple[float, ...]  # the pad's timbre: amplitude of each partial
    seed: int


SONGS = (
    Song("morning-tram.mp3", "The Paper Lanterns", "Morning Tram", 60, MAJOR, 112,
         (0, 5, 3, 4), 16, (1.0, 0.5, 0.25, 0.12), 1),
    Song("harbour-lights.ogg", "Mira Okafor", "Harbour Lights", 57, MINOR, 92,
         (0, 5, 2, 6), 12, (1.0, 0.2, 0.3, 0.05, 0.1), 2),
    Song("copper-skies.flac", "Northbound Choir", "Copper Skies", 62, MAJOR, 128,
         (0, 4, 5, 3), 16, (1.0, 0.6, 0.4, 0.3, 0.2, 0.1), 3),
    Song("slow-river.mp3", "Elin Vass", "Slow River", 55, MAJOR, 76,
         (0, 3, 0, 4), 10, (1.0, 0.1, 0.05), 4),
    Song("night-market.ogg", "Kite & Compass", "Night Market", 64, MINOR, 104,
         (0, 3, 4, 0), 14, (1.0, 0.45, 0.0, 0.2, 0.0, 0.1), 5),
    Song("last-ferry-home.flac", "The Quiet Atlas", "Last Ferry Home", 58, MAJOR, 96,
         (0, 5, 1, 4), 12, (1.0, 0.3, 0.15, 0.08), 6),
)  # fmt: skip


def ensure_demo_library(media_dir: Path, ffmpeg: str) -> list[Path]:
    """Synthesize the demo tracks and a station ID when media_dir holds no music yet."""
    if has_music_files(media_dir):
        return []
    jobs: list[tuple[Path, Callable[[], np.ndarray], dict[str, str]]] = [
        (
            media_dir / "music" / "demo" / song.file,
            functools.partial(render_song, song),
            _tags(song),
        )
        for song in SONGS
    ]
    jingle_tags = {"artist": "Demo Station", "title": "Station ID", "album": ALBUM}
    jobs.append((media_dir / JINGLES_DIR / "station-id.mp3", render_jingle, jingle_tags))
    # ffmpeg does the slow part outside the GIL, so the encoders can overlap; each song is
    # rendered only when its worker is ready for it, so only a few are in memory at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda job: _write(ffmpeg, job[0], job[1](), job[2]), jobs))


def _tags(song: Song) -> dict[str, str]:
    return {"artist": song.artist, "title": song.title, "album": ALBUM}


def _write(ffmpeg: str, path: Path, samples: np.ndarray, tags: dict[str, str]) -> Path:
    with atomic_path(path) as temp:  # a crash never leaves a half song that counts as music
        encode(samples, temp, ffmpeg)
        write_tags(temp, tags)
    return path


def render_song(song: Song) -> np.ndarray:
    """Stereo float samples of one song: pad chords, bass, melody and drums."""
    rng = np.random.default_rng(song.seed)
    beat = 60.0 / song.bpm
    bar = 4 * beat
    total = int(song.bars * bar * SAMPLE_RATE)
    left, right = np.zeros(total), np.zeros(total)
    chords = [song.progression[i % len(song.progression)] for i in range(song.bars)]
    for index, degree in enumerate(chords):
        start = index * bar
        notes = _triad(song, degree)
        pad = sum(_tone(_hz(n), bar, song.harmonics, attack=0.02, release=0.3) for n in notes)
        _mix(left, right, 0.18 * pad, start, pan=0.0)
        for b in range(4):
            bass = _tone(_hz(notes[0] - 12), beat * 0.9, (1.0, 0.3), attack=0.005, release=0.1)
            _mix(left, right, 0.35 * bass, start + b * beat, pan=0.0)
        _melody(left, right, song, notes, start, beat, rng)
        _drums(left, right, start, beat, rng)
    return _finish(left, right)


def render_jingle() -> np.ndarray:
    """A bright five-second sting: a rising arpeggio resolving on a held chord."""
    seconds = 5.0
    total = int(seconds * SAMPLE_RATE)
    left, right = np.zeros(total), np.zeros(total)
    bright = (1.0, 0.6, 0.4, 0.3, 0.2)
    for i, note in enumerate((72, 76, 79, 84)):
        _mix(left, right, 0.3 * _pluck(_hz(note), 0.6, bright), i * 0.18, pan=-0.4 + 0.25 * i)
    for note in (60, 64, 67, 72, 76):
        _mix(left, right, 0.15 * _tone(_hz(note), 4.2, bright, 0.05, 1.5), 0.8, pan=0.0)
    _mix(left, right, 0.4 * _kick(), 0.0, pan=0.0)
    _mix(left, right, 0.3 * _kick(), 0.8, pan=0.0)
    return _finish(left, right)


def _triad(song: Song, degree: int) -> list[int]:
    def note(step: int) -> int:
        octave, index = divmod(step, len(song.scale))
        return song.root + 12 * octave + song.scale[index]

    return [note(degree), note(degree + 2), note(degree + 4)]


def _melody(
    left: np.ndarray,
    right: np.ndarray,
    song: Song,
    chord: list[int],
    start: float,
    beat: float,
    rng: np.random.Generator,
) -> None:
    # Eighth notes, mostly chord tones an octave up, with rests so it breathes.
    for step in range(8):
        if rng.random() < 0.3:
            continue
        pool = [n + 12 for n in chord] + [song.root + 12 + song.scale[rng.integers(7)]]
        note = pool[rng.integers(len(pool))]
        length = beat * (1.0 if rng.random() < 0.3 else 0.5)
        voice = _pluck(_hz(note), length, (1.0, 0.4, 0.2))
        _mix(left, right, 0.22 * voice, start + step * beat / 2, pan=0.3)


def _drums(
    left: np.ndarray, right: np.ndarray, start: float, beat: float, rng: np.random.Generator
) -> None:
    for b in range(4):
        at = start + b * beat
        if b in (0, 2):
            _mix(left, right, 0.5 * _kick(), at, pan=0.0)
        else:
            _mix(left, right, 0.12 * _noise_burst(rng, 0.18, 18.0, bright=False), at, pan=0.1)
        for half in (0.0, 0.5):
            hat = _noise_burst(rng, 0.05, 80.0, bright=True)
            _mix(left, right, 0.05 * hat, at + half * beat, pan=-0.3)


def _hz(midi: int) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _partials(freq: float, t: np.ndarray, harmonics: Iterable[float]) -> np.ndarray:
    # A wavetable lookup costs one index per sample instead of one sine per partial.
    table = _wavetable(tuple(harmonics))
    index = (t * (freq * WAVETABLE_SIZE)).astype(np.int64) % WAVETABLE_SIZE
    return table[index]


@functools.cache
def _wavetable(harmonics: tuple[float, ...]) -> np.ndarray:
    phase = np.arange(WAVETABLE_SIZE) * (2 * np.pi / WAVETABLE_SIZE)
    return sum(a * np.sin(k * phase) for k, a in enumerate(harmonics, start=1) if a)


def _tone(
    freq: float, seconds: float, harmonics: Iterable[float], attack: float, release: float
) -> np.ndarray:
    t = _time(seconds)
    envelope = np.minimum(1.0, t / attack) * np.minimum(1.0, (seconds - t) / release)
    return _partials(freq, t, harmonics) * np.clip(envelope, 0.0, 1.0)


def _pluck(freq: float, seconds: float, harmonics: Iterable[float]) -> np.ndarray:
    t = _time(seconds)
    envelope = np.minimum(1.0, t / 0.004) * np.exp(-4.0 * t / seconds)
    return _partials(freq, t, harmonics) * envelope


def _kick() -> np.ndarray:
    t = _time(0.25)
    freq = 50.0 + 70.0 * np.exp(-t * 30.0)  # the falling pitch is what makes it a kick
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    return np.sin(phase) * np.exp(-t * 14.0)


def _noise_burst(
    rng: np.random.Generator, seconds: float, decay: float, bright: bool
) -> np.ndarray:
    t = _time(seconds)
    noise = rng.standard_normal(t.size)
    # A first difference tilts the noise towards hiss; a running mean towards a soft snare.
    shaped = np.diff(noise, prepend=0.0) if bright else np.convolve(noise, np.ones(4) / 4, "same")
    return shaped * np.exp(-t * decay) * 0.5


def _mix(left: np.ndarray, right: np.ndarray, voice: np.ndarray, at: float, pan: float) -> None:
    start = int(at * SAMPLE_RATE)
    end = min(left.size, start + voice.size)
    if end <= start:
        return
    part = voice[: end - start]
    left[start:end] += part * (1.0 - pan) / 2
    right[start:end] += part * (1.0 + pan) / 2


def _finish(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    samples = np.stack([left, right], axis=1)
    # The last second fades out so the song ends rather than stops, without a silent tail.
    fade = min(samples.shape[0], SAMPLE_RATE)
    samples[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None] ** 0.5
    return samples * (PEAK / max(float(np.abs(samples).max()), 1e-9))


if __name__ == "__main__":
    print(len(ensure_demo_library(Path(sys.argv[1]), sys.argv[2])))
