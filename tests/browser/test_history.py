"""The song history (/history) in real Chromium against a real station on air: today's plays
with covers and 24-hour times, the search, a day before, the song on air to share, and every
page accessible and fitting a phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.db import make_engine, make_sessions
from app.models import Play
from tests import database
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import DESKTOP, PHONE, PageFactory, on_air
from tests.station import RunningStation

TONES = [(440.0, 120.0, "Morning Tone"), (550.0, 120.0, "Evening Tone")]


def add_old_plays(station: RunningStation) -> None:
    """Yesterday's plays, as a day on air leaves them; one with a very long name."""
    engine = make_engine(database.url_for(station.state))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    try:
        with make_sessions(engine)() as session:
            session.add_all([
                Play(kind="music", artist="The Yesterdays", title="Old Favourite",
                     started_at=yesterday.replace(hour=9, minute=5)),
                Play(kind="music", artist="Someone With An Extraordinarily Long Stage Name",
                     title="A Song Whose Title Goes On And On Without Any End In Sight At All",
                     started_at=yesterday.replace(hour=21, minute=45)),
            ])  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_listener_finds_what_was_played(
    launch: Callable[..., RunningStation], new_page: PageFactory, size: tuple[int, int]
) -> None:
    station = on_air(launch, TONES)
    add_old_plays(station)
    on_now = station.now_playing()["current"]["title"]
    page = new_page(station.url, size)
    page.goto("/history")

    # The song on air, with its cover and links to share its page.
    box = page.get_by_role("region", name="On air now")
    expect(box).to_contain_text(on_now)
    share = box.get_by_role("list", name="Share the song on air")
    expect(share.get_by_role("link")).to_have_count(4)
    cover = page.locator(".plays img.cover").first
    expect(cover).to_be_visible()
    assert cover.evaluate("img => img.complete && img.naturalWidth > 0"), "the cover loads"
    # Today's plays under their hour, with 24-hour times and "listen from here".
    today = page.locator(".plays .play").filter(has_text=on_now).first
    expect(today.locator("time")).to_have_text(re.compile(r"^([01]\d|2[0-3]):[0-5]\d$"))
    expect(today.get_by_role("link", name=re.compile("^Listen from here"))).to_have_attribute(
        "href", re.compile(r"^/\?at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    )
    assert_accessible(page)
    assert_fits_width(page, "the history page")
    save_screenshot(page, f"history-{'phone' if size == PHONE else 'desktop'}")

    # The day before, one link away: long names wrap, and its plays are past the archive.
    page.get_by_role("link", name="← Earlier day").click()
    expect(page.get_by_role("heading", level=3, name="21:00")).to_be_visible()
    expect(page.get_by_text("Old Favourite")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Listen from here"))).to_have_count(0)
    assert_fits_width(page, "a day with long names")

    # A search by artist, in any case.
    page.get_by_label("Search by title or artist").fill("yesterdays")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Played: “yesterdays”")).to_be_visible()
    expect(page.locator(".plays .play")).to_have_count(0)  # not a library track: no result
    page.get_by_label("Search by title or artist").fill(on_now.split()[0].upper())
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".plays .play").filter(has_text=on_now)).to_have_count(1)
    assert_accessible(page)

    # A play's own page, to share, with its cover.
    page.goto("/history")
    page.locator(".plays .play .title a").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("list", name="Share this song").get_by_role("link")).to_have_count(4)
    assert_accessible(page)
    assert_fits_width(page, "a play's page")
