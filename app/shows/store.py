"""Shows in the database: create, change and delete them (admins), with their checks, and
the timetable read from them.

Every change is checked against every other show's slots: two shows are never on at the
same minute of the week, so "the show on air" is always one show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Host, Show, ShowHost, ShowTimeslot
from app.shows.timetable import MINUTES_PER_DAY, ShowInfo, WeeklySlot, overlaps

MAX_SHOWS = 200
MAX_SLOTS_PER_SHOW = 50
MAX_HOSTS_PER_SHOW = 20
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000


class ShowError(Exception):
    """A change that cannot be made; the message says why (422)."""


class ShowNotFound(ShowError):
    """404."""


class ShowConflict(ShowError):
    """A name taken, or a slot overlapping another (409)."""


@dataclass(frozen=True)
class SlotSpec:
    weekday: int  # Monday is 0
    start_minute: int
    minutes: int


def list_shows(session: Session) -> list[Show]:
    return list(session.scalars(select(Show).order_by(Show.name, Show.id)))


def get_show(session: Session, show_id: int) -> Show:
    show = session.get(Show, show_id)
    if show is None:
        raise ShowNotFound(f"no show {show_id}")
    return show


def hosts_of(session: Session, show_ids: Sequence[int]) -> dict[int, list[Host]]:
    rows = session.execute(
        select(ShowHost.show_id, Host).join(Host, Host.id == ShowHost.host_id)
        .where(ShowHost.show_id.in_(show_ids)).order_by(Host.username)
    ).all()  # fmt: skip
    found: dict[int, list[Host]] = {}
    for show_id, host in rows:
        found.setdefault(show_id, []).append(host)
    return found


def slots_of(session: Session, show_ids: Sequence[int]) -> dict[int, list[ShowTimeslot]]:
    rows = session.scalars(
        select(ShowTimeslot).where(ShowTimeslot.show_id.in_(show_ids))
        .order_by(ShowTimeslot.weekday, ShowTimeslot.start_minute, ShowTimeslot.id)
    )  # fmt: skip
    found: dict[int, list[ShowTimeslot]] = {}
    for slot in rows:
        found.setdefault(slot.show_id, []).append(slot)
    return found


def create_show(session: Session, name: str, host_ids: Sequence[int],
                slots: Sequence[SlotSpec], **fields: Any) -> Show:  # fmt: skip
    if session.scalar(select(func.count(Show.id))) >= MAX_SHOWS:
        raise ShowError(f"the station has {MAX_SHOWS} shows, the most it keeps: delete one first")
    _check_name(session, name, None)
    show = Show(name=name, **fields)
    session.add(show)
    session.flush()
    set_hosts(session, show, host_ids)
    set_slots(session, show, slots)
    return show


def update_show(session: Session, show: Show, **fields: Any) -> None:
    """Changes the fields given (None: left as it is)."""
    if fields.get("name") is not None:
        _check_name(session, fields["name"], show.id)
    for key, value in fields.items():
        if value is not None:
            setattr(show, key, value)


def delete_show(session: Session, show: Show) -> None:
    for model in (ShowHost, ShowTimeslot):
        for row in session.scalars(select(model).where(model.show_id == show.id)):
            session.delete(row)
    session.flush()
    session.delete(show)


def set_hosts(session: Session, show: Show, host_ids: Sequence[int]) -> None:
    ids = list(dict.fromkeys(host_ids))
    if len(ids) > MAX_HOSTS_PER_SHOW:
        raise ShowError(f"a show has at most {MAX_HOSTS_PER_SHOW} hosts, not {len(ids)}")
    known = set(session.scalars(select(Host.id).where(Host.id.in_(ids)))) if ids else set()
    missing = [i for i in ids if i not in known]
    if missing:
        raise ShowError(f"no host {', '.join(map(str, missing))}")
    for row in session.scalars(select(ShowHost).where(ShowHost.show_id == show.id)):
        session.delete(row)
    session.flush()
    session.add_all(ShowHost(show_id=show.id, host_id=i) for i in ids)


def set_slots(session: Session, show: Show, slots: Sequence[SlotSpec]) -> None:
    """Replaces the show's slots, refusing any that overlaps another (of any show)."""
    if len(slots) > MAX_SLOTS_PER_SHOW:
        raise ShowError(f"a show has at most {MAX_SLOTS_PER_SHOW} slots, not {len(slots)}")
    for row in session.scalars(select(ShowTimeslot).where(ShowTimeslot.show_id == show.id)):
        session.delete(row)
    session.flush()
    for spec in slots:
        add_slot(session, show, spec)


def add_slot(session: Session, show: Show, spec: SlotSpec) -> ShowTimeslot:
    _check_slot(spec)
    count = session.scalar(select(func.count(ShowTimeslot.id))
                           .where(ShowTimeslot.show_id == show.id))  # fmt: skip
    if (count or 0) >= MAX_SLOTS_PER_SHOW:
        raise ShowError(f"a show has at most {MAX_SLOTS_PER_SHOW} slots")
    new = WeeklySlot(ShowInfo(show.id, show.name), spec.weekday, spec.start_minute, spec.minutes)
    names = {i: n for i, n in session.execute(select(Show.id, Show.name))}
    for row in session.scalars(select(ShowTimeslot)):
        other = WeeklySlot(ShowInfo(row.show_id, names.get(row.show_id, "")), row.weekday,
                           row.start_minute, row.minutes)  # fmt: skip
        if overlaps(new, other):
            whose = "another slot of this show" if row.show_id == show.id else (
                f"“{other.show.name}”")  # fmt: skip
            raise ShowConflict(f"{new.describe()} overlaps {whose} ({other.describe()}): "
                               "two shows cannot be on air at once")  # fmt: skip
    slot = ShowTimeslot(show_id=show.id, weekday=spec.weekday,
                        start_minute=spec.start_minute, minutes=spec.minutes)  # fmt: skip
    session.add(slot)
    session.flush()
    return slot


def delete_slot(session: Session, show: Show, slot_id: int) -> None:
    slot = session.get(ShowTimeslot, slot_id)
    if slot is None or slot.show_id != show.id:
        raise ShowNotFound(f"show {show.id} has no slot {slot_id}")
    session.delete(slot)


def weekly_slots(session: Session) -> list[WeeklySlot]:
    """Every show's slots, as the timetable takes them."""
    shows = {s.id: s for s in session.scalars(select(Show))}
    hosts = hosts_of(session, list(shows))
    infos = {
        show.id: ShowInfo(show.id, show.name,
                          tuple(h.id for h in hosts.get(show.id, [])),
                          tuple(h.display_name or h.username for h in hosts.get(show.id, [])),
                          show.interrupt_news, show.record)
        for show in shows.values()
    }  # fmt: skip
    return [
        WeeklySlot(infos[row.show_id], row.weekday, row.start_minute, row.minutes)
        for row in session.scalars(select(ShowTimeslot))
        if row.show_id in infos
    ]


def _check_name(session: Session, name: str, show_id: int | None) -> None:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ShowError(f"a show's name has 1 to {MAX_NAME_LENGTH} characters")
    taken = session.scalar(select(Show.id).where(func.lower(Show.name) == name.lower()))
    if taken is not None and taken != show_id:
        raise ShowConflict(f"a show named “{name}” exists")


def _check_slot(spec: SlotSpec) -> None:
    if not 0 <= spec.weekday <= 6:
        raise ShowError(f"weekday {spec.weekday}: 0 (Monday) to 6 (Sunday)")
    if not 0 <= spec.start_minute < MINUTES_PER_DAY:
        raise ShowError(f"start {spec.start_minute}: a time of day, 00:00 to 23:59")
    if not 1 <= spec.minutes <= MINUTES_PER_DAY:
        raise ShowError(f"a slot lasts 1 to {MINUTES_PER_DAY} minutes, not {spec.minutes}")
