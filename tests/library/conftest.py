from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import SessionFactory, make_engine, make_sessions, upgrade
from app.ffmpeg import ffmpeg_path


@pytest.fixture
def ffmpeg() -> str:
    return ffmpeg_path()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'radio.sqlite3'}")
    upgrade(engine)
    yield make_sessions(engine)
    engine.dispose()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path
