"""The player bar on every public page, in real Chromium against a real station: the audio
keeps playing while the listener moves between pages, previous / live over the time-shift
archive, the vote messages, and the pages' look (axe, screenshots) in light and dark."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser, Page, Request, expect

from tests.audio import write_tone
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import PHONE, PageFactory, on_air
from tests.conftest import tone_library
from tests.station import RunningStation

TONES = [(440.0, 90.0, "Alpha Tone"), (660.0, 90.0, "Beta Tone"), (550.0, 90.0, "Gamma Tone")]
HEADLINE = "Harbour bridge reopens"
AUDIO_TIME = "() => document.getElementById('audio').currentTime"


def publish_story(station: RunningStation, title: str = HEADLINE) -> str:
    created = httpx.post(
        station.url + "/api/articles",
        headers=station.auth(),
        json={"title": title, "body": "The bridge is open again.\n\nTraffic flows.",
              "category": "Local", "summary": "Six months of repairs are over."},
    )  # fmt: skip
    created.raise_for_status()
    station.post(f"/api/articles/{created.json()['id']}/publish", json={}).raise_for_status()
    return str(created.json()["slug"])


def stream_requests(page: Page) -> list[str]:
    """Every request the page makes for the stream, as it makes them."""
    seen: list[str] = []

    def note(request: Request) -> None:
        if urlsplit(request.url).path in {"/stream", "/stream.mp3"}:
            seen.append(request.url)

    page.on("request", note)
    return seen


def press_play(page: Page) -> None:
    page.locator("#play").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1.5",
                           timeout=20_000)  # fmt: skip


def still_playing(page: Page) -> None:
    """The element's clock goes on: it plays audio it keeps receiving."""
    before = page.evaluate(AUDIO_TIME)
    page.wait_for_function(f"() => document.getElementById('audio').currentTime > {before} + 1.5",
                           timeout=10_000)  # fmt: skip
    assert not page.evaluate("document.getElementById('audio').paused")


def test_the_audio_keeps_playing_from_page_to_page(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    slug = publish_story(station)
    page = new_page(station.url)
    streams = stream_requests(page)
    page.goto("/")
    page.evaluate("""() => { window.navigations = 0;
        document.addEventListener('radio:navigated', () => { window.navigations += 1; }); }""")
    press_play(page)
    assert len(streams) == 1

    page.get_by_role("link", name=HEADLINE).click()
    page.wait_for_url(f"**/news/{slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(HEADLINE)
    assert page.title().startswith(HEADLINE)
    expect(page.locator("#bar #now-title")).to_have_text(station.now_playing()["current"]["title"])
    still_playing(page)
    # The same document: the page's own script state survived, and no stream was asked again.
    assert page.evaluate("window.navigations") == 1
    assert len(streams) == 1, streams
    # The board sits beside the story.
    expect(page.locator("aside #board")).to_be_visible()
    assert_accessible(page)

    page.go_back()
    page.wait_for_url(station.url + "/")
    expect(page.locator("#hero-title")).to_be_visible()
    still_playing(page)
    assert page.evaluate("window.navigations") == 2
    assert len(streams) == 1, streams
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "true")

    # Another player on the page (a story read aloud) stops the radio, then offers it back.
    page.evaluate("() => window.radioBar.pauseForOther()")
    assert page.evaluate("document.getElementById('audio').paused")
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "false")
    page.evaluate("() => window.radioBar.resumeOffer()")
    page.get_by_role("button", name="Back to live radio").click()
    expect(page.locator("#player-status")).to_have_text("Playing live.", timeout=20_000)
    still_playing(page)


def test_pages_work_as_plain_links_without_script(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, TONES)
    slug = publish_story(station)
    context = browser.new_context(base_url=station.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_role("link", name=HEADLINE).click()
    page.wait_for_url(f"**/news/{slug}")
    expect(page.locator("#bar #now-title")).not_to_be_empty()
    # Without script the bar offers the stream itself (Playwright's switch leaves the parser
    # treating <noscript> as text, so its markup is read here rather than its rendering).
    assert 'href="/stream"' in page.locator("#bar noscript").inner_html()
    page.get_by_role("link", name="Local").first.click()
    page.wait_for_url("**/news/category/Local")
    expect(page.get_by_role("heading", level=1)).to_have_text("Local")
    context.close()


def at_of(url: str) -> datetime:
    return datetime.fromisoformat(parse_qs(urlsplit(url).query)["at"][0].replace("Z", "+00:00"))


def test_previous_goes_to_the_start_of_the_item_and_live_comes_back(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES, listener_min_seconds=3)
    page = new_page(station.url)
    streams = stream_requests(page)
    page.goto("/")
    page.get_by_label("Your name on the board").fill("Rewinder")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#board-status")).to_have_text("You are on the board as Rewinder.")
    # An item before the one on air (so "previous" has a wrong answer to give), and some way
    # into the one on air, so that "previous" means its start, not the one before.
    first = station.now_playing()["current"]["title"]
    station.post("/api/queue/skip").raise_for_status()
    on = station.wait_for(lambda state: (state["current"] or {}).get("title") != first
                          and state["current"]["elapsed"] > 8)  # fmt: skip
    current = on["current"]

    page.get_by_role("button", name="Previous").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1.5",
                           timeout=20_000)  # fmt: skip
    shifted = [url for url in streams if "at=" in url]
    assert len(shifted) == 1, streams
    # Measured from the stream request, against the station's own start of the item (now
    # playing, another reader than the archive listing the page used).
    started = datetime.fromisoformat(current["started_at"])
    assert abs((at_of(shifted[0]) - started).total_seconds()) < 1.0, (shifted, started)
    expect(page.locator("#now-title")).to_have_text(current["title"])
    expect(page.locator("#player-status")).to_contain_text("behind live")
    behind = (datetime.now(started.tzinfo) - at_of(shifted[0])).total_seconds()
    assert behind > 8
    expect(page.locator("#live")).to_be_enabled()
    # Time-shifted listening counts on the board once it lasts the minimum.
    page.wait_for_function("() => document.getElementById('audio').currentTime > 4.5",
                           timeout=20_000)  # fmt: skip
    still_playing(page)
    page.get_by_role("button", name="Stop").click()
    week = page.locator("#board-week")
    expect(week).to_contain_text("Rewinder", timeout=15_000)
    expect(week).to_contain_text("under a minute")  # not "0 min"

    page.get_by_role("button", name="Previous").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1", timeout=20_000)
    page.get_by_role("button", name="Live").click()
    expect(page.locator("#player-status")).to_have_text("Playing live.", timeout=20_000)
    assert "sync=" in streams[-1], streams
    assert "at=" not in streams[-1], streams
    expect(page.locator("#live")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#now-title")).to_have_text(station.now_playing()["current"]["title"])
    still_playing(page)


def test_a_vote_that_skips_says_so_without_contradiction_and_the_cooldown_shows(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    # A jingle after every song: right after the skip, what is on air cannot be voted off.
    station = launch(skip_vote_minimum=1, skip_vote_listen_seconds=0, jingle_every=1,
                     skip_vote_cooldown_seconds=60)  # fmt: skip
    tone_library(station.media, TONES)
    jingles = station.media / "jingles"
    jingles.mkdir(parents=True, exist_ok=True)
    write_tone(jingles / "sting.mp3", 6.0, 880.0, tags={"artist": "", "title": "Sting"})
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    page = new_page(station.url)
    page.goto("/")
    page.evaluate("""() => { window.said = [];
      const note = () => window.said.push([document.getElementById('player-status').textContent,
                                           document.getElementById('skip-votes').textContent]);
      const what = {childList: true, characterData: true, subtree: true};
      for (const id of ['player-status', 'skip-votes']) {
        new MutationObserver(note).observe(document.getElementById(id), what);
      } }""")
    press_play(page)
    vote = page.get_by_role("button", name="Vote to skip")
    expect(vote).to_be_enabled(timeout=30_000)
    title = page.locator("#now-title").inner_text()
    vote.click()
    expect(page.locator("#skip-votes")).to_have_text(f"Your vote skipped “{title}”.")
    # The next song, after the jingle: the cooldown holds the button, and says why.
    expect(page.locator("#now-title")).not_to_have_text(title, timeout=40_000)
    expect(vote).to_be_disabled()
    expect(page.locator("#skip-votes")).to_have_text(
        re.compile(r"You voted a moment ago: you can vote again in \d+ s\.")
    )
    said = page.evaluate("window.said")
    for status, votes in said:
        both = f"{status} {votes}"
        assert not ("skipped" in both and "can't be skipped" in both), said
        for text in (status, votes):
            assert not text[:1].islower(), said


def test_the_pages_look_in_light_and_dark_at_both_widths(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES, bulletin_minute=0)  # bulletins in today's programme
    slug = publish_story(station)
    publish_story(station, "Night market returns to the square")
    first = station.now_playing()["current"]["title"]
    station.post("/api/queue/skip").raise_for_status()  # something in "recently played"
    station.wait_for(lambda state: bool(state["history"]) and state["history"][0]["title"] == first)
    for size, width in ((None, "desktop"), (PHONE, "phone")):
        page = new_page(station.url, size) if size else new_page(station.url)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            suffix = "" if scheme == "light" else "-dark"
            page.goto("/")
            if scheme == "light":
                press_play(page)
            assert_fits_width(page)
            assert_accessible(page)
            save_screenshot(page, f"player-{width}{suffix}")
            page.goto(f"/news/{slug}")
            expect(page.locator("#bar")).to_be_visible()
            assert_fits_width(page)
            assert_accessible(page)
            save_screenshot(page, f"article-{width}{suffix}")
            page.goto("/news")
            assert_accessible(page)
