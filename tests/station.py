"""Running the real station in a subprocess, as `radio serve` does, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# start_station() puts this admin and their personal token into the station's database.
ADMIN_NAME = "admin"
ADMIN_PASSWORD = "test-admin-password"
ADMIN_TOKEN = "radio_test-admin-token-of-the-harness"
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningStation:
    url: str
    port: int
    media: Path
    state: Path
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + path, headers=headers, timeout=10, **kwargs)

    def delete(self, path: str, token: str | None = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
        return httpx.delete(self.url + path, headers=self.auth(token), timeout=10, **kwargs)

    def auth(self, token: str | None = ADMIN_TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def now_playing(self) -> dict[str, Any]:
        response = self.get("/api/now-playing")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        """Poll now-playing until `condition` holds; fail with the last state otherwise."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.now_playing()
            if condition(state):
                return state
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting; now playing: {state}\n{self.log.read_text()}")

    def wait_for_music(self, timeout: float = 20) -> dict[str, Any]:
        return self.wait_for(lambda s: (s["current"] or {}).get("kind") == "music", timeout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_station(root: Path, **settings: Any) -> RunningStation:
    """Start `radio serve` on a free port with media/ and state/ under `root`."""
    media, state = root / "media", root / "state"
    media.mkdir(parents=True, exist_ok=True)
    port = int(settings.pop("port", 0)) or free_port()  # a restart keeps its port
    env = {
        **os.environ,
        "RADIO_MEDIA_DIR": str(media),
        "RADIO_STATE_DIR": str(state),
        "RADIO_PLAYLISTS_DIR": str(root / "playlists"),
        "RADIO_PORT": str(port),
        "RADIO_DEMO_LIBRARY": "false",
        "RADIO_SAMPLE_NEWS": "false",
        "RADIO_BULLETIN_MINUTE": "-1",  # tests ask for news when they want it
        "RADIO_JINGLE_EVERY": "0",
    }
    env.update({f"RADIO_{key.upper()}": str(value) for key, value in settings.items()})
    bootstrap_admin(state, str(settings.get("database_url", "")))
    log = root / "station.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=out, stderr=out
        )
    station = RunningStation(f"http://127.0.0.1:{port}", port, media, state, process, log)
    _wait_until_up(station)
    return station


def bootstrap_admin(state: Path, database_url: str = "") -> None:
    """The admin host and its ADMIN_TOKEN, as `radio hosts add` and `radio tokens create`
    would make them, but with a token the tests know beforehand."""
    from app.accounts.hosts import create_host, find_host
    from app.accounts.tokens import find_token, issue_token
    from app.config import Settings
    from app.db import make_engine, make_sessions, upgrade
    from app.models import HostRole

    engine = make_engine(Settings(state_dir=state, database_url=database_url).sqlalchemy_url)
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


def _wait_until_up(station: RunningStation) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if station.process.poll() is not None:
            raise RuntimeError(f"station exited:\n{station.log.read_text()}")
        try:
            if station.get("/api/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    station.stop()
    raise RuntimeError(f"station did not start:\n{station.log.read_text()}")
