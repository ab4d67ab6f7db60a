"""Listener identities: cookies the station signs with its own key, and the key itself."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.db import SessionFactory
from app.listeners.identity import COOKIE_NAME, KEY_FILE, ListenerKeys, listener_hash
from app.models import ListenerName
from tests.accounts.harness import running_app

ID = "ann-listener-id-000001"


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    keys = ListenerKeys.load(state)
    key_file = state / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temp file left behind
    cookie = keys.sign(ID)
    again = ListenerKeys.load(state)  # a restart: the same key, so the same cookies hold
    assert again.verify(cookie) == ID
    assert key_file.read_text().strip() not in repr(again)  # never in a log or traceback
    key_file.chmod(0o644)
    ListenerKeys.load(state)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_stations_starting_at_once_make_one_key(tmp_path: Path) -> None:
    for attempt in range(5):  # starts lined up on a barrier, in a fresh folder each time
        state = tmp_path / f"state-{attempt}"
        barrier = threading.Barrier(8)

        def start(state: Path = state, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return ListenerKeys.load(state).sign(ID)

        with ThreadPoolExecutor(8) as pool:
            cookies = list(pool.map(lambda _: start(), range(8)))
        assert len(set(cookies)) == 1
        assert [p.name for p in state.iterdir()] == [KEY_FILE]


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key")
    with pytest.raises(ValueError, match=f"{KEY_FILE} is not a listener key.*delete it"):
        ListenerKeys.load(tmp_path)


def test_only_cookies_this_station_signed_are_identities(tmp_path: Path) -> None:
    keys = ListenerKeys.load(tmp_path / "ours")
    cookie = keys.sign(ID)
    identifier, _, signature = cookie.rpartition(".")
    assert keys.verify(cookie) == ID
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        ID,  # unsigned, as before the station signed them
        f"{identifier}.{flipped}",  # signature changed
        f"bee-listener-id-000002.{signature}",  # another id under Ann's signature
        ListenerKeys.load(tmp_path / "theirs").sign(ID),  # another station's cookie
        f"{ID}.",
        f"bad id!.{signature}",
        cookie + "x" * 100,
        "",
        None,
    ]
    assert [keys.verify(value) for value in forged] == [None] * len(forged)


def test_a_cookie_from_before_signing_keeps_a_known_listener_and_nobody_else(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    old, made_up = "old-listener-from-2025", "made-up-listener-0001"
    with sessions.begin() as db:  # Ann chose a name before the upgrade
        db.add(ListenerName(listener=listener_hash(old), display_name="Ann", name_key="ann"))
    with running_app(tmp_path, admin=False) as client:

        def cookie(value: str) -> dict[str, str]:
            return {"Cookie": f"{COOKIE_NAME}={value}"}

        resigned = client.get("/", headers=cookie(old)).cookies[COOKIE_NAME]
        you = client.get("/api/listeners/board", headers=cookie(resigned)).json()["you"]
        unsigned = client.get("/api/listeners/board", headers=cookie(old)).json()["you"]
        fresh = client.get("/", headers=cookie(made_up)).cookies[COOKIE_NAME]
        keys = ListenerKeys.load(tmp_path / "state")
    assert keys.verify(resigned) == old
    assert you["name"] == "Ann"
    assert unsigned is None  # an unsigned cookie is nobody until the page signs it
    assert keys.verify(fresh) not in (None, made_up)
