"""Whether a host may go live at a moment (station.shows.may_go_live, which the live source
asks): with RADIO_LIVE_REQUIRE_SLOT, only inside a slot of one of their shows, refused with a
sentence saying why and when their next slot is; without it, any time. Answered from memory:
no query per question, and a change is seen once the station is told (`changed`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import event

from app.config import Settings
from app.db import SessionFactory
from app.models import Show
from app.shows import Shows, store
from tests.shows.hosts import add_host

ZONE = ZoneInfo("Europe/Berlin")


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Berlin in the week of Monday 27 October 2025 (day 0)."""
    return datetime(2025, 10, 27, hour, minute, tzinfo=ZONE) + timedelta(days=day)


def _shows(sessions: SessionFactory, tmp_path: Path, require: bool) -> Shows:
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, timezone="Europe/Berlin",
                        live_require_slot=require)  # fmt: skip
    shows = Shows(sessions, settings)
    shows.load()
    return shows


def test_a_host_goes_live_only_in_a_slot_of_their_own_show(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    ann, bo, cy = (add_host(sessions, n) for n in ("Ann", "Bo", "Cy"))
    with sessions.begin() as db:
        # Tuesday 07:00-09:00 (wall clock), and Thursday 22:00 for 3 hours, past midnight.
        store.create_show(db, "Morning Show", [ann], [store.SlotSpec(1, 7 * 60, 120),
                                                      store.SlotSpec(3, 22 * 60, 180)])  # fmt: skip
    shows = _shows(sessions, tmp_path, require=True)

    assert shows.may_go_live(ann, _at(1, 7)) is None  # its first minute
    assert shows.may_go_live(ann, _at(1, 8, 59)) is None
    assert shows.may_go_live(ann, _at(4, 0, 30)) is None  # Thursday's slot, after midnight
    assert shows.may_go_live(ann, _at(1, 9)) == (
        "The station lets hosts go live only in a slot of one of their shows. Your next "
        "slot: “Morning Show”, Thursday 22:00."
    )
    assert shows.may_go_live(ann, _at(0, 12)) == (
        "The station lets hosts go live only in a slot of one of their shows. Your next "
        "slot: “Morning Show”, Tuesday 07:00."
    )
    assert shows.may_go_live(bo, _at(1, 8)) == (
        "It is the slot of “Morning Show” until 09:00: only Ann may go live now."
    )
    assert shows.may_go_live(cy, _at(5, 8)) == (
        "The station lets hosts go live only in a slot of one of their shows. You host no "
        "show with a slot."
    )

    # Bo joins the show: allowed once the station is told.
    with sessions.begin() as db:
        show = db.query(Show).one()
        store.set_hosts(db, show, [ann, bo])
    assert shows.may_go_live(bo, _at(1, 8)) is not None  # not told yet: memory
    shows.changed()
    assert shows.may_go_live(bo, _at(1, 8)) is None
    assert shows.current(_at(1, 8)).host_names == ("Ann", "Bo")  # type: ignore[union-attr]

    # Without RADIO_LIVE_REQUIRE_SLOT anyone, any time.
    free = _shows(sessions, tmp_path, require=False)
    assert free.may_go_live(cy, _at(1, 8)) is None
    assert free.may_go_live(cy, _at(5, 3)) is None


def test_the_questions_are_answered_from_memory_without_a_query(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    ann = add_host(sessions, "Ann")
    with sessions.begin() as db:
        store.create_show(db, "Morning Show", [ann], [store.SlotSpec(1, 7 * 60, 120)],
                          interrupt_news=False, record=True)  # fmt: skip
    shows = _shows(sessions, tmp_path, require=True)
    statements: list[str] = []
    engine = sessions.kw["bind"]
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for minute in range(0, 24 * 60 * 7, 7):
            at = _at(minute // 1440, (minute % 1440) // 60, minute % 60)
            shows.may_go_live(ann, at)
            shows.current(at)
            shows.holds_news(at)
        on = shows.current(_at(1, 8))
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert statements == []
    assert on is not None
    assert (on.name, on.host_names, on.interrupt_news, on.record) == (
        "Morning Show",
        ("Ann",),
        False,
        True,
    )
    assert shows.holds_news(_at(1, 8))
    assert not shows.holds_news(_at(1, 9))
