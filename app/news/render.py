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
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import select

from app.config import Settings
from app.core.jobs import JobContext, JobRegistry
from app.db import SessionFactory
from app.library.errors import LibraryError
from app.models import Article, ArticleStatus, Speech, SpeechStatus, utcnow
from app.news.speakable import speakable_text
from app.news.speech import RenderedSpeech, SpeechEngine
from app.news.speech.worker import SpeechChildren, check_engine, render_in_child
from app.problems import Problems

log = logging.getLogger(__name__)

NEWS_DIR = "news"  # under media_dir
SPEECH_PROBLEM = "speech:"  # + the article's id: its speech failed

Progress = Callable[[float, str], None]


def speech_hash(text: str, voice: str, settings: Settings) -> str:
    """What the audio depends on: the words, the voice (an engine's `name`) and the
    station's format and loudness."""
    key = f"{voice}\n{settings.loudness_target_lufs}\n{settings.sample_rate}\n{text}"
    return hashlib.sha256(key.encode()).hexdigest()


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
        problems: Problems | None = None,
    ) -> None:
        self.settings = settings
        self.problems = problems or Problems()
        self.sessions = sessions
        self.ffmpeg = ffmpeg
        self.jobs = jobs
        # Checked now, not on first use: a misconfigured engine stops the station at start-up.
        # Without an engine given, speech is rendered in child processes: this one never
        # loads the engine, and its name (the cache key's voice) comes from a child too.
        self.engine = engine
        self.voice = engine.name if engine is not None else check_engine(settings)
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._again: set[int] = set()  # edited while rendering: render once more afterwards
        self.children = SpeechChildren()

    @property
    def rendering(self) -> int:
        """Articles whose speech is being rendered or waits its turn."""
        with self._lock:
            return len(self._running)

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

    def retry_failed(self) -> int:
        """Render again the stories whose speech failed (the problems still open); a story
        no longer published or scheduled has no problem any more. Returns how many."""
        keys = self.problems.open_keys(SPEECH_PROBLEM)
        if not keys:
            return 0
        wanted = (ArticleStatus.published, ArticleStatus.scheduled)
        retried = 0
        for key in keys:
            article_id = int(key.removeprefix(SPEECH_PROBLEM))
            with self.sessions() as session:
                article = session.get(Article, article_id)
                status = article.status if article is not None else None
            if status not in wanted:
                self.problems.clear(key, "no longer published")
            else:
                retried += self._request(article_id)
        return retried

    def stop(self) -> None:
        """The station stops: end the renders under way (blocking, a few seconds at most).
        Their stories keep their state and are rendered at the next start."""
        self.children.stop()

    def render_now(self, article_id: int) -> Speech:
        """Render in this thread (tests, the CLI); returns the article's Speech row."""
        self._render(article_id, lambda fraction, message: None)
        with self.sessions() as session:
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).one()
            return speech

    def speak(self, items: Sequence[tuple[str, Path]]) -> Iterator[RenderedSpeech | Exception]:
        """Speak each (text, path) into an MP3 at path: with the engine given, here; else
        in one child process that exits when done. Yields per item, as it is ready, its
        result or why it failed; raises SpeechError when the engine cannot start."""
        if self.engine is None:
            yield from render_in_child(items, self.settings, self.ffmpeg, self.children)
            return
        from app.news.speech.audio import render_speech

        for text, path in items:
            try:
                yield render_speech(text, self.engine, self.settings, self.ffmpeg, path)
            except Exception as exc:
                yield exc

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
            digest = speech_hash(article_text(article), self.voice, self.settings)
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
            if speech is not None and self._up_to_date(speech, digest):
                return False
            if speech is None:
                speech = Speech(article_id=article_id, text_hash=digest, voice=self.voice)
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
            if again and not self.children.stopped:
                self.request(article_id)

    def _render(self, article_id: int, progress: Progress) -> str:
        """Render unless up to date; records the outcome on the Speech row, never raises."""
        progress(0.05, "preparing the text")
        with self.sessions() as session:
            article = session.get(Article, article_id)
            if article is None:
                self.problems.clear(f"{SPEECH_PROBLEM}{article_id}", "the story was deleted")
                return "article deleted"
            text = article_text(article)
            title = article.title
            digest = speech_hash(text, self.voice, self.settings)
            speech = session.scalars(select(Speech).where(Speech.article_id == article_id)).first()
            if speech is not None and self._up_to_date(speech, digest):
                return "speech up to date"
            if speech is None:
                speech = Speech(article_id=article_id, text_hash=digest, voice=self.voice)
                session.add(speech)
            old_path = speech.path
            speech.status, speech.error = SpeechStatus.rendering, None
            session.commit()
        relative = f"{NEWS_DIR}/{digest}.mp3"
        progress(0.2, f"speaking {len(text.split())} words")
        try:
            [rendered] = self.speak([(text, self.settings.media_dir / relative)])
            if isinstance(rendered, Exception):
                raise rendered
        except Exception as exc:  # any failure: recorded for the host, the bulletin goes on
            if self.children.stopped:  # cut short by the station stopping: not a failure
                return "stopped with the station: rendered at the next start"
            reason = exc.reason if isinstance(exc, LibraryError) else str(exc) or type(exc).__name__
            what = (
                f"The speech of story {article_id} ({title!r}) could not be rendered: "
                "bulletins leave it out, and it is tried again every half minute"
            )
            self.problems.report(f"{SPEECH_PROBLEM}{article_id}", what, reason)
            self._finish(article_id, status=SpeechStatus.failed, error=reason)
            return f"speech failed: {reason}"
        progress(0.95, "saving")
        self._finish(
            article_id, status=SpeechStatus.ready, error=None, path=relative, text_hash=digest,
            voice=self.voice, duration=rendered.duration,
            loudness_lufs=rendered.loudness_lufs, rendered_at=utcnow(),
        )  # fmt: skip
        self.problems.clear(f"{SPEECH_PROBLEM}{article_id}", "rendered")
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
