"""Running the real station in a subprocess, as `radio serve` does, for end-to-end tests."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

from tests import database, processes

# start_station() puts this admin and their personal token into the station's database.
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "test-admin-password"
ADMIN_TOKEN = "radio_test-admin-token-of-the-harness"
# A bound on start-up for a station that is stuck, not a measure of a quiet machine: the
# harness waits for the station to say it is on air, and fails at once if it exits.
STARTUP_SECONDS = 180.0

_clients = threading.local()


def http() -> httpx.Client:
    """This thread's HTTP client for talking to stations, as `httpx.get` would but made once:
    every new httpx client loads the CA bundle (30-40 ms of CPU), which a poll every 0.1 s
    paid each time. No connection is kept alive (a restarted or closing station never meets
    a stale one) and no cookie is kept (each request is on its own, as with `httpx.get`)."""
    client = getattr(_clients, "client", None)
    if client is None:
        client = _clients.client = httpx.Client(
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
    return client


# Listening sockets the harness made for its stations, by port. The station serves on an
# inherited copy (`radio serve --fd`); the harness keeps its own until release_ports(), so
# the port stays this test's: no other worker can take it, and a restart gets it back.
_sockets: dict[int, socket.socket] = {}


def reserve_port(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free one), kept until release_ports()."""
    if port in _sockets:
        return _sockets[port]
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    _sockets[int(sock.getsockname()[1])] = sock
    return sock


def drop_waiting_connections(port: int) -> int:
    """Reset the connections waiting on the harness's copy of `port`, not yet taken by the
    station: what the kernel does when a killed station held the only copy. Otherwise a
    request sent just after a kill waits there, and the next station runs it later. Returns
    how many there were."""
    sock = _sockets[port]
    sock.setblocking(False)
    dropped = 0
    try:
        while True:
            try:
                waiting, _ = sock.accept()
            except BlockingIOError:
                return dropped
            waiting.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            waiting.close()  # with no linger: a reset, as from a listening socket closed
            dropped += 1
    finally:
        sock.setblocking(True)


def release_ports() -> None:
    """Close the harness's copies (after a test: its stations are stopped or keep serving)."""
    while _sockets:
        _sockets.popitem()[1].close()


@dataclass
class RunningStation:
    url: str
    port: int
    media: Path
    state: Path
    process: subprocess.Popen[bytes]
    log: Path
    nonce: str = ""  # this launch's RADIO_LAUNCH_NONCE, echoed by its /api/health

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._request("GET", path, **kwargs)

    def post(self, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return self._request("POST", path, headers=self.auth(token), **kwargs)

    def delete(self, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return self._request("DELETE", path, headers=self.auth(token), **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "cookies" in kwargs:  # a client takes no cookies per request: one of its own
            return httpx.request(method, self.url + path, timeout=10, **kwargs)
        return http().request(method, self.url + path, timeout=10, **kwargs)

    def playout_pid(self) -> int:
        """The station's playout process (a child of its web process, by its command line)."""
        pid = processes.playout_pid(self.process.pid)
        assert pid is not None, "the station has no playout process"
        return pid

    def auth(self, token: str | None = ADMIN_TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def new_listener(self) -> str:
        """A listener cookie's value, as the station hands one to a browser opening the
        player (signed by the station: a made-up one is no listener)."""
        response = self.get("/")
        response.raise_for_status()
        return response.cookies["radio_listener"]

    def now_playing(self) -> dict[str, Any]:
        response = self.get("/api/now-playing")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict:
        """Poll now-playing until `condition` holds; fail with the last state otherwise. The
        default bounds background work (a scan, a render) on a busy machine; a test that
        measures how fast something happens passes its own timeout."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.now_playing()
            if condition(state):
                return state
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting; now playing: {state}\n{self.log.read_text()}")

    def wait_for_music(self, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(lambda s: (s["current"] or {}).get("kind") == "music", timeout)

    def wait_for_tracks(self, count: int, timeout: float = 60) -> dict[str, int]:
        """{title: id} of the ready tracks, once there are `count` (the scan runs in the
        background and analyses the files in any order)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get("/api/tracks", params={"limit": 100, "status": "ready"},
                                headers=self.auth())  # fmt: skip
            response.raise_for_status()
            titles = {t["title"]: t["id"] for t in response.json()["items"]}
            if len(titles) >= count:
                return titles
            assert time.monotonic() < deadline, f"only {sorted(titles)} are ready after the scan"
            time.sleep(0.2)

    def air_now(self, track_id: int) -> None:
        """Put a track on air as a host would (queued next, then a skip), once it is."""
        queued = self.post("/api/queue", json={"track_id": track_id, "position": "next"})
        queued.raise_for_status()
        self.post("/api/queue/skip").raise_for_status()
        self.wait_for(lambda s: (s["current"] or {}).get("track_id") == track_id)

    def wait_for_speech(self, timeout: float = STARTUP_SECONDS) -> dict[str, str]:
        """{title: slug} of the published stories, once every one has its speech ready.
        Renders finish in any order: wait for all of them, never for the first few."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get("/api/articles", params={"status": "published", "limit": 100},
                                headers=self.auth())  # fmt: skip
            response.raise_for_status()
            published = response.json()["items"]
            states = {a["title"]: (a.get("speech") or {}).get("status") for a in published}
            if published and all(state == "ready" for state in states.values()):
                return {a["title"]: a["slug"] for a in published}
            assert "failed" not in states.values(), f"a story's speech failed: {states}"
            assert time.monotonic() < deadline, f"speech not ready: {states}"
            time.sleep(0.5)

    def stop(self) -> None:
        end_process(self.process)


def end_process(process: subprocess.Popen[Any]) -> None:
    """Ask a process the tests started to end; kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_station(
    root: Path, *, own_group: bool = False, seed_stings: bool = True, **settings: Any
) -> RunningStation:
    """Start `radio serve` on a free port with media/ and state/ under `root`, and return once
    it is on air. `port=` puts it back on the port of an earlier station (a restart).
    `own_group`: the station and its children (playout, decoders, speech) get a process group
    of their own, so a test can kill them all at once (`os.killpg`), as a crash would.
    `seed_stings=False`: media/ is left as the test made it (see `seed_news_stings`)."""
    media, state = root / "media", root / "state"
    media.mkdir(parents=True, exist_ok=True)
    if seed_stings:
        seed_news_stings(media)
    listening = reserve_port(int(settings.pop("port", 0)))
    port = int(listening.getsockname()[1])
    nonce = secrets.token_hex(8)
    env = station_env(root, **settings, launch_nonce=nonce)
    bootstrap_admin(state, env.get("RADIO_DATABASE_URL", ""))
    log = root / "station.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--fd", str(listening.fileno())]
    with log.open("ab") as out:  # a restart adds to the log of the one before
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out,
                                   pass_fds=[listening.fileno()],
                                   start_new_session=own_group)  # fmt: skip
    station = RunningStation(f"http://127.0.0.1:{port}", port, media, state, process, log, nonce)
    wait_until_on_air(station)
    return station


_stings: Path | None = None  # a media folder holding only the news stings, made once


def seed_news_stings(media: Path) -> None:
    """The news stings (app/news/stings.py) that a station synthesizes at start when media/
    has none, copied in from a set made once per test process: a child with numpy and two
    encodes cost every station about a second of CPU. Tests of what a fresh station makes
    start theirs with `seed_stings=False`."""
    from app.ffmpeg import ffmpeg_path
    from app.news.bulletins import STINGS_DIR
    from app.news.stings import ensure_stings_in_child

    global _stings
    if _stings is None:
        made = Path(tempfile.mkdtemp(prefix="radio-stings-"))
        atexit.register(shutil.rmtree, made, True)
        ensure_stings_in_child(made, ffmpeg_path())
        _stings = made
    if not (media / STINGS_DIR).exists():
        shutil.copytree(_stings / STINGS_DIR, media / STINGS_DIR)


def station_env(root: Path, **settings: Any) -> dict[str, str]:
    """The environment of `radio serve` on media/ and state/ under `root`: no demo music, no
    sample news, no clock bulletins, no jingles, unless `settings` (RADIO_*) ask for them.
    A setting given as None is left unset: the station's shipped default, as `make run`.
    The database is the one the tests run on (tests/database.py) for that state folder."""
    env = {
        **os.environ,
        "RADIO_MEDIA_DIR": str(root / "media"),
        "RADIO_STATE_DIR": str(root / "state"),
        "RADIO_PLAYLISTS_DIR": str(root / "playlists"),
        "RADIO_DEMO_LIBRARY": "false",
        "RADIO_SAMPLE_NEWS": "false",
        "RADIO_BULLETIN_MINUTE": "-1",  # tests ask for news when they want it
        "RADIO_JINGLE_EVERY": "0",
    }
    if database.POSTGRES:
        env["RADIO_DATABASE_URL"] = database.url_for(root / "state")
    for key, value in settings.items():
        if value is None:
            env.pop(f"RADIO_{key.upper()}", None)
        else:
            env[f"RADIO_{key.upper()}"] = str(value)
    return env


def bootstrap_admin(state: Path, database_url: str = "") -> None:
    """The admin host and its ADMIN_TOKEN, as `radio hosts add` and `radio tokens create`
    would make them, but with a token the tests know beforehand."""
    from app.accounts.hosts import create_host, find_host
    from app.accounts.tokens import find_token, issue_token
    from app.db import make_engine, make_sessions, upgrade
    from app.models import HostRole

    engine = make_engine(database_url or database.migrated_url(state))
    try:
        upgrade(engine)
        with make_sessions(engine)() as db:
            admin = find_host(db, ADMIN_NAME) or create_host(
                db, ADMIN_NAME, ADMIN_PASSWORD, HostRole.admin
            )
            if find_token(db, ADMIN_TOKEN) is None:
                issue_token(db, admin, "test harness", secret=ADMIN_TOKEN)
            db.commit()
    finally:
        engine.dispose()


def wait_until_on_air(station: RunningStation) -> None:
    """Until this very launch answers that it is on air (first audio in the stream)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if station.process.poll() is not None:
            raise RuntimeError(
                f"station exited with {station.process.returncode}:\n{station.log.read_text()}"
            )
        try:
            response = station.get("/api/health")
            health = response.json() if response.status_code == 200 else {}
        except (httpx.TransportError, ValueError):
            health = {}
        if health and health.get("launch") != station.nonce:
            station.stop()
            raise RuntimeError(f"{station.url} answers for another launch: {health}")
        if health.get("on_air"):
            return
        time.sleep(0.1)
    station.stop()
    raise RuntimeError(
        f"station not on air within {STARTUP_SECONDS:.0f} s (last health: {health}):\n"
        f"{station.log.read_text()}"
    )
