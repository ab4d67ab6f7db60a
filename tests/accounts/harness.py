"""The real HTTP app with its lifespan (the whole station) on a temporary folder, with the
harness admin and token in its database, and helpers to act as other hosts."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.config import Settings
from app.main import create_app
from tests.station import ADMIN_TOKEN, bootstrap_admin, seed_news_stings

with warnings.catch_warnings():
    # Starlette's TestClient prefers httpx2, which is not installed; httpx works the same.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PASSWORD = "a long enough password"


def settings_for(root: Path, **overrides: Any) -> Settings:
    """Like the station subprocesses of tests/station.py: no demo music, no sample news, no
    clock bulletins, unless a test asks for them (None: the shipped default)."""
    quiet: dict[str, Any] = {"demo_library": False, "sample_news": False, "jingle_every": 0,
                             "bulletin_minute": -1}  # fmt: skip
    chosen = {key: value for key, value in (quiet | overrides).items() if value is not None}
    return Settings(media_dir=root / "media", state_dir=root / "state",
                    playlists_dir=root / "playlists", **chosen)  # fmt: skip


@contextmanager
def running_app(root: Path, admin: bool = True, **overrides: Any) -> Iterator[TestClient]:
    settings = settings_for(root, **overrides)
    if settings.media_dir.exists():  # (without one, the station leaves its library alone)
        seed_news_stings(settings.media_dir)
    if admin:
        bootstrap_admin(settings.state_dir)
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_host(client: TestClient, name: str, role: str = "host") -> int:
    response = client.post("/api/hosts", headers=bearer(),
                           json={"username": name, "password": PASSWORD, "role": role})  # fmt: skip
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in with the client's cookie jar; returns the CSRF token."""
    response = client.post("/api/session", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def token_for(client: TestClient, name: str, role: str = "host") -> str:
    """A new host `name` and a personal token of theirs, made the way a host would."""
    add_host(client, name, role)
    csrf = sign_in(client, name)
    response = client.post("/api/tokens", json={"name": "script"},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return str(response.json()["token"])
