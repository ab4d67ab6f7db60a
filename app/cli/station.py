"""`radio serve` and `radio scan`: the station itself and its library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:  # imported where used: `radio serve` never shows a progress bar
    from tqdm import tqdm


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="put the station on air (HTTP server)")
    serve.add_argument("--host", help="address to listen on (default: RADIO_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: RADIO_PORT or 8000)")
    serve.set_defaults(run=_serve)
    scan = commands.add_parser("scan", help="scan media/ for added, changed and removed files")
    scan.set_defaults(run=_scan)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {key: getattr(args, key) for key in ("host", "port") if getattr(args, key, None)}
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.stream.http import StationHttpProtocol

    settings = _settings(args)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http=StationHttpProtocol,
        lifespan="on",
        log_level="info",
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run()
    return 0


def _scan(args: argparse.Namespace) -> int:
    from app.db import make_engine, make_sessions, upgrade
    from app.ffmpeg import ffmpeg_path
    from app.library import scan

    settings = _settings(args)
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    with _ProgressBars() as progress:
        report = scan(settings.media_dir, make_sessions(engine), ffmpeg_path(settings.ffmpeg),
                      settings.silence_threshold_db, progress=progress)  # fmt: skip
    print(report)
    for path, reason in report.problems:
        print(f"  unplayable: {path}: {reason}", file=sys.stderr)
    return 0


class _ProgressBars:
    """One tqdm bar per phase of a long job, fed by (phase, done, total) callbacks."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}  # type: ignore[type-arg]

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(phase)
        if bar is None:
            bar = self._bars[phase] = tqdm(total=total, desc=phase, unit="file")
        bar.total = total
        bar.n = done
        bar.refresh()

    def __enter__(self) -> Callable[[str, int, int], None]:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars.values():
            bar.close()
