"""Speech benchmark: how fast the news desk turns words into on-air audio.

1. Rendering speed of one long story, in seconds of audio per second of CPU (this process
   plus its ffmpeg children): the eSpeak NG synthesis alone, and the whole render (synthesis,
   loudness measurement, limiter, MP3 encode at 128 kbps and the analysis of the file).
2. Publishing 100 articles of about 150 words with audio: a real migrated SQLite database,
   the station's SpeechRenderer on its JobRegistry (the station's two workers), from
   `render_pending()` until every story's speech is ready on disk.

    python -m tests.bench.speech [--articles 100] [--words 150]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.config import Settings
from app.core.jobs import JobRegistry
from app.db import SessionFactory, make_engine, make_sessions, upgrade
from app.ffmpeg import ffmpeg_path
from app.models import Article, ArticleStatus, Speech, SpeechStatus, utcnow
from app.news.render import SpeechRenderer
from app.news.speech import make_engine as make_speech_engine
from app.news.speech.audio import render_speech
from tests.bench.common import machine_info, markdown_table, write_results

TIMEOUT_SECONDS = 1800.0

_SUBJECTS = ["The city council", "The regional health board", "A local bakery", "The harbour "
             "master", "Rail operators", "The university", "Farmers in the valley",
             "The football club", "Residents of the old town", "The weather service"]  # fmt: skip
_VERBS = ["announced on Tuesday", "confirmed this morning", "warned", "said in a statement",
          "told reporters", "decided after a long debate"]  # fmt: skip
_OBJECTS = ["that the river bridge will reopen to cyclists before the summer",
            "that ticket prices rise by 3.5% from the first of May",
            "that the new library wing will cost about €4 million",
            "that the night trains return to the timetable at 23:30",
            "that volunteers planted two thousand trees along the old railway line",
            "that the market square is closed for repairs until further notice",
            "that more than 1,200 people signed the petition within a week",
            "that the ferry service runs every 20 minutes during the festival"]  # fmt: skip


def story(rng: random.Random, words: int) -> str:
    """Plausible news prose of about `words` words, in paragraphs of three sentences."""
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}.")
    return "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user and system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def speed(settings: Settings, words: int, repeat: int) -> dict[str, Any]:
    engine = make_speech_engine(settings)
    text = story(random.Random(7), words)
    engine.synthesize("Warm up.")  # loads the voice data once, as a running station has
    synth_audio = synth_cpu = render_audio = render_cpu = 0.0
    for n in range(repeat):
        start = cpu_seconds()
        samples, rate = engine.synthesize(text)
        synth_cpu += cpu_seconds() - start
        synth_audio += len(samples) / rate
        start = cpu_seconds()
        rendered = render_speech(
            text, engine, settings, ffmpeg_path(), settings.media_dir / f"{n}.mp3"
        )
        render_cpu += cpu_seconds() - start
        render_audio += rendered.duration
    return {
        "words": len(text.split()),
        "audio_s": round(render_audio / repeat, 1),
        "synthesis_audio_s_per_cpu_s": round(synth_audio / synth_cpu, 1),
        "render_audio_s_per_cpu_s": round(render_audio / render_cpu, 1),
    }


def add_articles(sessions: SessionFactory, count: int, words: int) -> None:
    rng = random.Random(1)
    with sessions() as session:
        session.add_all(
            Article(slug=f"story-{n}", title=f"Story number {n} of the day", author="Bench Desk",
                    body=story(rng, words), status=ArticleStatus.published, publish_at=utcnow())
            for n in range(count)
        )  # fmt: skip
        session.commit()


def ready_count(sessions: SessionFactory) -> tuple[int, int]:
    with sessions() as session:
        ready = session.scalar(
            select(func.count()).select_from(Speech).where(Speech.status == SpeechStatus.ready)
        )
        failed = session.scalar(
            select(func.count()).select_from(Speech).where(Speech.status == SpeechStatus.failed)
        )
    return ready or 0, failed or 0


def publish(settings: Settings, count: int, words: int) -> dict[str, Any]:
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    sessions = make_sessions(engine)
    add_articles(sessions, count, words)
    jobs = JobRegistry()
    try:
        renderer = SpeechRenderer(settings, sessions, ffmpeg_path(), jobs)
        started, cpu_start = time.perf_counter(), cpu_seconds()
        requested = renderer.render_pending()
        ready = failed = 0
        while ready + failed < requested:
            if time.perf_counter() - started > TIMEOUT_SECONDS:
                raise TimeoutError(f"only {ready} of {requested} stories rendered")
            time.sleep(0.05)
            ready, failed = ready_count(sessions)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_start
        with sessions() as session:
            audio = session.scalar(select(func.sum(Speech.duration))) or 0.0
    finally:
        jobs.shutdown()
        engine.dispose()
    return {
        "articles": count,
        "ready": ready,
        "failed": failed,
        "wall_s": round(elapsed, 1),
        "cpu_s": round(cpu, 1),
        "audio_s": round(audio, 1),
        "per_article_s": round(elapsed / max(count, 1), 2),
    }


def report(result: dict[str, Any], info: dict[str, Any]) -> str:
    speed_, batch = result["speed"], result["publish"]
    rows = [
        ["eSpeak NG synthesis", f"{speed_['synthesis_audio_s_per_cpu_s']:.0f} s audio / CPU s"],
        ["whole render (normalised MP3)",
         f"{speed_['render_audio_s_per_cpu_s']:.0f} s audio / CPU s"],
        [f"{batch['articles']} articles of ~{result['words']} words with audio",
         f"{batch['wall_s']:.1f} s wall, {batch['cpu_s']:.1f} s CPU "
         f"({batch['audio_s'] / 60:.0f} min of audio, {batch['ready']} ready, "
         f"{batch['failed']} failed)"],
    ]  # fmt: skip
    return "\n".join([
        f"Machine: {info['date']} · {info['nproc']} CPU ({info['cpu_model']}) · "
        f"{info['mem_total_mb']} MB RAM · kernel {info['kernel']} · Python {info['python']}",
        f"Speed measured on a story of {speed_['words']} words ({speed_['audio_s']:.0f} s).",
        "",
        markdown_table(["measure", "result"], rows),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3, help="renders of the long story")
    args = parser.parse_args(argv)
    if not 1 <= args.articles <= 2000 or not 10 <= args.words <= 3000 or not 1 <= args.repeat <= 20:
        parser.error("--articles: 1 to 2000; --words: 10 to 3000; --repeat: 1 to 20")
    with tempfile.TemporaryDirectory(prefix="radio-bench-speech-") as tmp:
        root = Path(tmp)
        settings = Settings(media_dir=root / "media", state_dir=root / "state", _env_file=None)  # type: ignore[call-arg]
        result = {
            "words": args.words,
            "speed": speed(settings, 1000, args.repeat),
            "publish": publish(settings, args.articles, args.words),
        }
    info = machine_info()
    path = write_results("speech", {"benchmark": "speech", "machine": info, **result})
    print(report(result, info))
    print(f"\nresults: {path}")
    return 0 if result["publish"]["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
