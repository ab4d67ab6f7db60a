"""Speech of articles: real eSpeak NG, real ffmpeg, real SQLite; files decoded and measured."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.config import Settings
from app.core.jobs import Job, JobContext, JobRegistry, JobState, Work
from app.db import SessionFactory
from app.ffmpeg import ffmpeg_path
from app.models import Article, ArticleStatus, Speech, SpeechStatus, utcnow
from app.news.render import SpeechRenderer
from app.news.speakable import speakable_text
from app.news.speech import SpeechEngine, SpeechError, make_engine
from app.news.speech.espeak import EspeakEngine
from tests.listen import RATE, decode, integrated_loudness

STORY = """The city council voted on Tuesday evening to reopen the old river bridge to cyclists
and pedestrians after almost two years of repairs. Engineers found that the steel supports
had corroded far more than the original survey suggested.

The mayor told reporters that the final cost came to 4.2 million euros, well above the first
estimate, and that the extra money was taken from the road maintenance budget. Opposition
members asked why the council had not been told sooner.

Local shop owners on both banks welcomed the news. Several said that their takings had fallen
sharply while the crossing was closed, because customers from the other side of the river
simply stopped coming. A baker near the northern end said she hoped things would now return
to normal before the summer.

The bridge reopens on Saturday morning with a small ceremony, and cars will be allowed back
in the autumn once the new surface has settled."""


class RecordingJobs(JobRegistry):
    """The real registry, remembering what was submitted so a test can watch those jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[str] = []
        self.current = threading.local()

    def submit(self, kind: str, work: Work) -> Job:
        recorded = threading.Event()  # the work may start before submit returns
        job_id: list[str] = []

        def gated(context: JobContext) -> str:
            recorded.wait(10)
            self.current.job_id = job_id[0]
            return work(context)

        job = super().submit(kind, gated)
        job_id.append(job.id)
        self.submitted.append(job.id)
        recorded.set()
        return job

    def current_job(self) -> Job | None:
        """The job running in this thread."""
        return self.get(self.current.job_id)

    def wait(self, timeout: float = 60.0) -> list[Job]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = [self.get(job_id) for job_id in self.submitted]
            if all(job is not None and job.finished for job in jobs):
                return [job for job in jobs if job is not None]
            time.sleep(0.02)
        raise AssertionError("speech jobs did not finish")


class BrokenEngine:
    name = "broken"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        raise RuntimeError("the voice has a cold")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(media_dir=tmp_path / "media", state_dir=tmp_path / "state")


@pytest.fixture
def jobs() -> Iterator[RecordingJobs]:
    registry = RecordingJobs()
    yield registry
    registry.shutdown()


def renderer_for(
    settings: Settings,
    sessions: SessionFactory,
    jobs: JobRegistry,
    engine: SpeechEngine | None = None,
) -> SpeechRenderer:
    return SpeechRenderer(settings, sessions, ffmpeg_path(), jobs, engine=engine)


def add_article(
    sessions: SessionFactory,
    body: str = STORY,
    status: ArticleStatus = ArticleStatus.published,
    slug: str = "bridge",
) -> int:
    with sessions() as session:
        article = Article(
            slug=slug, title="Old river bridge to reopen", author="Sam Reporter", body=body,
            status=status, publish_at=utcnow(),
        )  # fmt: skip
        session.add(article)
        session.commit()
        return article.id


def edit_body(sessions: SessionFactory, article_id: int, body: str) -> None:
    with sessions() as session:
        article = session.get(Article, article_id)
        assert article is not None
        article.body = body
        session.commit()


def speech_row(sessions: SessionFactory, article_id: int) -> Speech:
    with sessions() as session:
        return session.scalars(select(Speech).where(Speech.article_id == article_id)).one()


def test_a_story_is_read_at_a_plausible_pace_at_the_station_loudness(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    article_id = add_article(sessions)
    speech = renderer_for(settings, sessions, jobs).render_now(article_id)

    assert speech.status is SpeechStatus.ready
    assert speech.error is None
    path = settings.media_dir / (speech.path or "")
    assert path.parent == settings.media_dir / "news"
    assert path.name == f"{speech.text_hash}.mp3"
    # Measured as listeners hear it (both channels), not with the renderer's own analyse().
    stereo, errors = decode(path.read_bytes(), channels=2)
    assert errors == ""
    seconds = len(stereo) / RATE
    words = len(speakable_text("Old river bridge to reopen", "Sam Reporter", STORY).split())
    words_a_minute = words / seconds * 60
    print(f"{words} words in {seconds:.1f} s: {words_a_minute:.0f} a minute")
    assert 150 <= words_a_minute <= 200
    assert abs(integrated_loudness(stereo) - settings.loudness_target_lufs) <= 1.0
    assert speech.duration == pytest.approx(seconds, abs=0.1)
    probe = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    assert re.search(r"Audio: mp3.*44100 Hz, stereo.*128 kb/s", probe), probe


def test_a_different_loudness_target_is_met_too(
    tmp_path: Path, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    settings = Settings(media_dir=tmp_path / "media", loudness_target_lufs=-23.0)
    article_id = add_article(sessions, body="A short story in two sentences. That is all.")
    speech = renderer_for(settings, sessions, jobs).render_now(article_id)
    stereo, _ = decode((settings.media_dir / (speech.path or "")).read_bytes(), channels=2)
    assert abs(integrated_loudness(stereo) - -23.0) <= 1.0


def test_unchanged_text_is_not_rendered_again_and_an_edit_replaces_the_file(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    renderer = renderer_for(settings, sessions, jobs)
    article_id = add_article(sessions, body="The first version of the story.")
    first = renderer.render_now(article_id)
    first_file = settings.media_dir / (first.path or "")
    mtime = first_file.stat().st_mtime_ns

    again = renderer.render_now(article_id)
    renderer.request(article_id)
    assert again.path == first.path
    assert again.rendered_at == first.rendered_at
    assert first_file.stat().st_mtime_ns == mtime
    assert jobs.submitted == []  # nothing to do, so no background job either
    assert renderer.render_pending() == 0

    edit_body(sessions, article_id, "The second, corrected version of the story.")
    edited = renderer.render_now(article_id)
    assert edited.status is SpeechStatus.ready
    assert edited.path != first.path
    assert renderer.speech_file(article_id) == settings.media_dir / (edited.path or "")
    assert not first_file.exists()
    assert [p.name for p in (settings.media_dir / "news").iterdir()] == [f"{edited.text_hash}.mp3"]


def test_a_file_two_stories_share_stays_while_one_of_them_uses_it(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    renderer = renderer_for(settings, sessions, jobs)
    one = add_article(sessions, body="Same words.", slug="one")
    two = add_article(sessions, body="Same words.", slug="two")
    shared = renderer.render_now(one).path
    assert renderer.render_now(two).path == shared
    edit_body(sessions, one, "Different words now.")
    renderer.render_now(one)
    assert renderer.speech_file(two) == settings.media_dir / (shared or "")


def test_a_failing_engine_marks_the_speech_failed_with_the_reason_and_raises_nothing(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    renderer = renderer_for(settings, sessions, jobs, engine=BrokenEngine())
    article_id = add_article(sessions)
    renderer.request(article_id)
    [job] = jobs.wait()

    assert job.state is JobState.done
    assert "the voice has a cold" in job.message
    speech = speech_row(sessions, article_id)
    assert speech.status is SpeechStatus.failed
    assert speech.error == "the voice has a cold"
    assert renderer.speech_file(article_id) is None
    assert renderer.render_now(article_id).status is SpeechStatus.failed


def test_background_renders_report_progress_and_cover_published_and_scheduled_stories(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    seen: list[tuple[float, str]] = []
    espeak = EspeakEngine()

    class WatchedEngine:
        name = espeak.name

        def synthesize(self, text: str) -> tuple[np.ndarray, int]:
            # While the engine speaks, the host polling the job sees how far it got.
            job = jobs.current_job()
            assert job is not None
            seen.append((job.progress, job.message))
            return espeak.synthesize(text)

    renderer = renderer_for(settings, sessions, jobs, engine=WatchedEngine())
    published = add_article(sessions, slug="a")
    scheduled = add_article(sessions, slug="b", status=ArticleStatus.scheduled, body="Later.")
    draft = add_article(sessions, slug="c", status=ArticleStatus.draft, body="Not yet.")

    assert renderer.render_pending() == 2
    finished = jobs.wait()

    assert [job.state for job in finished] == [JobState.done, JobState.done]
    assert all(job.progress == 1.0 and job.kind == "speech" for job in finished)
    assert all(0 < progress < 1 and "speaking" in message for progress, message in seen)
    assert len(seen) == 2
    for article_id in (published, scheduled):
        assert speech_row(sessions, article_id).status is SpeechStatus.ready
        assert renderer.speech_file(article_id) is not None
    assert renderer.speech_file(draft) is None
    assert renderer.render_pending() == 0


def test_an_edit_during_a_render_is_rendered_afterwards(
    settings: Settings, sessions: SessionFactory, jobs: RecordingJobs
) -> None:
    espeak = EspeakEngine()
    speaking, release = threading.Event(), threading.Event()

    class SlowEngine:
        name = espeak.name

        def synthesize(self, text: str) -> tuple[np.ndarray, int]:
            speaking.set()
            release.wait(10)
            return espeak.synthesize(text)

    renderer = renderer_for(settings, sessions, jobs, engine=SlowEngine())
    article_id = add_article(sessions, body="Before the edit.")
    renderer.request(article_id)
    assert speaking.wait(10)
    edit_body(sessions, article_id, "After the edit.")
    renderer.request(article_id)  # while the first render runs
    release.set()
    deadline = time.monotonic() + 30
    while len(jobs.submitted) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    jobs.wait()

    speech = speech_row(sessions, article_id)
    assert speech.status is SpeechStatus.ready
    assert renderer.speech_file(article_id) is not None
    assert renderer.render_pending() == 0  # the file matches the edited text
    assert len(jobs.submitted) == 2


def test_configuration_errors_are_clear_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no voice 'xx-none'"):
        make_engine(Settings(tts_voice="xx-none"))
    with pytest.raises(SpeechError, match="RADIO_PIPER_MODEL is not set"):
        make_engine(Settings(tts_engine="piper"))
    with pytest.raises(SpeechError, match="model not found"):
        make_engine(Settings(tts_engine="piper", piper_model=tmp_path / "missing.onnx"))
