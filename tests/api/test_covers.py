"""Covers through the real app: embedded art as it is in the file, else a generated SVG."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.item import Item, ItemKind
from app.ffmpeg import ffmpeg_path
from app.stream.nowplaying import item_json
from tests.accounts.harness import TestClient, bearer, running_app
from tests.audio import write_tone
from tests.library.test_artwork import attach_with_ffmpeg, make_image


@pytest.fixture
def library(tmp_path: Path) -> dict[str, Any]:
    """A song with a JPEG cover, a song without one, and the cover's bytes."""
    music = tmp_path / "media" / "music"
    music.mkdir(parents=True)
    ffmpeg = ffmpeg_path()
    jpeg = make_image(ffmpeg, tmp_path / "cover.jpg")
    bare = write_tone(music / "bare.mp3", 3, 330, tags={"artist": "Elin Vass", "title": "Bare"})
    plain = write_tone(tmp_path / "art.mp3", 3, 440, tags={"artist": "Mira", "title": "Art"})
    attach_with_ffmpeg(ffmpeg, plain, tmp_path / "cover.jpg").rename(music / "art.mp3")
    return {"jpeg": jpeg, "bare": bare}


@pytest.fixture
def client(tmp_path: Path, library: dict[str, Any]) -> Iterator[TestClient]:
    with running_app(tmp_path) as client:
        yield client


def track_ids(client: TestClient) -> dict[str, int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = client.get("/api/tracks", headers=bearer()).json()["items"]
        if len(items) == 2:
            return {item["title"]: item["id"] for item in items}
        time.sleep(0.1)
    raise AssertionError("the library was not scanned")


def test_embedded_art_comes_back_as_it_is_in_the_file(
    client: TestClient, library: dict[str, Any]
) -> None:
    art = track_ids(client)["Art"]

    response = client.get(f"/covers/track/{art}")

    assert response.status_code == 200
    assert response.content == library["jpeg"]
    assert response.headers["content-type"] == "image/jpeg"
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unchanged_cover_is_not_sent_again(client: TestClient) -> None:
    art = track_ids(client)["Art"]
    etag = client.get(f"/covers/track/{art}").headers["etag"]

    again = client.get(f"/covers/track/{art}", headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.content == b""


def test_a_track_without_art_gets_a_generated_cover(client: TestClient) -> None:
    bare = track_ids(client)["Bare"]

    response = client.get(f"/covers/track/{bare}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(response.text).find("{http://www.w3.org/2000/svg}text").text == "EV"  # type: ignore[union-attr]


def test_a_track_whose_file_is_gone_gets_a_generated_cover(
    client: TestClient, library: dict[str, Any]
) -> None:
    bare = track_ids(client)["Bare"]
    library["bare"].unlink()

    response = client.get(f"/covers/track/{bare}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")


def test_an_unknown_track_is_404_with_a_cover_all_the_same(client: TestClient) -> None:
    response = client.get("/covers/track/999999")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(response.text)


def test_generated_covers_escape_hostile_titles(client: TestClient) -> None:
    title = "</title><script>alert(1)</script><title>" + "é" * 500

    response = client.get("/covers/generated.svg", params={"title": title, "artist": '"x'})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "cache-control" in response.headers
    assert "default-src 'none'" in response.headers["content-security-policy"]
    root = ET.fromstring(response.text)
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert len(response.content) < 2048


def test_absurdly_long_names_are_refused_clearly(client: TestClient) -> None:
    response = client.get("/covers/generated.svg", params={"title": "x" * 5000})

    assert response.status_code == 422


def test_what_plays_carries_its_cover(client: TestClient) -> None:
    ids = track_ids(client)
    deadline = time.monotonic() + 20
    current: dict[str, Any] = {}
    while time.monotonic() < deadline and current.get("kind") != "music":
        current = client.get("/api/now-playing").json()["current"] or {}
        time.sleep(0.1)

    assert current["cover"] == f"/covers/track/{ids[current['title']]}"
    assert client.get(current["cover"]).status_code == 200


def test_an_item_without_a_track_points_at_a_generated_cover(client: TestClient) -> None:
    story = Item(kind=ItemKind.news, title="Storm & <floods>", artist="News desk")

    cover = item_json(story)["cover"]  # type: ignore[index]
    response = client.get(cover)

    assert cover.startswith("/covers/generated.svg?")
    assert response.status_code == 200
    assert ET.fromstring(response.text).find("{http://www.w3.org/2000/svg}title").text == (  # type: ignore[union-attr]
        "News desk - Storm & <floods>"
    )
