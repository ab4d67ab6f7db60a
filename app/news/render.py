"""Rendering an article's speech to an MP3 in the station's format and loudness, cached by hash.

The file is named by a hash of the prepared text and the voice, so an unchanged story is never
rendered twice and an edited one gets a new file (the old one is removed). Renders run in the
background as jobs a host can watch; a failed render is recorded on the Speech row, never
raised, so a bulletin simply leaves that story out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.library.analysis import analyse
from app.library.errors import LibraryError
from app.library.jobs import JobContext, JobRegistry
from app.models import Article, ArticleStatus, Speech, SpeechStatus, utcnow
from app.news.speakable import speakable_text
from app.news.speech import SpeechEngine, SpeechError, make_engine

log = logging.getLogger(__name__)

NEWS_DIR = "news"  # under media_dir
BITRATE = "128k"
PEAK_DB = -1.5  # a limiter holds peaks here when the gain would push them over
TIMEOUT_SECONDS = 600.0
TOLERANCE_LU = 0.3  # off by more than this after encoding: adjust the gain and encode again
CORRECTIONS = 2
# Decoded MP3 of our speech measures this much quieter than the PCM it was made from: a
# first guess that usually saves the correction pass.
MP3_LOSS_LU = 0.4
SILENT_LUFS = -69.5  # ebur128 reports its absolute gate for silence
_LOUDNESS = re.compile(r"^\s*I:\s+(-?[\d.]+|-inf)\s+LUFS", re.MULTILINE)

Progress = Callable[[float, str], None]


@dataclass(frozen=True, slots=True)
class RenderedSpeech:
    duration: float  # seconds
    loudness_lufs: float


def speech_hash(text: str, engine: SpeechEngine, settings: Settings) -> str:
    """What the audio depends on: the words, the voice and the station's format and loudness."""
    key = f"{engine.name}\n{settings.loudness_target_lufs}\n{settings.sample_rate}\n{text}"
    return hashlib.sha256(key.encode()).hexdigest()


def render_speech(
    text: str, engine: SpeechEngine, settings: Settings, ffmpeg: str, path: Path
) -> RenderedSpeech:
    """Speak `text` into an MP3 at `path` (station rate, stereo, at the loudness target)."""
    samples, rate = engine.synthesize(text)
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size < rate * 0.2 or not np.any(np.abs(samples) > 1e-4):
        raise SpeechError(f"{engine.name} produced no audio")
    raw = samples.tobytes()
    target = settings.loudness_target_lufs
    gain = target - _measure(raw, rate, settings, ffmpeg) + MP3_LOSS_LU
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed over: a bulletin never opens a half-written file.
    partial = path.with_name(path.name + ".part")
    try:
        for _ in range(1 + CORRECTIONS):
            _encode(raw, rate, gain, settings, ffmpeg, partial)
            analysis = analyse(partial, ffmpeg)
            # The peak limiter and the MP3 codec take a little loudness: make it up.
            miss = target - analysis.loudness_lufs
            if abs(miss) <= TOLERANCE_LU:
                break
            gain += miss
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return RenderedSpeech(analysis.decoded_duration, analysis.loudness_lufs)


def _station_format(settings: Settings) -> str:
    # Mono speech on both channels: measured as stereo, as listeners hear it (3 LU louder).
    return f"aresample={settings.sample_rate},pan=stereo|c0=c0|c1=c0"


def _input(rate: int) -> list[str]:
    return ["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]


def _measure(raw: bytes, rate: int, settings: Settings, ffmpeg: str) -> float:
    """Integrated loudness (EBU R128) of the speech in the station's format."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", *_input(rate),
               "-af", f"{_station_format(settings)},ebur128=framelog=quiet",
               "-f", "null", "-"]  # fmt: skip
    found = _LOUDNESS.findall(_run(command, raw))
    if not found or found[-1] == "-inf" or float(found[-1]) <= SILENT_LUFS:
        raise SpeechError("the synthesized speech is silent")
    return float(found[-1])


def _encode(
    raw: bytes, rate: int, gain_db: float, settings: Settings, ffmpeg: str, path: Path
) -> None:
    filters = (
        f"{_station_format(settings)},volume={gain_db:.2f}dB,"
        f"alimiter=limit={10 ** (PEAK_DB / 20):.3f}:level=disabled"
    )
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *_input(rate),
        "-af", filters, "-c:a", "libmp3lame", "-b:a", BITRATE, "-map_metadata", "-1",
        "-f", "mp3", str(path),
    ]  # fmt: skip
    _run(command, raw)


def _run(command: list[str], raw: bytes) -> str:
    try:
        result = subprocess.run(command, input=raw, capture_output=True,
                                timeout=TIMEOUT_SECONDS, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SpeechError(f"ffmpeg took longer than {TIMEOUT_SECONDS:.0f} s") from exc
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        raise SpeechError(f"ffmpeg failed: {lines[-1] if lines else result.returncode}")
    return stderr


def article_text(article: Article) -> str:
    return speakable_text(article.title, article.author, article.body)


class SpeechRenderer:
    """Keeps every article's speech file in step with its words, rendering in the background."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        ffmpeg: str,
        jobs: JobRegistry,
        engine: SpeechEngine | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ffmpeg = ffmpeg
        self.jobs = jobs
        # Made now, not on first use: a misconfigured engine stops the station at start-up.
        self.engine = engine if engine is not None else make_engine(settings)
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._again: set[int] = set()  # edited while rendering: render once more afterwards

    def request(self, article_id: int) -> None:
        """Render the article's speech in the background unless it is up to date."""
        self._request(article_id)

    def render_pending(self) -> int:
        """Request every published or scheduled article whose speech is missing, stale or
        failed (a retry: start-up and feed imports call this); returns how many."""
        wanted = [ArticleStatus.published, ArticleStatus.scheduled]
        with self.sessions() as session:
            ids = session.scalars(select(Article.id).where(Article.status.in_(wanted))).all()
        return sum(self._request(article_id) for article_id in ids)

    def render_now(self, article_id: int) -> Speech:
        """Render in this thread (tests, the CLI); returns the article's Speech row."""
        self._render(article_id, lambda fraction, message: None)
        with self.sessions() as session:
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).one()
            return speech

    def speech_file(self, article_id: int) -> Path | None:
        """The ready speech file of the article, or None."""
        with self.sessions() as session:
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
        if speech is None or speech.status is not SpeechStatus.ready or not speech.path:
            return None
        path = self.settings.media_dir / speech.path
        return path if path.is_file() else None

    def _request(self, article_id: int) -> bool:
        """Submit a render job unless it is not needed; whether one was submitted."""
        with self._lock:
            if article_id in self._running:
                self._again.add(article_id)
                return False
            if not self._needs_render(article_id):
                return False
            self._running.add(article_id)
        self.jobs.submit("speech", lambda context: self._job(article_id, context))
        return True

    def _needs_render(self, article_id: int) -> bool:
        """Whether the file is missing or stale; marks the row pending when it is."""
        with self.sessions() as session:
            article = session.get(Article, article_id)
            if article is None:
                return False
            digest = speech_hash(article_text(article), self.engine, self.settings)
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
            if speech is not None and self._up_to_date(speech, digest):
                return False
            if speech is None:
                speech = Speech(article_id=article_id, text_hash=digest, voice=self.engine.name)
                session.add(speech)
            speech.status, speech.error = SpeechStatus.pending, None
            session.commit()
            return True

    def _up_to_date(self, speech: Speech, digest: str) -> bool:
        return (
            speech.text_hash == digest
            and speech.status is SpeechStatus.ready
            and speech.path is not None
            and (self.settings.media_dir / speech.path).is_file()
        )

    def _job(self, article_id: int, context: JobContext) -> str:
        try:
            return self._render(article_id, context.progress)
        finally:
            with self._lock:
                again = article_id in self._again
                self._again.discard(article_id)
                self._running.discard(article_id)
            if again:
                self.request(article_id)

    def _render(self, article_id: int, progress: Progress) -> str:
        """Render unless up to date; records the outcome on the Speech row, never raises."""
        progress(0.05, "preparing the text")
        with self.sessions() as session:
            article = session.get(Article, article_id)
            if article is None:
                return "article deleted"
            text = article_text(article)
            digest = speech_hash(text, self.engine, self.settings)
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
            if speech is not None and self._up_to_date(speech, digest):
                return "speech up to date"
            if speech is None:
                speech = Speech(article_id=article_id, text_hash=digest, voice=self.engine.name)
                session.add(speech)
            old_path = speech.path
            speech.status, speech.error = SpeechStatus.rendering, None
            session.commit()
        relative = f"{NEWS_DIR}/{digest}.mp3"
        progress(0.2, f"speaking {len(text.split())} words")
        try:
            rendered = render_speech(
                text, self.engine, self.settings, self.ffmpeg, self.settings.media_dir / relative
            )
        except Exception as exc:  # any failure: recorded for the host, the bulletin goes on
            reason = exc.reason if isinstance(exc, LibraryError) else str(exc) or type(exc).__name__
            log.warning("speech of article %d failed: %s", article_id, reason)
            self._finish(article_id, status=SpeechStatus.failed, error=reason)
            return f"speech failed: {reason}"
        progress(0.95, "saving")
        self._finish(
            article_id, status=SpeechStatus.ready, error=None, path=relative, text_hash=digest,
            voice=self.engine.name, duration=rendered.duration,
            loudness_lufs=rendered.loudness_lufs, rendered_at=utcnow(),
        )  # fmt: skip
        if old_path and old_path != relative:
            self._remove_unused(old_path)
        return f"speech ready: {rendered.duration:.1f} s"

    def _finish(self, article_id: int, **values: object) -> None:
        with self.sessions() as session:
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
            if speech is None:  # the article was deleted meanwhile
                return
            for name, value in values.items():
                setattr(speech, name, value)
            session.commit()

    def _remove_unused(self, relative: str) -> None:
        # Two stories with the same words share one file: keep it while any row points to it.
        with self.sessions() as session:
            in_use = session.scalars(select(Speech.id).where(Speech.path == relative)).first()
        if in_use is None:
            with contextlib.suppress(OSError):
                (self.settings.media_dir / relative).unlink()
