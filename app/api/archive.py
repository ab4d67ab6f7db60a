"""The time-shift archive's contents, for players that rewind (`/stream?at=` plays them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import StationDep

router = APIRouter(tags=["listeners"])


class ArchivedItemOut(BaseModel):
    play_id: int | None = Field(description="the play in the history; null until stored")
    title: str
    artist: str
    kind: str = Field(description="music, jingle, news or safety")
    starts: str = Field(description="when its first audio aired (ISO 8601, UTC)")
    ends: str | None = Field(description="when the next item started; null: on air now")
    cover: str | None


class ArchiveOut(BaseModel):
    oldest: str | None = Field(description="the oldest moment `/stream?at=` can play; null: none")
    live: str = Field(description="now: an `at` from about here on is the live stream")
    items: list[ArchivedItemOut] = Field(description="newest first, at most 500")


@router.get("/api/archive", response_model=ArchiveOut)
def get_archive(station: StationDep) -> dict[str, Any]:
    """What the archive holds: its window and the items in it, newest first. An item that
    began before `oldest` is listed while part of it is still kept."""
    return station.archive.listing()
