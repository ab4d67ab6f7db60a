"""Fixtures shared by the end-to-end tests: a real station on a free port, real audio files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.db import SessionFactory, make_engine, make_sessions, upgrade
from tests import database
from tests.audio import write_tone
from tests.station import RunningStation, release_ports, start_station


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` first: pytest-xdist hands out tests in this order, so the rest of
    the phase runs on the other workers beside them instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


LOG_TAIL = 80  # lines of each station's log shown under a failed test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's report ends with the last lines of the logs of the stations it
    started (requests left out), so a failure in CI shows what the station said."""
    report = yield
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and call.when == "call" and isinstance(tmp, Path):
        for log in sorted(tmp.rglob("station.log")):
            lines = [line for line in log.read_text(errors="replace").splitlines()
                     if "uvicorn.access" not in line]  # fmt: skip
            report.sections.append((f"{log.relative_to(tmp)}, its last {LOG_TAIL} lines "
                                    "but requests", "\n".join(lines[-LOG_TAIL:])))  # fmt: skip
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The PostgreSQL cluster of this process (if any) goes when the run ends."""
    database.stop_cluster()


@pytest.fixture(autouse=True, scope="module")
def _databases_of_this_module() -> Iterator[None]:
    """The PostgreSQL databases of the module's tests go when its last fixture has."""
    yield
    database.drop_databases()


@pytest.fixture(autouse=True, scope="session")
def _settings_use_the_test_database() -> Iterator[None]:
    """With RADIO_TEST_DATABASE=postgres, Settings without a RADIO_DATABASE_URL use the
    PostgreSQL database of their state folder (tests/database.py) instead of a SQLite file
    in it: what the harness gives the stations it starts (station_env)."""
    if not database.POSTGRES:
        yield
        return
    shipped = Settings.sqlalchemy_url

    def sqlalchemy_url(self: Settings) -> str:
        return self.database_url or database.url_for(self.state_dir)

    Settings.sqlalchemy_url = property(sqlalchemy_url)  # type: ignore[assignment,method-assign]
    yield
    Settings.sqlalchemy_url = shipped  # type: ignore[method-assign]


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
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no tables at all) on the database the tests run on, for migrations."""
    engine = make_engine(database.empty_url(tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    """A real, migrated database where the station on tmp_path/state would keep it."""
    engine = make_engine(database.url_for(tmp_path / "state"))
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
