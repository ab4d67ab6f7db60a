"""The queue and the programme forecast. Every route here requires host authentication."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from app.api.auth import HostDep
from app.api.deps import MAX_SQL_INT, RowId, SqlInt, StationDep
from app.api.errors import retry_later
from app.news import bulletins
from app.scheduler.planner import PREVIEW_MAX_ITEMS, PreviewBusy, Upcoming
from app.scheduler.queue import QueueError

router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["queue"])


class QueueItem(BaseModel):
    id: int | None = Field(description="queue entry id; null for forecast items beyond the queue")
    position: int
    track_id: int | None
    artist: str
    title: str
    album: str
    duration: float | None
    kind: str
    reason: str = Field(description="host, rotation, interval or clock")
    playlist_id: int | None
    article_id: int | None
    url: str | None = Field(description="a story's article page")
    expected_start: datetime


class QueueView(BaseModel):
    items: list[QueueItem]
    warning: str | None = Field(
        None, description="the track just added breaks the track separation: it still airs"
    )


class ForecastView(QueueView):
    cut_short: bool = Field(
        description=f"the forecast stopped at {PREVIEW_MAX_ITEMS} items, before the hours asked for"
    )


class QueueAdd(BaseModel):
    track_id: RowId | None = None
    playlist_id: RowId | None = None
    article_id: RowId | None = Field(None, description="a published story, read on its own")
    bulletin: bool = Field(False, description="a news bulletin of the freshest stories")
    position: SqlInt | Literal["next", "end"] = "end"

    @model_validator(mode="after")
    def _one_thing(self) -> QueueAdd:
        given = [self.track_id, self.playlist_id, self.article_id, self.bulletin or None]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give one of track_id, playlist_id, article_id or bulletin")
        return self


class QueueMove(BaseModel):
    position: int = Field(ge=0, le=MAX_SQL_INT)


def _view(upcoming: list[Upcoming]) -> QueueView:
    return QueueView(items=_items(upcoming))


def _items(upcoming: list[Upcoming]) -> list[QueueItem]:
    return [
        QueueItem(id=u.entry_id, position=u.position, track_id=u.item.track_id,
                  artist=u.item.artist, title=u.item.title, album=u.item.album,
                  duration=u.item.duration, kind=u.item.kind.value, reason=u.reason,
                  playlist_id=u.playlist_id, article_id=u.item.article_id,
                  url=u.item.url or None, expected_start=u.expected_start)
        for u in upcoming
    ]  # fmt: skip


def _bad_request(error: QueueError) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(error))


@router.get("/queue")
def get_queue(station: StationDep) -> QueueView:
    """The upcoming items, each with the time it is expected to start."""
    return _view(station.planner.upcoming())


@router.post("/queue", status_code=status.HTTP_201_CREATED)
def add_to_queue(body: QueueAdd, station: StationDep) -> QueueView:
    """Insert a track or a whole playlist: "next", at a position, or at the "end"."""
    position = {"next": 0, "end": None}.get(body.position, body.position)  # type: ignore[call-overload]
    warning = None
    try:
        if body.track_id is not None:
            warning = station.planner.add_track(body.track_id, position)
        elif body.playlist_id is not None:
            station.planner.add_playlist(body.playlist_id, position)
        elif body.article_id is not None:
            story = body.article_id
            station.planner.add_entries(lambda db: [bulletins.story_entry(db, story)], position)
        else:
            station.planner.add_segment(bulletins.KIND, position)
    except QueueError as error:
        raise _bad_request(error) from error
    view = _view(station.planner.upcoming())
    view.warning = warning
    return view


@router.post("/queue/skip")
def skip(station: StationDep) -> dict[str, str]:
    """Skip what is on air: the next item is heard within a second, after a short fade."""
    station.skip()
    return {"status": "skipping"}


@router.post("/queue/{entry_id}/move")
def move_in_queue(entry_id: RowId, body: QueueMove, station: StationDep) -> QueueView:
    try:
        station.planner.move(entry_id, body.position)
    except QueueError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    return _view(station.planner.upcoming())


@router.delete("/queue/{entry_id}")
def remove_from_queue(entry_id: RowId, station: StationDep) -> QueueView:
    try:
        station.planner.remove(entry_id)
    except QueueError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    return _view(station.planner.upcoming())


@router.delete("/queue")
def clear_queue(station: StationDep) -> QueueView:
    """Empty the queue; the scheduler plans it anew from now."""
    station.planner.clear()
    return _view(station.planner.upcoming())


@router.get(
    "/schedule/preview", responses={503: retry_later("two forecasts are being computed; try again")}
)
def preview(
    station: StationDep, hours: Annotated[float, Query(gt=0, le=24 * 7)] = 24
) -> ForecastView:
    """Simulate the coming programme from the current state, without changing anything.

    A few forecasts run at once (on worker threads, never on the event loop); beyond that a
    request waits its turn, and after a while gets 503 with Retry-After."""
    try:
        forecast = station.planner.preview(hours)
        return ForecastView(items=_items(forecast.items), cut_short=forecast.cut_short)
    except PreviewBusy as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(error),
                            headers={"Retry-After": "5"}) from error  # fmt: skip
