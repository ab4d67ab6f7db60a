"""Shows (app/shows/): admins create, change and delete shows and their weekly slots; every
host reads them. Slot times are wall-clock times in the station's time zone (RADIO_TIMEZONE).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.auth import AdminDep, HostDep
from app.api.deps import DbDep, RowId, StationDep
from app.api.errors import error
from app.models import Show
from app.shows import store
from app.shows.timetable import MINUTES_PER_DAY, hhmm
from app.text import has_control_characters

router = APIRouter(prefix="/api/shows", dependencies=[HostDep], tags=["shows"])

TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL stores neither
CHANGES = {404: error("no such show or slot"), 409: error("the name is taken, or a slot "
           "overlaps another show's"), 422: error("a value out of bounds")}  # fmt: skip


# --- Schemas --------------------------------------------------------------------------------


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: int = Field(ge=0, le=6, description="0-6, Monday is 0")
    start: str = Field(pattern=TIME_PATTERN, max_length=5, examples=["07:00"],
                       description="wall-clock time in the station's time zone")  # fmt: skip
    minutes: int = Field(ge=1, le=MINUTES_PER_DAY, examples=[120], description="its length")

    def spec(self) -> store.SlotSpec:
        hours, minutes = self.start.split(":")
        return store.SlotSpec(self.weekday, int(hours) * 60 + int(minutes), self.minutes)


class ShowUpdate(BaseModel):
    """Only the fields given change; `host_ids` and `slots`, when given, replace them all."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=store.MAX_NAME_LENGTH)
    description: str | None = Field(None, max_length=store.MAX_DESCRIPTION_LENGTH)
    interrupt_news: bool | None = Field(None, description="the hourly news airs during it")
    record: bool | None = Field(None, description="a live show in its slot is recorded")
    host_ids: list[RowId] | None = Field(None, max_length=store.MAX_HOSTS_PER_SHOW)
    slots: list[SlotIn] | None = Field(None, max_length=store.MAX_SLOTS_PER_SHOW)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and has_control_characters(value):
            raise ValueError("control characters (tabs, line breaks, NUL...) are not allowed "
                             "in a show's name")  # fmt: skip
        return value

    @field_validator("description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and UNSTORABLE.search(value):
            raise ValueError("NUL and lone surrogates are not allowed in a description")
        return value


class ShowCreate(ShowUpdate):
    name: str = Field(min_length=1, max_length=store.MAX_NAME_LENGTH)  # type: ignore[assignment]


class HostRef(BaseModel):
    id: int
    username: str
    display_name: str


class SlotOut(BaseModel):
    id: int
    weekday: int
    start: str
    end: str = Field(description="wall clock; before start: past midnight")
    minutes: int


class ShowOut(BaseModel):
    id: int
    name: str
    description: str
    interrupt_news: bool
    record: bool
    hosts: list[HostRef]
    slots: list[SlotOut]
    created_at: datetime
    updated_at: datetime


class OnAirOut(BaseModel):
    show: dict[str, object] | None = Field(description="the show whose slot is on, or null")
    require_slot: bool = Field(description="RADIO_LIVE_REQUIRE_SLOT")


# --- Dependencies ---------------------------------------------------------------------------


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except store.ShowNotFound as problem:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(problem)) from None
    except store.ShowConflict as problem:
        raise HTTPException(status.HTTP_409_CONFLICT, str(problem)) from None
    except store.ShowError as problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(problem)) from None
    except IntegrityError:  # two admins naming two shows alike at once
        raise HTTPException(status.HTTP_409_CONFLICT, "a show with this name exists") from None


def _out(db: Session, show: Show) -> ShowOut:
    hosts = store.hosts_of(db, [show.id]).get(show.id, [])
    slots = store.slots_of(db, [show.id]).get(show.id, [])
    return ShowOut(
        id=show.id, name=show.name, description=show.description,
        interrupt_news=show.interrupt_news, record=show.record,
        hosts=[HostRef(id=h.id, username=h.username, display_name=h.display_name)
               for h in hosts],
        slots=[SlotOut(id=s.id, weekday=s.weekday, start=hhmm(s.start_minute),
                       end=hhmm((s.start_minute + s.minutes) % MINUTES_PER_DAY),
                       minutes=s.minutes) for s in slots],
        created_at=show.created_at, updated_at=show.updated_at,
    )  # fmt: skip


# --- Routes ---------------------------------------------------------------------------------


@router.get("")
def list_shows(db: DbDep) -> list[ShowOut]:
    return [_out(db, show) for show in store.list_shows(db)]


@router.get("/on-air")
def on_air(station: StationDep) -> OnAirOut:
    """The show whose slot is on now (from the station's memory)."""
    slot = station.shows.current(datetime.now(UTC))
    return OnAirOut(show=slot.to_json() if slot else None,
                    require_slot=station.shows.require_slot)  # fmt: skip


@router.get("/{show_id}", responses={404: error("no such show")})
def get_show(show_id: RowId, db: DbDep) -> ShowOut:
    with _errors():
        return _out(db, store.get_show(db, show_id))


@router.post("", dependencies=[AdminDep], status_code=status.HTTP_201_CREATED,
             responses=CHANGES)  # fmt: skip
def create_show(body: ShowCreate, db: DbDep, station: StationDep) -> ShowOut:
    fields = body.model_dump(exclude_unset=True, exclude_none=True,
                             exclude={"name", "host_ids", "slots"})  # fmt: skip
    with _errors():
        show = store.create_show(db, body.name.strip(), body.host_ids or [],
                                 [s.spec() for s in body.slots or []], **fields)  # fmt: skip
        db.commit()
    station.shows.changed()
    return _out(db, show)


@router.patch("/{show_id}", dependencies=[AdminDep], responses=CHANGES)
def update_show(show_id: RowId, body: ShowUpdate, db: DbDep, station: StationDep) -> ShowOut:
    with _errors():
        show = store.get_show(db, show_id)
        fields = body.model_dump(exclude_unset=True, exclude={"host_ids", "slots"})
        if fields.get("name") is not None:
            fields["name"] = fields["name"].strip()
        store.update_show(db, show, **fields)
        if body.host_ids is not None:
            store.set_hosts(db, show, body.host_ids)
        if body.slots is not None:
            store.set_slots(db, show, [s.spec() for s in body.slots])
        db.commit()
    station.shows.changed()
    return _out(db, show)


@router.delete("/{show_id}", dependencies=[AdminDep], status_code=status.HTTP_204_NO_CONTENT,
               responses={404: error("no such show")})  # fmt: skip
def delete_show(show_id: RowId, db: DbDep, station: StationDep) -> None:
    with _errors():
        store.delete_show(db, store.get_show(db, show_id))
        db.commit()
    station.shows.changed()


@router.post("/{show_id}/slots", dependencies=[AdminDep], status_code=status.HTTP_201_CREATED,
             responses=CHANGES)  # fmt: skip
def add_slot(show_id: RowId, body: SlotIn, db: DbDep, station: StationDep) -> ShowOut:
    with _errors():
        show = store.get_show(db, show_id)
        store.add_slot(db, show, body.spec())
        db.commit()
    station.shows.changed()
    return _out(db, show)


@router.delete("/{show_id}/slots/{slot_id}", dependencies=[AdminDep],
               status_code=status.HTTP_204_NO_CONTENT,
               responses={404: error("no such show or slot")})  # fmt: skip
def delete_slot(show_id: RowId, slot_id: RowId, db: DbDep, station: StationDep) -> None:
    with _errors():
        store.delete_slot(db, store.get_show(db, show_id), slot_id)
        db.commit()
    station.shows.changed()
