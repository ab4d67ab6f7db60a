"""The speech worker: a child process that loads the engine, renders, and exits.

The serving process never loads eSpeak NG, numpy or the render code: a render job starts
`python -m app.news.speech.worker`, hands it the texts on stdin (JSON), reads one JSON line
per text on stdout as each file is ready, and the child exits when done. So the memory the
engine and the audio take is given back as soon as the job ends.

Protocol: stdin `{"settings": {...}, "ffmpeg": path, "items": [{"text", "path"}, ...]}`;
stdout first `{"engine": name}` (or `{"error": reason}` and exit 2 when the engine cannot
start), then per item `{"duration", "loudness_lufs"}` or `{"failed": reason}`. SIGTERM
ends the child at once, removing the file it was writing (a station that stops does not
wait for its renders: `SpeechChildren.stop`; what was cut short is rendered at the next
start).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from app.news.speech import RenderedSpeech, SpeechError

if TYPE_CHECKING:
    from app.config import Settings

# What the child needs of the station's settings: the voice, the format and the loudness.
SETTINGS_FIELDS = frozenset(
    {"tts_engine", "tts_voice", "tts_rate_wpm", "tts_pitch", "piper_model",
     "loudness_target_lufs", "sample_rate", "fault_drill_dir"}
)  # fmt: skip
START_SECONDS = 60.0  # for the child to load the engine and say its name
ITEM_SECONDS = 600.0  # for each text (the render's own ffmpeg runs have the same limit)
STOP_SECONDS = 5.0  # for a child told to stop to remove its unfinished file and exit


class SpeechChildren:
    """The speech children a station runs. `stop()` (the station stopping) ends each (it
    removes the file it was writing) and refuses new ones: renders cut short fail with
    SpeechError, and `stopped` tells their callers not to record that as a failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.stopped = False

    def started(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.add(process)
            if not self.stopped:
                return
        process.terminate()  # started as the station stopped

    def ended(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(process)

    def stop(self) -> None:
        """End every running child (blocking, up to STOP_SECONDS, then they are killed)."""
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in running:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def check_engine(settings: Settings) -> str:
    """The configured engine's name, checked in a child process: raises SpeechError with
    the reason when it cannot be used (an unknown voice, a missing Piper model)."""
    with _Child(settings, "", []) as child:
        return child.engine


def render_in_child(
    items: Sequence[tuple[str, Path]], settings: Settings, ffmpeg: str,
    children: SpeechChildren | None = None,
) -> Iterator[RenderedSpeech | SpeechError]:  # fmt: skip
    """Speak each (text, path) into an MP3 at path, all in one child process (one of
    `children`); yields, in order and as each is ready, its RenderedSpeech or the SpeechError
    saying why it failed. Raises SpeechError when the engine cannot start or the child
    dies (or was stopped)."""
    if not items:
        return
    with _Child(settings, ffmpeg, items, children) as child:
        for _ in items:
            line = child.read_line(ITEM_SECONDS)
            if "failed" in line:
                yield SpeechError(str(line["failed"]))
            else:
                yield RenderedSpeech(float(line["duration"]), float(line["loudness_lufs"]))


class _Child:
    def __init__(self, settings: Settings, ffmpeg: str, items: Sequence[tuple[str, Path]],
                 children: SpeechChildren | None = None) -> None:  # fmt: skip
        self._children = children
        self._request = json.dumps({
            "settings": settings.model_dump(include=set(SETTINGS_FIELDS), mode="json"),
            "ffmpeg": ffmpeg,
            "items": [{"text": text, "path": str(path)} for text, path in items],
        }).encode()  # fmt: skip
        self.engine = ""

    def __enter__(self) -> _Child:
        if self._children is not None and self._children.stopped:
            raise SpeechError("the station is stopping")
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "app.news.speech.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )  # fmt: skip
        if self._children is not None:
            self._children.started(self._process)
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._stdout = self._process.stdout
        # The request is small; a child that dies before reading it is reported below.
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.write(self._request)
            self._process.stdin.close()
        try:
            first = self.read_line(START_SECONDS)
            if "error" in first:
                raise SpeechError(str(first["error"]))
        except BaseException:
            self.__exit__()
            raise
        self.engine = str(first["engine"])
        return self

    def read_line(self, timeout: float) -> dict[str, Any]:
        timer = threading.Timer(timeout, self._process.kill)
        timer.start()
        try:
            line = self._stdout.readline()
        finally:
            timer.cancel()
        if not line:
            self._process.wait()
            self._stderr.seek(0)
            lines = [x for x in self._stderr.read().decode(errors="replace").splitlines() if x]
            why = lines[-1] if lines else f"exit status {self._process.returncode}"
            raise SpeechError(f"the speech worker stopped: {why}")
        found: dict[str, Any] = json.loads(line)
        return found

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._children is not None:
            self._children.ended(self._process)
        self._stdout.close()
        self._stderr.close()


def _serve(request: dict[str, Any], out: IO[str]) -> int:
    from app.config import Settings
    from app.news.speech import make_engine

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        settings = Settings(**request["settings"])
        engine = make_engine(settings)
    except Exception as exc:  # a configuration error: the parent says it to the user
        say({"error": str(exc) or type(exc).__name__})
        return 2
    say({"engine": engine.name})
    if not request["items"]:  # a check of the engine: no need for the render code
        return 0
    from app import drills
    from app.library.errors import LibraryError
    from app.news.speech.audio import render_speech

    for item in request["items"]:
        try:
            drills.check(settings.fault_drill_dir, "speech")  # the engine fails (a drill)
            rendered = render_speech(item["text"], engine, settings, request["ffmpeg"],
                                     Path(item["path"]))  # fmt: skip
        except Exception as exc:  # recorded for the host by the parent; go on with the rest
            reason = exc.reason if isinstance(exc, LibraryError) else str(exc)
            say({"failed": reason or type(exc).__name__})
        else:
            say({"duration": rendered.duration, "loudness_lufs": rendered.loudness_lufs})
    return 0


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the render: its unfinished file is removed


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    request = json.load(sys.stdin)
    # Our answers get a stdout of their own: whatever a C library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        return _serve(request, out)
    finally:
        out.close()


if __name__ == "__main__":
    sys.exit(main())
