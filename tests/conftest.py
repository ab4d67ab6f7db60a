"""Fixtures shared by the end-to-end tests: a real station on a free port, real audio files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import SessionFactory, make_engine, make_sessions, upgrade
from tests.audio import write_tone
from tests.station import RunningStation, release_ports, start_station


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` first: pytest-xdist hands out tests in this order, so the rest of
    the phase runs on the other workers beside them instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(autouse=True)
def _ports_of_this_test() -> Iterator[None]:
    """The ports the harness kept for this test's stations go back after it."""
    yield
    release_ports()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., RunningStation]]:
    """Start `radio serve` with the given RADIO_* settings; stopped after the test."""
    started: list[RunningStation] = []

    def launch(**settings: Any) -> RunningStation:
        station = start_station(tmp_path, **settings)
        started.append(station)
        return station

    yield launch
    for station in started:
        station.stop()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    """A real, migrated SQLite database where the station would keep it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'radio.sqlite3'}")
    upgrade(engine)
    yield make_sessions(engine)
    engine.dispose()


def tone_library(media: Path, tones: list[tuple[float, float, str]], ext: str = "mp3") -> dict:
    """Write (frequency, seconds, title) tones into media/music; return {title: path}."""
    music = media / "music"
    music.mkdir(parents=True, exist_ok=True)
    paths = {}
    for freq, seconds, title in tones:
        path = music / f"tone-{int(freq)}.{ext}"
        write_tone(path, seconds, freq, tags={"artist": "Tones", "title": title, "album": "Test"})
        paths[title] = path
    return paths
