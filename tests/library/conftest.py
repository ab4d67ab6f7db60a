from __future__ import annotations

from pathlib import Path

import pytest

from app.ffmpeg import ffmpeg_path


@pytest.fixture
def ffmpeg() -> str:
    return ffmpeg_path()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path
