"""Nothing acknowledged is lost: a scripted day of host and listener actions against the real
station over HTTP, with the whole station (web process, playout process, decoders, speech
renders) killed with SIGKILL at 20 random moments and started again each time.

After every restart: the database passes its checker (SQLite's `PRAGMA integrity_check`,
PostgreSQL's amcheck on every index), no temp file the killed
station left is still there, and what the station holds is exactly what the client was told
was done (every 2xx it received), give or take the one request that was in flight at the
kill. The oracle is the test's own model of the day, compared with the database read
directly (sqlite3 or psycopg) and with the files on disk, not with anything the station says
about itself.
"""

from __future__ import annotations

import copy
import hashlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import database
from tests.audio import write_tone
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, RunningStation, drop_waiting_connections, start_station

SEED = 20261130
KILLS = 20
UPLOAD_KILLS = 5  # of the kills, this many are aimed at uploads while their body is sent
STEPS = 160
UPLOAD_CHUNK = 32 * 1024
UPLOAD_PAUSE = 0.01  # between chunks: a 1.5 MB upload takes about half a second to send
LISTENERS = 3
# What the station writes as temp files, whichever layer writes them.
TEMP_MARKS = (".radio-tmp-", ".upload-")

pytestmark = [pytest.mark.long, pytest.mark.timeout(900)]


@dataclass
class Day:
    """The test's own model of what the station was told, keyed by names the test chose."""

    articles: dict[str, tuple[str, str]] = field(default_factory=dict)  # title: (body, status)
    playlists: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    ratings: dict[tuple[str, int], int] = field(default_factory=dict)  # (title, listener)
    comments: dict[str, list[str]] = field(default_factory=dict)  # title: bodies
    names: dict[int, str] = field(default_factory=dict)  # listener: display name
    uploads: dict[str, str] = field(default_factory=dict)  # media path: sha256

    def view(self) -> dict[str, Any]:
        """What the database and media/ should show for this state."""
        ratings: dict[str, list[int]] = {}
        for (title, _), stars in self.ratings.items():
            ratings.setdefault(title, []).append(stars)
        return {
            "articles": dict(self.articles),
            "playlists": dict(self.playlists),
            "ratings": {title: sorted(stars) for title, stars in ratings.items()},
            "comments": {t: sorted(b) for t, b in self.comments.items() if b},
            "names": sorted(self.names.values()),
            "uploads": dict(self.uploads),
        }


@dataclass
class Step:
    kind: str
    args: dict[str, Any]

    def possible(self, day: Day) -> bool:
        """Whether what the step acts on exists (it may not when a step it builds on was in
        flight at a kill and not done)."""
        a = self.args
        if self.kind in ("edit", "publish"):
            return a["title"] in day.articles
        if self.kind in ("rate", "comment"):
            return day.articles.get(a["title"], ("", ""))[1] == "published"
        if self.kind in ("describe", "entries"):
            return a["name"] in day.playlists
        return True

    def apply(self, day: Day) -> None:
        """The change this step makes when the station acknowledges it."""
        a = self.args
        if self.kind == "article":
            day.articles[a["title"]] = (a["body"], "draft")
        elif self.kind == "edit":
            day.articles[a["title"]] = (a["body"], day.articles[a["title"]][1])
        elif self.kind == "publish":
            day.articles[a["title"]] = (day.articles[a["title"]][0], "published")
        elif self.kind == "playlist":
            day.playlists[a["name"]] = ("", tuple(a["tracks"]))
        elif self.kind == "describe":
            day.playlists[a["name"]] = (a["description"], day.playlists[a["name"]][1])
        elif self.kind == "entries":
            day.playlists[a["name"]] = (day.playlists[a["name"]][0], tuple(a["tracks"]))
        elif self.kind == "rate":
            day.ratings[(a["title"], a["listener"])] = a["stars"]
        elif self.kind == "comment":
            day.comments.setdefault(a["title"], []).append(a["body"])
        elif self.kind == "name":
            day.names[a["listener"]] = a["name"]
        elif self.kind == "upload":
            day.uploads[f"music/uploads/{a['filename']}"] = a["sha256"]


def _script(rng: random.Random, tracks: list[int], upload: bytes) -> list[Step]:
    """A day's actions, each valid given the ones before it were done."""
    day = Day()
    steps: list[Step] = []
    counter = 0
    digest = hashlib.sha256(upload).hexdigest()
    while len(steps) < STEPS:
        counter += 1
        drafts = [t for t, (_, s) in day.articles.items() if s == "draft"]
        published = [t for t, (_, s) in day.articles.items() if s == "published"]
        kinds = ["article", "playlist", "name", "upload"]
        kinds += ["edit"] * 3 if day.articles else []
        kinds += ["publish"] if drafts and len(published) < 4 else []
        kinds += ["describe", "entries", "entries"] if day.playlists else []
        kinds += ["rate", "rate", "rate"] if published else []
        kinds += ["comment"] if published and counter % 8 == 0 else []
        kind = rng.choice(kinds)
        if kind == "article":
            args = {"title": f"Story {counter}", "body": f"Body of story {counter}."}
        elif kind == "edit":
            title = rng.choice(sorted(day.articles))
            words = " ".join(["words"] * 50)
            args = {"title": title, "body": f"{title}, edit {counter}: {words}"}
        elif kind == "publish":
            args = {"title": rng.choice(drafts)}
        elif kind == "playlist":
            args = {"name": f"List {counter}", "tracks": rng.sample(tracks, rng.randint(1, 3)),
                    "write_back": rng.random() < 0.5}  # fmt: skip
        elif kind == "describe":
            args = {"name": rng.choice(sorted(day.playlists)), "description": f"d{counter}"}
        elif kind == "entries":
            picked = [rng.choice(tracks) for _ in range(rng.randint(1, 6))]
            args = {"name": rng.choice(sorted(day.playlists)), "tracks": picked}
        elif kind == "rate":
            args = {"title": rng.choice(published), "listener": rng.randrange(LISTENERS),
                    "stars": rng.randint(1, 5)}  # fmt: skip
        elif kind == "comment":
            args = {"title": rng.choice(published), "body": f"Comment {counter}"}
        elif kind == "name":
            args = {"listener": rng.randrange(LISTENERS), "name": f"Ear {counter}"}
        else:
            args = {"filename": f"upload-{counter}.mp3", "sha256": digest}
        step = Step(kind, args)
        step.apply(day)
        steps.append(step)
    return steps


class Client:
    """Runs steps against one station launch; knows the ids the station gave its objects."""

    def __init__(self, station: RunningStation, cookies: list[dict[str, str]], upload: bytes):
        self.station = station
        self.cookies = cookies
        self.upload = upload
        self.host = httpx.Client(base_url=station.url, timeout=30,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})  # fmt: skip
        self.sent_of_upload = 0
        self.ids = self._ids()

    def close(self) -> None:
        self.host.close()

    def _ids(self) -> dict[str, int]:
        state = self.station.state
        articles = dict(database.rows(state, "SELECT title, id FROM articles"))
        playlists = dict(database.rows(state, "SELECT name, id FROM playlists"))
        slugs = {
            f"slug:{t}": s for t, s in database.rows(state, "SELECT title, slug FROM articles")
        }
        return {**articles, **playlists, **slugs}

    def run(self, step: Step) -> bool:
        """Whether the station acknowledged the step (a 2xx); a refusal fails the test."""
        a, host = step.args, self.host
        if step.kind == "article":
            response = host.post("/api/articles", json={"title": a["title"], "body": a["body"]})
            if response.is_success:
                self.ids[a["title"]] = response.json()["id"]
                self.ids[f"slug:{a['title']}"] = response.json()["slug"]
        elif step.kind == "edit":
            response = host.patch(f"/api/articles/{self.ids[a['title']]}", json={"body": a["body"]})
        elif step.kind == "publish":
            response = host.post(f"/api/articles/{self.ids[a['title']]}/publish", json={})
        elif step.kind == "playlist":
            body = {"name": a["name"], "track_ids": a["tracks"]}
            params = {"write_back": "true"} if a["write_back"] else {}
            response = host.post("/api/playlists", json=body, params=params)
            if response.is_success:
                self.ids[a["name"]] = response.json()["id"]
        elif step.kind == "describe":
            body = {"description": a["description"]}
            response = host.patch(f"/api/playlists/{self.ids[a['name']]}", json=body)
        elif step.kind == "entries":
            body = {"track_ids": a["tracks"]}
            response = host.put(f"/api/playlists/{self.ids[a['name']]}/entries", json=body)
        elif step.kind in ("rate", "comment"):
            slug = self.ids[f"slug:{a['title']}"]
            cookies = self.cookies[a.get("listener", 0)]
            form = ({"stars": str(a["stars"])} if step.kind == "rate" else
                    {"name": "Pat", "email": "pat@example.org", "comment": a["body"]})  # fmt: skip
            path = f"/news/{slug}/{'rating' if step.kind == 'rate' else 'comments'}"
            response = httpx.post(self.station.url + path, data=form, cookies=cookies,
                                  headers={"Accept": "application/json"}, timeout=30)  # fmt: skip
            if step.kind == "comment" and response.status_code == 429:
                return False  # three comments per address per 10 minutes: not taken, not lost
        elif step.kind == "name":
            response = httpx.post(self.station.url + "/api/listeners/me/name",
                                  json={"name": a["name"]}, cookies=self.cookies[a["listener"]],
                                  timeout=30)  # fmt: skip
        else:
            self.sent_of_upload = 0
            files = {"file": (a["filename"], _Paced(self), "audio/mpeg")}
            response = host.post("/api/tracks/upload", files=files)
            if response.is_success:
                assert response.json()["path"] == f"music/uploads/{a['filename']}"
        assert response.is_success, f"{step}: {response.status_code} {response.text}"
        return True


class _Paced:
    """An upload body sent a chunk at a time, so a kill can land in the middle of it."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def read(self, size: int = -1) -> bytes:
        sent = self.client.sent_of_upload
        chunk = self.client.upload[sent : sent + UPLOAD_CHUNK]
        if chunk:
            time.sleep(UPLOAD_PAUSE)
        self.client.sent_of_upload = sent + len(chunk)
        return chunk


@pytest.fixture
def upload_file(tmp_path: Path) -> bytes:
    path = write_tone(tmp_path / "upload.mp3", 75, 523, tags={"artist": "Up", "title": "Load"})
    return path.read_bytes()


def test_kill_nine_at_twenty_moments_of_a_day_loses_nothing_acknowledged(
    tmp_path: Path, upload_file: bytes
) -> None:
    tone_library(tmp_path / "media", [(440, 40, "A"), (550, 40, "B"), (660, 40, "C")])
    station = start_station(tmp_path, own_group=True)
    try:
        cookies = _listeners(station)
        tracks = [
            id_ for (id_,) in database.rows(station.state, "SELECT id FROM tracks ORDER BY id")
        ]
        rng = random.Random(SEED)
        steps = _script(rng, tracks, upload_file)
        uploads = [i for i, step in enumerate(steps) if step.kind == "upload"]
        others = [i for i in range(len(steps)) if i not in uploads]
        kills = set(rng.sample(uploads, UPLOAD_KILLS) + rng.sample(others, KILLS - UPLOAD_KILLS))
        day = Day()
        mid_upload = left_behind = restarts = waiting = 0
        client = Client(station, cookies, upload_file)
        aim = False
        for index, step in enumerate(steps):
            aim = aim or index in kills
            if not step.possible(day):
                continue  # it builds on a step that was in flight at a kill and not done
            killer = None
            if aim:
                aim = False
                delay = rng.uniform(0.05, 0.4) if step.kind == "upload" else rng.uniform(0, 0.03)
                killer = threading.Timer(delay, os.killpg, (station.process.pid, signal.SIGKILL))
                killer.start()
            in_flight = None
            try:
                if client.run(step):
                    step.apply(day)
            except httpx.TransportError:
                in_flight = step
                sent = client.sent_of_upload
                mid_upload += step.kind == "upload" and 0 < sent < len(upload_file)
            if killer is None:
                assert in_flight is None, f"{step} failed without a kill"
                continue
            killer.join()  # the kill may come after the answer, between two steps
            station.process.wait()
            waiting += drop_waiting_connections(station.port)  # they die with the station
            restarts += 1
            client.close()
            temps = _temp_files(station)
            left_behind += len(temps)
            station = start_station(tmp_path, own_group=True, port=station.port)
            day = _check(station, day, in_flight, temps)
            client = Client(station, cookies, upload_file)
        client.close()
        assert restarts == KILLS
        assert mid_upload >= 3, f"only {mid_upload} kills landed inside an upload's body"
        print(f"{restarts} kills, {mid_upload} inside an upload's body, {left_behind} temp files "
              f"left by the killed stations, all removed; {len(day.articles)} articles, "
              f"{len(day.playlists)} playlists, {len(day.uploads)} uploads; {waiting} requests "
              "sent after a kill reset")  # fmt: skip
        assert _check(station, day, None, {}) == day
        station.wait_for_speech()  # renders in progress have temp files; let them finish
    finally:
        station.stop()
    assert _temp_files(station) == {}, "a cleanly stopped station leaves no temp file"


def _check(
    station: RunningStation, day: Day, in_flight: Step | None, temps: dict[Path, int]
) -> Day:
    """The restarted station's state is `day`, or `day` plus the step in flight at the kill;
    returns the one it is."""
    assert database.integrity(station.state) == []
    still = {path for path, inode in temps.items() if _inode(path) == inode}
    assert not still, f"temp files the killed station left are still there: {sorted(still)}"
    actual = _observe(station)
    if actual == day.view():
        return day
    assert in_flight is not None, "the station's state is not what it acknowledged"
    done = copy.deepcopy(day)
    in_flight.apply(done)
    expected = done.view()
    differs = {k: (actual[k], expected[k]) for k in actual if actual[k] != expected[k]}
    assert not differs, f"neither acknowledged state nor with {in_flight}: {differs}"
    return done


def _observe(station: RunningStation) -> dict[str, Any]:
    """The state as the database (read directly, not by the station) and media/ hold it."""

    def query(sql: str, *params: object) -> list[tuple[Any, ...]]:
        return database.rows(station.state, sql, params)

    articles = {t: (b, s) for t, b, s in query("SELECT title, body, status FROM articles")}
    playlists = {
        name: (description, tuple(track for (track,) in query(
            "SELECT track_id FROM playlist_entries WHERE playlist_id = ? ORDER BY position",
            playlist_id)))
        for playlist_id, name, description in query("SELECT id, name, description FROM playlists")
    }  # fmt: skip
    ratings: dict[str, list[int]] = {}
    for title, stars in query(
        "SELECT a.title, r.stars FROM ratings r JOIN articles a ON a.id = r.article_id"
    ):
        ratings.setdefault(title, []).append(stars)
    comments: dict[str, list[str]] = {}
    for title, body in query(
        "SELECT a.title, c.body FROM comments c JOIN articles a ON a.id = c.article_id"
    ):
        comments.setdefault(title, []).append(body)
    names = sorted(name for (name,) in query("SELECT display_name FROM listener_names"))
    uploads = station.media / "music" / "uploads"
    return {
        "articles": articles,
        "playlists": playlists,
        "ratings": {title: sorted(stars) for title, stars in ratings.items()},
        "comments": {title: sorted(bodies) for title, bodies in comments.items()},
        "names": [n for n in names if not n.startswith("Listener ")],
        "uploads": {
            path.relative_to(station.media).as_posix(): hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
            for path in (uploads.iterdir() if uploads.is_dir() else [])
            if not path.name.startswith(".")
        },
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listeners(station: RunningStation) -> list[dict[str, str]]:
    """Listener cookies as the station hands them out (with a first name on the board)."""
    cookies = []
    for number in range(LISTENERS):
        response = httpx.post(station.url + "/api/listeners/me/name",
                              json={"name": f"Listener {number}"}, timeout=30)  # fmt: skip
        response.raise_for_status()
        cookies.append(dict(response.cookies))
    return cookies


def _temp_files(station: RunningStation) -> dict[Path, int]:
    """Every temp file in media/, playlists/ and state/, with its inode."""
    found = {}
    for folder in (station.media, station.media.parent / "playlists", station.state):
        for root, _, names in os.walk(folder):
            for name in names:
                if name.startswith(TEMP_MARKS) or name.endswith((".part", ".tmp")):
                    path = Path(root, name)
                    found[path] = _inode(path)
    return found


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
