"""Listeners' song requests through the real station: every limit refuses with a sentence the
listener can read, requests are planned in the queue and shown as requested by their name,
and hosts see, reorder and remove them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audio import write_tone
from tests.station import RunningStation, start_station

pytestmark = pytest.mark.realtime

# Two songs by one artist (artist separation), the others each by their own.
SONGS = [(300 + 37 * i, 60, f"Artist {i}", f"Song {i}") for i in range(10)]
# Only ever on air by request (added after the rotation playlist): for artist separation.
DUO = [(900, 25, "Duo", "Duo One"), (950, 25, "Duo", "Duo Two")]


def library(media: Path, songs: list[tuple[int, int, str, str]]) -> None:
    music = media / "music"
    music.mkdir(parents=True, exist_ok=True)
    for freq, seconds, artist, title in songs:
        write_tone(music / f"{title}.mp3", seconds, freq,
                   tags={"artist": artist, "title": title, "album": "Requests"})  # fmt: skip


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("requests")
    library(root / "media", SONGS)
    running = start_station(root, request_per_listener_hour=2, request_per_address_hour=3,
                            request_max_pending=3, track_separation_hours=3,
                            artist_separation_minutes=30, request_searches_per_minute=40,
                            queue_length=3)  # fmt: skip
    running.wait_for_music()
    songs = list(ids(running).values())
    rotation = running.post("/api/playlists", json={"name": "Rotation", "track_ids": songs})
    assert rotation.status_code == 201, rotation.text
    library(running.media, DUO)
    running.post("/api/library/scan").raise_for_status()
    running.wait_for_tracks(len(SONGS) + len(DUO))
    yield running
    running.stop()


class Listener:
    def __init__(self, station: RunningStation) -> None:
        self.station = station
        self.cookies = {"radio_listener": station.new_listener()}

    def search(self, **params: Any) -> httpx.Response:
        return self.station.get("/api/requests/search", params=params, cookies=self.cookies)

    def request(self, track_id: int) -> httpx.Response:
        return httpx.post(self.station.url + "/api/requests", json={"track_id": track_id},
                          cookies=self.cookies, timeout=10)  # fmt: skip

    def mine(self) -> list[dict[str, Any]]:
        response = self.station.get("/api/requests/mine", cookies=self.cookies)
        response.raise_for_status()
        return response.json()["items"]  # type: ignore[no-any-return]


def ids(station: RunningStation) -> dict[str, int]:
    tracks = station.get("/api/tracks", params={"limit": 100}, headers=station.auth()).json()
    return {t["title"]: t["id"] for t in tracks["items"]}


def set_rules(station: RunningStation, **rules: Any) -> dict[str, Any]:
    response = httpx.put(station.url + "/api/requests/rules", json=rules,
                         headers=station.auth(), timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def queued_titles(station: RunningStation) -> list[tuple[str, str]]:
    items = station.get("/api/queue", headers=station.auth()).json()["items"]
    return [(i["title"], i["reason"]) for i in items]


def not_soon(station: RunningStation, titles: dict[str, int], exclude: set[str]) -> list[int]:
    """Songs neither on air, nor played, nor in the queue: requestable as far as separation
    goes (the test asks the station, not the code it checks)."""
    now = station.now_playing()
    heard = {now["current"]["title"], *(h["title"] for h in now["history"])}
    queued = {title for title, _ in queued_titles(station)}
    free = [t for t in titles if t.startswith("Song ") and t not in heard | queued | exclude]
    return [titles[t] for t in free]


def test_search_is_bounded_and_paginated(station: RunningStation) -> None:
    listener = Listener(station)
    first = listener.search(q="song", limit=5).json()
    assert [i["title"] for i in first["items"]] == [f"Song {i}" for i in range(5)]
    assert first["more"] is True
    second = listener.search(q="song", limit=5, offset=5).json()
    assert [i["title"] for i in second["items"]] == [f"Song {i}" for i in range(5, 10)]
    assert second["more"] is False
    assert [i["title"] for i in listener.search(q="duo two").json()["items"]] == ["Duo Two"]
    assert listener.search(q="%").json()["items"] == []  # no wildcard: no title has a %
    assert listener.search(q="x" * 101).status_code == 422
    assert listener.search(limit=21).status_code == 422
    assert listener.search(offset=10_001).status_code == 422


def test_every_limit_refuses_with_a_reason_and_hosts_manage_requests(
    station: RunningStation,
) -> None:
    titles = ids(station)
    # The first requests are planned right after the song on air and must still be waiting
    # when hosts look at them below: start with half a minute of it left, more than the
    # steps between take on a busy machine.
    station.wait_for(lambda s: s["current"]["duration"] - s["current"]["elapsed"] > 30, 90)
    ann, bob, cat = Listener(station), Listener(station), Listener(station)
    named = httpx.post(station.url + "/api/listeners/me/name", json={"name": "Ann"},
                       cookies=ann.cookies, timeout=10)  # fmt: skip
    assert named.status_code == 200, named.text

    on_air = station.now_playing()["current"]
    refused = ann.request(on_air["track_id"])
    assert refused.status_code == 409
    assert f"“{on_air['title']}” played at" in refused.json()["detail"]
    assert "can be requested again from" in refused.json()["detail"]

    first, second, third = not_soon(station, titles, set())[:3]
    made = ann.request(first)
    assert made.status_code == 201, made.text
    assert made.json()["requested_by"] == "Ann"
    again = bob.request(first)
    assert again.status_code == 409
    assert "has been requested already" in again.json()["detail"]
    assert ("Song", "request") in {(t.split()[0], r) for t, r in queued_titles(station)}

    assert ann.request(second).status_code == 201
    over = ann.request(third)
    assert over.status_code == 429
    assert over.json()["detail"].startswith("That's 2 requests an hour from you")
    assert int(over.headers["Retry-After"]) > 3000

    # Bob is another listener on the same network: the address's third request is his.
    assert bob.request(third).status_code == 201
    fourth = not_soon(station, titles, set())[0]
    network = cat.request(fourth)
    assert network.status_code == 429
    assert "3 requests an hour from your network" in network.json()["detail"]

    set_rules(station, per_address_hour=100, per_listener_hour=100)
    full = cat.request(fourth)
    assert full.status_code == 429
    assert full.json()["detail"] == ("3 requests are already waiting to play: try again once "
                                     "one of them has aired.")  # fmt: skip

    # Hosts see the waiting requests in queue order, move and remove them.
    waiting = station.get("/api/requests", headers=station.auth()).json()["items"]
    assert [w["track_id"] for w in waiting] == [first, second, third]
    assert [w["requested_by"] for w in waiting] == ["Ann", "Ann", "a listener"]
    moved = station.post(f"/api/requests/{waiting[2]['id']}/move",
                         json={"position": waiting[0]["position"]}).json()["items"]  # fmt: skip
    assert [w["track_id"] for w in moved] == [third, first, second]
    left = station.delete(f"/api/requests/{waiting[1]['id']}").json()["items"]
    assert [w["track_id"] for w in left] == [third, first]
    assert [(m["track_id"], m["status"]) for m in ann.mine()] == [(second, "removed"),
                                                                  (first, "pending")]  # fmt: skip
    assert station.get("/api/requests", headers={}).status_code == 401

    # Artist separation: the second song by an artist goes 30 minutes from the first.
    set_rules(station, per_address_hour=100, per_listener_hour=100, max_pending=10)
    # Within the queue's few minutes there is no place 30 minutes from the first.
    duo_one = cat.request(titles["Duo One"])
    assert duo_one.status_code == 201, duo_one.text
    duo_two = cat.request(titles["Duo Two"])
    assert duo_two.status_code == 409
    assert duo_two.json()["detail"] == (
        "Another song by Duo is on around then: please ask again in 30 minutes."
    )

    # Hosts' rules: requests off; only from a playlist.
    set_rules(station, enabled=False)
    closed = cat.request(not_soon(station, titles, set())[0])
    assert (closed.status_code, closed.json()["detail"]) == (
        403,
        "Requests are closed at the moment.",
    )
    playlist = station.post("/api/playlists", json={"name": "Requestable",
                                                    "track_ids": [titles["Song 9"]]})  # fmt: skip
    assert playlist.status_code == 201, playlist.text
    set_rules(station, playlist_ids=[playlist.json()["id"]], per_listener_hour=100,
              per_address_hour=100, max_pending=10)  # fmt: skip
    assert [i["title"] for i in cat.search(q="song").json()["items"]] == ["Song 9"]
    other = cat.request(titles["Song 8"])
    assert other.status_code == 403
    assert "request playlists" in other.json()["detail"]
    assert cat.request(10**30).status_code == 422
    unknown = cat.request(10**6)
    assert (unknown.status_code, unknown.json()["detail"]) == (
        404,
        "That song is not in the library.",
    )
