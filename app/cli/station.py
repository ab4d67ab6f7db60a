"""`radio serve` and `radio scan`: the station itself and its library."""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:  # imported where used: `radio serve` never shows a progress bar
    from tqdm import tqdm

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="put the station on air (HTTP server)")
    serve.add_argument("--host", help="address to listen on (default: RADIO_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int,
                       help="port (default: RADIO_PORT or 8000; 0: any free port)")  # fmt: skip
    serve.add_argument("--fd", type=int, metavar="N",
                       help="serve on the inherited listening socket N (socket activation, "
                            "a test harness) instead of binding host and port")  # fmt: skip
    serve.set_defaults(run=_serve)
    scan = commands.add_parser("scan", help="scan media/ for added, changed and removed files")
    scan.set_defaults(run=_scan)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {key: value for key in ("host", "port")
                 if (value := getattr(args, key, None)) is not None}  # fmt: skip
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    """The lock on the state folder first, then the socket, and only then the database and
    the station: a second station on the same state, or on a taken port, stops at once."""
    from app.logs import configure as configure_logging
    from app.statelock import StateInUse, StateLock

    settings = _settings(args)
    configure_logging(settings.log_format, settings.secret_values())
    try:
        lock = StateLock.acquire(settings.state_dir, settings.sqlalchemy_url)
    except StateInUse as error:
        print(f"radio serve: {error}", file=sys.stderr)
        return 1
    with lock:
        try:
            sock = _listening_socket(settings, args.fd)
        except OSError as error:
            where = f"file descriptor {args.fd}" if args.fd is not None else (
                f"{settings.host}:{settings.port}")  # fmt: skip
            print(f"radio serve: cannot listen on {where}: {error.strerror or error}",
                  file=sys.stderr)  # fmt: skip
            return 1
        host, port = sock.getsockname()[:2]
        settings = settings.model_copy(update={"host": host, "port": port})
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        lock.record(url=url)
        log.info("listening on %s (state folder %s)", url, settings.state_dir)

        import uvicorn

        from app.api.live_ws import MAX_MESSAGE_BYTES
        from app.main import create_app
        from app.stream.http import KEEP_ALIVE_SECONDS, StationHttpProtocol

        config = uvicorn.Config(
            create_app(settings, lock),
            http=StationHttpProtocol,
            lifespan="on",
            log_config=None,  # its loggers go to ours (app.logs): one format, secrets hidden
            log_level="info",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,  # the head's own limits: StationHttpProtocol
            timeout_graceful_shutdown=3,
            # The one WebSocket, going live from the browser: compressed audio in frames of
            # bounded size: the route refuses one over MAX_MESSAGE_BYTES with a sentence, the server
            # closes at twice that before reading it whole. Deflate would gain nothing.
            ws_max_size=2 * MAX_MESSAGE_BYTES,
            ws_per_message_deflate=False,
        )
        # Ctrl-C: the server stops in order, then raises KeyboardInterrupt again once done.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
    return 0


def _listening_socket(settings: Settings, fd: int | None) -> socket.socket:
    """The inherited socket `fd`, or a new one bound to the settings' host and port."""
    if fd is not None:
        sock = socket.socket(fileno=fd)  # family and type come from the descriptor
        if sock.type != socket.SOCK_STREAM:
            raise OSError(f"file descriptor {fd} is not a stream socket")
        return sock
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


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
