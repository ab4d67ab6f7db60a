"""Hosts manage playlists through the real station's HTTP API on the real database: edit,
import hostile and real-world playlist files, export, sync playlists/ and write back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import make_engine, make_sessions, upgrade
from app.ffmpeg import ffmpeg_path
from app.library import scan
from app.models import Track
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, RunningStation, start_station

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TONES = [(440, 2, "A"), (550, 2, "B"), (660, 2, "C"), (770, 2, "D")]


def scan_library(root: Path) -> dict[str, int]:
    """Scan root/media into the station's database before it starts; {path: track id}."""
    engine = make_engine(Settings(state_dir=root / "state").sqlalchemy_url)
    try:
        upgrade(engine)
        sessions = make_sessions(engine)
        scan(root / "media", sessions, ffmpeg_path(), -50.0)
        with sessions() as session:
            return {t.path: t.id for t in session.scalars(select(Track))}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStation, dict]]:
    root = tmp_path_factory.mktemp("station")
    tone_library(root / "media", TONES)
    tracks = scan_library(root)
    playlists = root / "playlists"
    playlists.mkdir()
    # Kept in git beside media/: a path relative to the file, and one relative to media/.
    (playlists / "Startup.m3u8").write_text(
        "#EXTM3U\n#EXTINF:2,Tones - A\n../media/music/tone-440.mp3\nmusic/tone-550.mp3\n"
    )
    station = start_station(root)
    try:
        wait_for_playlist(station, "Startup")
        yield station, tracks
    finally:
        station.stop()


def call(station: RunningStation, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return httpx.request(method, station.url + path, headers=headers, timeout=30, **kwargs)


def wait_for_playlist(station: RunningStation, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [p for p in call(station, "GET", "/api/playlists").json() if p["name"] == name]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"playlist {name} never appeared\n{station.log.read_text()}")


def entry_ids(station: RunningStation, playlist_id: int) -> list[int]:
    response = call(station, "GET", f"/api/playlists/{playlist_id}")
    assert response.status_code == 200, response.text
    return [e["track_id"] for e in response.json()["entries"]]


def names(station: RunningStation) -> set[str]:
    return {p["name"] for p in call(station, "GET", "/api/playlists").json()}


def test_every_playlist_route_needs_a_host(library: tuple[RunningStation, dict]) -> None:
    station, _ = library
    routes = [("GET", "/api/playlists"), ("POST", "/api/playlists"),
              ("GET", "/api/playlists/1"), ("PATCH", "/api/playlists/1"),
              ("DELETE", "/api/playlists/1"), ("PUT", "/api/playlists/1/entries"),
              ("POST", "/api/playlists/1/entries"), ("POST", "/api/playlists/import"),
              ("GET", "/api/playlists/1/export"), ("POST", "/api/playlists/sync")]  # fmt: skip
    for method, path in routes:
        anonymous = httpx.request(method, station.url + path, json={}, timeout=10)
        assert anonymous.status_code == 401, (method, path)
        wrong = httpx.request(method, station.url + path, json={}, timeout=10,
                              headers={"Authorization": "Bearer not-a-token"})  # fmt: skip
        assert wrong.status_code in (401, 403), (method, path)


def test_create_edit_reorder_append_and_delete(library: tuple[RunningStation, dict]) -> None:
    station, tracks = library
    a, b, c, d = (tracks[f"music/tone-{f}.mp3"] for f in (440, 550, 660, 770))
    created = call(station, "POST", "/api/playlists", json={
        "name": "  Morning  ", "description": "wake up", "track_ids": [a, b],
        "schedule": [{"days": [0, 1, 2, 3, 4], "start": "06:00", "end": "10:00"}]})  # fmt: skip
    assert created.status_code == 201, created.text
    playlist = created.json()
    assert playlist["name"] == "Morning"
    assert [e["title"] for e in playlist["entries"]] == ["A", "B"]
    pid = playlist["id"]
    listed = [p for p in call(station, "GET", "/api/playlists").json() if p["id"] == pid]
    assert listed[0]["entry_count"] == 2

    change = {"rule": "hourly", "minute": 30, "weight": 7, "enabled": False}
    patched = call(station, "PATCH", f"/api/playlists/{pid}", json=change)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["rule"], patched.json()["minute"]) == ("hourly", 30)
    assert patched.json()["description"] == "wake up"  # untouched fields stay

    put = call(station, "PUT", f"/api/playlists/{pid}/entries", json={"track_ids": [c, a, b]})
    assert [e["track_id"] for e in put.json()["entries"]] == [c, a, b]
    appended = call(station, "POST", f"/api/playlists/{pid}/entries", json={"track_ids": [d, c]})
    assert [e["track_id"] for e in appended.json()["entries"]] == [c, a, b, d, c]
    assert [e["position"] for e in appended.json()["entries"]] == [0, 1, 2, 3, 4]

    assert call(station, "DELETE", f"/api/playlists/{pid}").status_code == 204
    assert call(station, "GET", f"/api/playlists/{pid}").status_code == 404
    assert call(station, "DELETE", f"/api/playlists/{pid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rule": "every_songs"}, "needs `every`"),
        ({"rule": "every_minutes", "every": 0}, "greater than or equal to 1"),
        ({"rule": "hourly"}, "needs `minute`"),
        ({"rule": "hourly", "minute": 60}, "less than or equal to 59"),
        ({"weight": 26}, "less than or equal to 25"),
        ({"weight": 0}, "greater than or equal to 1"),
        ({"rule": "sometimes"}, "rotation"),
        ({"schedule": [{"days": [7], "start": "06:00", "end": "10:00"}]}, "0-6"),
        ({"schedule": [{"days": [1], "start": "6am", "end": "10:00"}]}, "pattern"),
        ({"schedule": [{"days": [1], "start": "06:00"}]}, "end"),
        ({"schedule": [{"days": [], "start": "06:00", "end": "07:00"}]}, "at least 1"),
        ({"schedule": [{"days": [1], "start": "06:00", "end": "06:00"}]}, "same time"),
        ({"name": "x" * 300}, "at most 128 characters"),
        ({"name": "tab\there"}, "control characters"),
        ({"name": "next\x85line"}, "control characters"),  # C1: NEL, and CSI below
        ({"name": "csi\x9b31m"}, "control characters"),
        ({"track_ids": [999999]}, "unknown track ids: 999999"),
    ],
)
def test_bad_playlists_are_refused_with_the_reason(
    library: tuple[RunningStation, dict], body: dict[str, Any], message: str
) -> None:
    station, _ = library
    before = names(station)
    response = call(station, "POST", "/api/playlists", json={"name": "Refused", **body})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert names(station) == before


def test_names_are_unique_and_bad_edits_change_nothing(
    library: tuple[RunningStation, dict],
) -> None:
    station, tracks = library
    first = call(station, "POST", "/api/playlists", json={"name": "Unique"}).json()
    second = call(station, "POST", "/api/playlists", json={"name": "Unique 2"}).json()
    again = call(station, "POST", "/api/playlists", json={"name": "Unique"})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    renamed = call(station, "PATCH", f"/api/playlists/{second['id']}", json={"name": "Unique"})
    assert renamed.status_code == 409
    # A rule without its field, or an unknown track: refused, and the playlist is as it was.
    a = tracks["music/tone-440.mp3"]
    call(station, "PUT", f"/api/playlists/{first['id']}/entries", json={"track_ids": [a]})
    bad = call(station, "PATCH", f"/api/playlists/{first['id']}", json={"rule": "every_songs"})
    assert bad.status_code == 422
    unknown = call(station, "POST", f"/api/playlists/{first['id']}/entries",
                   json={"track_ids": [a, 424242]})  # fmt: skip
    assert unknown.status_code == 422
    after = call(station, "GET", f"/api/playlists/{first['id']}").json()
    assert after["rule"] == "rotation"
    assert [e["track_id"] for e in after["entries"]] == [a]


def test_a_hostile_playlist_file_imports_only_what_is_inside_media(
    library: tuple[RunningStation, dict],
) -> None:
    station, tracks = library
    media = station.media
    lines = [
        "#EXTM3U",
        "#EXTINF:2,Tones - A",
        "music/tone-440.mp3",  # line 3: relative to media/
        "../../etc/passwd",  # 4
        "/etc/passwd",  # 5
        "http://evil.example/stream.mp3",  # 6
        "music/tone-550\x00.mp3",  # 7
        "music/not-there.mp3",  # 8
        "music/../../media/../etc/shadow",  # 9
        f"{media}/music/tone-660.mp3",  # 10: absolute, but inside media/
        "C:\\Music\\tone.mp3",  # 11
        "music\\tone-770.mp3",  # 12: a Windows separator, inside media/
        f"file://{media}/music/tone-550.mp3",  # 13: a local file URL inside media/
    ]
    data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"  # BOM and CRLF
    response = call(station, "POST", "/api/playlists/import",
                    files={"file": ("Hostile.m3u8", data, "audio/x-mpegurl")})  # fmt: skip
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["created"] is True
    assert result["playlist"]["name"] == "Hostile"
    expected = [tracks[f"music/tone-{f}.mp3"] for f in (440, 660, 770, 550)]
    assert [e["track_id"] for e in result["playlist"]["entries"]] == expected
    problems = {p["line"]: p["reason"] for p in result["problems"]}
    assert set(problems) == {4, 5, 6, 7, 8, 9, 11}
    assert "outside media/" in problems[4]
    assert "outside media/" in problems[5]
    assert "URL" in problems[6]
    assert "NUL" in problems[7]
    assert problems[8] == "not in the library: music/not-there.mp3"
    assert "outside media/" in problems[9]
    assert "Windows" in problems[11]


def test_import_as_raw_text_pls_and_replace(library: tuple[RunningStation, dict]) -> None:
    station, tracks = library
    pls = ("[playlist]\r\nFile1=music/tone-770.mp3\r\nTitle1=D\r\nLength1=2\r\n"
           "File2=music/tone-440.mp3\r\nNumberOfEntries=2\r\nVersion=2\r\n")  # fmt: skip
    response = call(station, "POST", "/api/playlists/import", params={"filename": "Raw.pls"},
                    content=pls, headers={"Content-Type": "audio/x-scpls"})  # fmt: skip
    assert response.status_code == 201, response.text
    pid = response.json()["playlist"]["id"]
    d, a = tracks["music/tone-770.mp3"], tracks["music/tone-440.mp3"]
    assert entry_ids(station, pid) == [d, a]
    # The same name again: refused unless asked to replace.
    again = call(station, "POST", "/api/playlists/import", params={"filename": "Raw.m3u"},
                 content="music/tone-550.mp3\n")  # fmt: skip
    assert again.status_code == 409
    assert entry_ids(station, pid) == [d, a]
    replaced = call(station, "POST", "/api/playlists/import",
                    params={"filename": "Raw.m3u", "replace": "true"},
                    content="music/tone-550.mp3\n")  # fmt: skip
    assert replaced.status_code == 201
    assert replaced.json()["created"] is False
    assert entry_ids(station, pid) == [tracks["music/tone-550.mp3"]]


@pytest.mark.parametrize(
    ("filename", "data", "status", "message"),
    [
        ("x" * 300 + ".m3u8", b"music/tone-440.mp3\n", 422, "at most 128 characters"),
        ("../../etc/evil\x00.m3u", b"music/tone-440.mp3\n", 422, "control characters"),
        ("Night\x9b2JMix.m3u8", b"music/tone-440.mp3\n", 422, "control characters"),
        ("Broken.pls", b"File1=music/tone-440.mp3\n", 400, "[playlist]"),
        ("Binary.m3u", bytes(range(256)) * 4, 400, "binary"),
        ("Latin.m3u8", "Caf\xe9.mp3\n".encode("latin-1"), 400, "UTF-8"),
        ("Notes.txt", b"music/tone-440.mp3\n", 400, ".m3u, .m3u8 or .pls"),
        ("Huge.m3u", b"#" * (5 * 1024 * 1024 + 10), 413, "at most"),
    ],
)
def test_bad_playlist_files_are_refused_and_leave_nothing_behind(
    library: tuple[RunningStation, dict], filename: str, data: bytes, status: int, message: str
) -> None:
    station, _ = library
    before = names(station)
    response = call(station, "POST", "/api/playlists/import", params={"filename": filename},
                    content=data)  # fmt: skip
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert names(station) == before


@pytest.mark.parametrize("fmt", ["m3u8", "pls"])
def test_export_then_import_gives_the_same_entries(
    library: tuple[RunningStation, dict], fmt: str
) -> None:
    station, tracks = library
    order = [tracks[f"music/tone-{f}.mp3"] for f in (660, 440, 770, 440)]
    source = call(station, "POST", "/api/playlists",
                  json={"name": f"Trip ünïcode {fmt}", "track_ids": order}).json()  # fmt: skip
    exported = call(station, "GET", f"/api/playlists/{source['id']}/export",
                    params={"format": fmt})  # fmt: skip
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith(
        "audio/x-mpegurl" if fmt == "m3u8" else "audio/x-scpls"
    )
    disposition = exported.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Trip%20%C3%BC" in disposition
    assert "music/tone-660.mp3" in exported.text
    assert "Tones - C" in exported.text
    back = call(station, "POST", "/api/playlists/import", params={"name": f"Back {fmt}"},
                files={"file": (f"trip.{fmt}", exported.content)})  # fmt: skip
    assert back.status_code == 201, back.text
    assert back.json()["problems"] == []
    assert [e["track_id"] for e in back.json()["playlist"]["entries"]] == order


def test_playlists_dir_is_synced_at_start_up_and_on_request(
    library: tuple[RunningStation, dict],
) -> None:
    station, tracks = library
    a, b, c = (tracks[f"music/tone-{f}.mp3"] for f in (440, 550, 660))
    folder = station.media.parent / "playlists"
    startup = wait_for_playlist(station, "Startup")
    assert startup["source_file"] == "Startup.m3u8"
    assert entry_ids(station, startup["id"]) == [a, b]

    (folder / "Startup.m3u8").write_text("music/tone-660.mp3\nmusic/tone-440.mp3\n")
    (folder / "Evening.pls").write_text(
        "[playlist]\nFile1=music/tone-550.mp3\nFile2=../../../etc/passwd\nNumberOfEntries=2\n"
    )
    (folder / "Broken.pls").write_text("this is not a pls file\n")
    (folder / "notes.txt").write_text("not a playlist, not looked at\n")
    report = call(station, "POST", "/api/playlists/sync").json()
    assert "Startup" in report["updated"]
    assert "Evening" in report["created"]
    assert report["failed"] == [
        {
            "file": "Broken.pls",
            "reason": "line 1: a PLS file starts with [playlist], not 'this is not a pls file'",
        }
    ]
    assert [p["line"] for p in report["problems"]["Evening.pls"]] == [3]
    assert entry_ids(station, startup["id"]) == [c, a]
    evening = wait_for_playlist(station, "Evening")
    assert entry_ids(station, evening["id"]) == [b]

    # A file that disappears leaves its playlist alone, and is reported.
    (folder / "Evening.pls").unlink()
    report = call(station, "POST", "/api/playlists/sync").json()
    assert "Evening.pls" in report["missing"]
    assert entry_ids(station, evening["id"]) == [b]
    (folder / "Broken.pls").unlink()


def test_api_edits_are_written_back_to_playlists_dir(
    library: tuple[RunningStation, dict],
) -> None:
    station, tracks = library
    a, d = tracks["music/tone-440.mp3"], tracks["music/tone-770.mp3"]
    folder = station.media.parent / "playlists"
    (folder / "Kept.m3u").write_text("music/tone-440.mp3\n")
    call(station, "POST", "/api/playlists/sync")
    kept = wait_for_playlist(station, "Kept")
    # An entry edit of a synced playlist goes to its file, so a sync keeps it.
    response = call(station, "POST", f"/api/playlists/{kept['id']}/entries",
                    json={"track_ids": [d]})  # fmt: skip
    assert response.status_code == 200
    assert "music/tone-770.mp3" in (folder / "Kept.m3u").read_text()
    report = call(station, "POST", "/api/playlists/sync").json()
    assert "Kept" in report["unchanged"]
    assert entry_ids(station, kept["id"]) == [a, d]
    # Unless asked not to: then the next sync restores the file's entries.
    call(station, "PUT", f"/api/playlists/{kept['id']}/entries", params={"write_back": "false"},
         json={"track_ids": [d]})  # fmt: skip
    call(station, "POST", "/api/playlists/sync")
    assert entry_ids(station, kept["id"]) == [a, d]

    # A playlist made in the API gets a file when asked, and keeps it.
    made = call(station, "POST", "/api/playlists", params={"write_back": "true"},
                json={"name": "Made Here", "track_ids": [d, a]}).json()  # fmt: skip
    assert made["source_file"] == "Made Here.m3u8"
    assert (folder / "Made Here.m3u8").read_text().splitlines()[-1] == "music/tone-440.mp3"
    # Deleting a synced playlist deletes its file, or it would come back at the next sync.
    assert call(station, "DELETE", f"/api/playlists/{made['id']}").status_code == 204
    assert not (folder / "Made Here.m3u8").exists()
    call(station, "POST", "/api/playlists/sync")
    assert "Made Here" not in names(station)
