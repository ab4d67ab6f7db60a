"""Today's programme on the player page (app.api.player.todays_programme) with the station's
shows: each show at its slot's wall-clock start ("Live"; "On now" while it is on, first), and
no news bulletin inside a show that the news does not interrupt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.api.player import todays_programme
from app.config import Settings
from app.db import SessionFactory
from app.shows import Shows, store

ZONE = ZoneInfo("Europe/Berlin")


def test_todays_programme_lists_the_shows_and_leaves_out_the_news_they_hold(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    with sessions.begin() as db:
        store.create_show(db, "Morning Show", [], [store.SlotSpec(0, 7 * 60, 120)],
                          interrupt_news=False)  # fmt: skip
        store.create_show(db, "Lunch", [], [store.SlotSpec(0, 12 * 60, 60)])
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, timezone="Europe/Berlin",
                        bulletin_minute=15)  # fmt: skip
    shows = Shows(sessions, settings)
    shows.load()

    def programme(hour: int, minute: int) -> list[tuple[str, str, str]]:
        now = datetime(2025, 3, 24, hour, minute, tzinfo=ZONE)  # a Monday
        slots = todays_programme(settings, [], now, shows.today(now), shows.holds_news)
        return [(s["at"].strftime("%H:%M"), s["title"], s["label"]) for s in slots]

    assert programme(6, 30) == [
        ("07:00", "On air: Morning Show", "Live"),  # 07:15 and 08:15: no news in it
        ("09:15", "News bulletin", "News"),
        ("10:15", "News bulletin", "News"),
        ("11:15", "News bulletin", "News"),
        ("12:00", "On air: Lunch", "Live"),
        ("12:15", "News bulletin", "News"),  # Lunch takes the news
        ("13:15", "News bulletin", "News"),
        ("14:15", "News bulletin", "News"),
    ]
    assert programme(7, 30)[:2] == [
        ("07:00", "On air: Morning Show", "On now"),
        ("09:15", "News bulletin", "News"),
    ]
    assert programme(13, 0)[0] == ("13:15", "News bulletin", "News")  # Lunch is over
