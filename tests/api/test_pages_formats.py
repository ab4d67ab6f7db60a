"""What the public pages print: listening times on the board, and today's programme."""

from __future__ import annotations

from datetime import UTC, datetime

from app.api.player import PROGRAMME_SLOTS, todays_programme
from app.api.templating import listened
from app.config import Settings


def test_listening_under_a_minute_is_not_zero_minutes() -> None:
    assert listened(0) == "under a minute"
    assert listened(59.9) == "under a minute"
    assert listened(60) == "1 min"
    assert listened(3600 + 5 * 60 + 30) == "1 h 5 min"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_todays_programme_lists_the_bulletins_and_clock_playlists_left_today() -> None:
    now = datetime(2026, 11, 30, 21, 10, tzinfo=UTC)
    morning_only = [{"days": list(range(7)), "start": "06:00", "end": "10:00"}]
    slots = todays_programme(
        settings(bulletin_minute=0, timezone="UTC"),
        [("Top of the hour", 30, []), ("Breakfast hits", 15, morning_only)],
        now,
    )
    assert [(s["at"].strftime("%H:%M"), s["title"]) for s in slots] == [
        ("21:30", "Top of the hour"),
        ("22:00", "News bulletin"),
        ("22:30", "Top of the hour"),
        ("23:00", "News bulletin"),
        ("23:30", "Top of the hour"),
    ]  # nothing past midnight, nothing outside a playlist's daypart


def test_todays_programme_is_bounded_and_in_the_station_time_zone() -> None:
    now = datetime(2026, 11, 30, 5, 50, tzinfo=UTC)  # 06:50 in Berlin
    slots = todays_programme(
        settings(bulletin_minute=55, timezone="Europe/Berlin"),
        [(f"Clock {n}", n, []) for n in range(0, 50, 5)],
        now,
    )
    assert len(slots) == PROGRAMME_SLOTS
    assert slots[0]["at"].strftime("%H:%M %Z") == "06:55 CET"
    assert [s["at"] for s in slots] == sorted(s["at"] for s in slots)
    assert todays_programme(settings(bulletin_minute=-1), [], now) == []
