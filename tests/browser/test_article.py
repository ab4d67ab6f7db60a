"""The article page in real Chromium against a real station: every part of item 6 at
desktop and phone width (axe clean, no console error), the star rating without script, and
the story's audio pausing the live stream and offering it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from tests import database
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import DESKTOP, PHONE, HeldLoad, PageFactory, on_air
from tests.news.test_article_parts import PNG
from tests.station import RunningStation

TONES = [(440.0, 120.0, "Alpha Tone"), (660.0, 120.0, "Beta Tone")]
SLUG = "harbour-bridge-reopens"

# Records what the page asks of the player bar (window.radioBar, the contract with the bar's
# script): the bar's own methods still run when the bar is there; without a bar, a stand-in
# that only records. Set before any script of the page runs.
RECORD_BAR = """
window.barCalls = [];
const wrap = (bar) => {
  for (const name of ["pauseForOther", "resumeOffer"]) {
    const own = typeof bar[name] === "function" ? bar[name].bind(bar) : () => {};
    bar[name] = (...args) => { window.barCalls.push(name); return own(...args); };
  }
  return bar;
};
let current;
Object.defineProperty(window, "radioBar", {
  configurable: true,
  get: () => current,
  set: (bar) => { current = bar ? wrap(bar) : bar; },
});
document.addEventListener("DOMContentLoaded", () => {
  if (!current) window.radioBar = {};
});
"""


def story_with_everything(station: RunningStation) -> None:
    """A published story by a host with a profile and picture, with a comment and a reply
    (approved), its speech rendered."""
    auth = station.auth()
    profile = httpx.put(station.url + "/api/profile", headers=auth, timeout=10,
                        json={"display_name": "Mara Lindqvist",
                              "bio": "Covers the harbour and the ferries."})  # fmt: skip
    profile.raise_for_status()
    httpx.put(station.url + "/api/profile/picture", headers={**auth, "Content-Type": "image/png"},
              content=PNG, timeout=10).raise_for_status()  # fmt: skip
    created = httpx.post(station.url + "/api/articles", headers=auth, timeout=10,
                         json={"title": "Harbour bridge reopens", "summary": "Open again.",
                               "body": "The bridge is open again after two years."})  # fmt: skip
    created.raise_for_status()
    station.post(f"/api/articles/{created.json()['id']}/publish", json={}).raise_for_status()
    form = {"name": "Sam Sailor", "email": "sam@example.org", "comment": "Good news!"}
    httpx.post(station.url + f"/news/{SLUG}/comments", json=form, timeout=10,
               headers={"Accept": "application/json"}).raise_for_status()  # fmt: skip
    comments = station.get("/api/comments", headers=auth).json()
    station.post(f"/api/comments/{comments[0]['id']}/approve").raise_for_status()
    reply = {
        **form,
        "name": "Kim",
        "email": "kim@example.org",
        "comment": "Agreed.",
        "reply_to": str(comments[0]["id"]),
    }
    httpx.post(station.url + f"/news/{SLUG}/comments", json=reply, timeout=10,
               headers={"Accept": "application/json"}).raise_for_status()  # fmt: skip
    pending = station.get("/api/comments", params={"status": "pending"}, headers=auth).json()
    station.post(f"/api/comments/{pending[0]['id']}/approve").raise_for_status()
    station.wait_for_speech()


def check_every_part(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour bridge reopens")
    written_by = page.locator("section.written-by")
    expect(written_by.get_by_role("heading", name="Written by")).to_be_visible()
    expect(written_by.get_by_role("link", name="Mara Lindqvist", exact=True)).to_be_visible()
    expect(written_by).to_contain_text("Covers the harbour and the ferries.")
    picture = written_by.locator("img.host-picture")
    expect(picture).to_be_visible()
    assert picture.evaluate("(img) => img.complete && img.naturalWidth > 0"), "no picture"
    for stars in range(1, 6):
        name = f"Rate {stars} star" + ("s" if stars > 1 else "")
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    # The comment count sits by the title and leads to the comments.
    comment_link = page.get_by_role("link", name="Post comments (2)")
    expect(comment_link).to_be_visible()
    comment_link.click()
    page.wait_for_url(f"**/news/{SLUG}#comments")
    expect(page.get_by_role("heading", name="2 comments")).to_be_in_viewport()
    # One level of replies: the reply under its comment, a reply form per comment.
    expect(page.locator(".replies .reply")).to_contain_text("Agreed.")
    page.get_by_text("Reply to Sam Sailor").click()
    expect(page.get_by_label("Reply", exact=False).first).to_be_visible()
    assert_accessible(page)
    assert_fits_width(page, "the article page")


def test_the_article_page_has_every_part_at_desktop_and_phone_width(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    story_with_everything(station)
    for size, name in ((DESKTOP, "article-complete-desktop"), (PHONE, "article-complete-phone")):
        page = new_page(station.url, size)
        page.goto(f"/news/{SLUG}")
        check_every_part(page)
        page.goto(f"/news/{SLUG}")
        save_screenshot(page, name)


def test_the_story_audio_pauses_the_live_stream_and_offers_it_back(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    story_with_everything(station)
    page = new_page(station.url)
    page.context.add_init_script(RECORD_BAR)
    page.goto(f"/news/{SLUG}")
    audio = page.locator(".listen audio")
    audio.evaluate("(audio) => audio.play()")
    page.wait_for_function("() => document.querySelector('.listen audio').currentTime > 0.5")
    assert page.evaluate("() => window.barCalls") == ["pauseForOther"]
    # To its end: the offer to go back to the live point.
    audio.evaluate("(audio) => { audio.currentTime = Math.max(0, audio.duration - 0.3); }")
    page.wait_for_function("() => document.querySelector('.listen audio').ended",
                           timeout=20_000)  # fmt: skip
    assert page.evaluate("() => window.barCalls") == ["pauseForOther", "resumeOffer"]
    # The page content swapped in place by the bar (radio:navigated): bound again, once.
    page.evaluate("""() => {
        const main = document.getElementById("content");
        main.innerHTML = main.innerHTML;
        document.dispatchEvent(new Event("radio:navigated"));
    }""")  # fmt: skip
    page.locator(".listen audio").evaluate("(audio) => audio.play()")
    page.wait_for_function("() => window.barCalls.length === 3")
    assert page.evaluate("() => window.barCalls")[2] == "pauseForOther"


def test_the_stars_rate_without_script_and_by_keyboard(
    launch: Callable[..., RunningStation], browser: Browser, new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    story_with_everything(station)
    context = browser.new_context(base_url=station.url, java_script_enabled=False,
                                  viewport={"width": PHONE[0], "height": PHONE[1]})  # fmt: skip
    try:
        page = context.new_page()
        page.goto(f"/news/{SLUG}")
        expect(page.locator(".rating-summary")).to_contain_text("Not rated yet.")
        page.get_by_role("button", name="Rate 4 stars").click()
        page.wait_for_url(f"**/news/{SLUG}?rated=1#rating")
        expect(page.get_by_role("status").first).to_have_text("Thank you for rating this story.")
        expect(page.locator(".rating-summary")).to_contain_text("Average 4.0 out of 5 from 1")
        expect(page.get_by_role("button", name="Rate 4 stars")).to_have_attribute(
            "aria-pressed", "true"
        )
        # By keyboard: a star is a button; Enter on it rates (and changes the vote).
        page.get_by_role("button", name="Rate 2 stars").focus()
        page.keyboard.press("Enter")
        expect(page.locator(".rating-summary")).to_contain_text("Average 2.0 out of 5 from 1")
        assert station.get(f"/api/news/{SLUG}").json()["rating"] == {"average": 2.0, "count": 1}
        # (axe runs as a script: the page with script is checked in the test above.)
    finally:
        context.close()
    # With script, the same buttons answer in place: the page (and its player) stays.
    page = new_page(station.url)
    page.goto(f"/news/{SLUG}")
    page.get_by_role("button", name="Rate 5 stars").click()
    expect(page.locator(".rate-status")).to_have_text("Thank you: you rated this story 5 out of 5.")
    assert page.url.endswith(f"/news/{SLUG}")
    expect(page.locator(".rating-summary")).to_contain_text("Average 3.5 out of 5 from 2 ratings")


def test_a_host_sets_their_profile_in_the_dashboard(
    launch: Callable[..., RunningStation], browser: Browser, tmp_path: Path
) -> None:
    from tests.browser.test_dashboard import open_section, sign_in

    station = on_air(launch, TONES)
    picture = tmp_path / "me.png"
    picture.write_bytes(PNG)
    not_a_picture = tmp_path / "me-too.png"
    not_a_picture.write_text("<svg></svg>")
    # Its own page: the refused upload is logged on the console, which new_page forbids.
    context = browser.new_context(base_url=station.url,
                                  viewport={"width": PHONE[0], "height": PHONE[1]})  # fmt: skip
    page = context.new_page()
    sign_in(page)
    # The host types while the section's profile is still loading: its answer, held back
    # until they have typed, must not write over what they typed.
    load = HeldLoad(page, "/api/profile")
    section = open_section(page, "Hosts and tokens")
    expect(section.get_by_role("heading", name="Your profile")).to_be_visible()
    section.get_by_label("Display name").fill("Mara Lindqvist")
    section.get_by_label("Short bio").fill("Covers the harbour.")
    load.release()
    expect(section.get_by_label("Display name")).to_have_value("Mara Lindqvist")
    section.get_by_role("button", name="Save profile").click()
    expect(page.locator("#status")).to_have_text("Your profile is saved.")
    # A file that only claims to be a picture is refused, and the host is told why.
    section.get_by_label("Picture (PNG, JPEG or WebP, at most 2 MB)").set_input_files(not_a_picture)
    section.get_by_role("button", name="Upload picture").click()
    expect(page.locator("#alerts")).to_contain_text("must be a PNG, JPEG or WebP image")
    section.get_by_label("Picture (PNG, JPEG or WebP, at most 2 MB)").set_input_files(picture)
    section.get_by_role("button", name="Upload picture").click()
    expect(page.locator("#status")).to_have_text("Your picture is saved.")
    shown = section.get_by_role("img", name="Your picture")
    expect(shown).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                           arg=shown.element_handle())  # fmt: skip
    assert_fits_width(page, "the accounts section")
    assert_accessible(page)
    # The public page, as listeners see it.
    section.get_by_role("link", name="your public page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mara Lindqvist")
    expect(page.get_by_text("Covers the harbour.")).to_be_visible()
    assert_accessible(page)
    context.close()


def test_listen_again_on_the_news_and_story_pages(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    from datetime import UTC, datetime

    from app.db import make_engine, make_sessions
    from tests.news.test_article_parts import keep_a_bulletin

    station = on_air(launch, TONES)
    story_with_everything(station)
    engine = make_engine(database.url_for(station.state))
    try:
        article_id = station.get("/api/articles?q=Harbour", headers=station.auth()).json()
        at = datetime.now(UTC).replace(microsecond=0)
        keep_a_bulletin(make_sessions(engine), station.media, [article_id["items"][0]["id"]], at)
    finally:
        engine.dispose()
    for size in (DESKTOP, PHONE):
        page = new_page(station.url, size)
        page.context.add_init_script(RECORD_BAR)
        page.goto("/news")
        again = page.get_by_role("region", name="Listen again")
        expect(again).to_contain_text(f"News at {at:%H:%M}")
        expect(again.get_by_role("link", name="Harbour bridge reopens")).to_be_visible()
        assert_accessible(page)
        assert_fits_width(page, "the news page")
        page.goto(f"/news/{SLUG}")
        heard = page.get_by_role("region", name="Heard in the news")
        bulletin = heard.locator("audio")
        expect(bulletin).to_have_count(1)
        bulletin.evaluate("(audio) => audio.play()")
        page.wait_for_function("() => window.barCalls.includes('pauseForOther')")
        assert_accessible(page)
        assert_fits_width(page, "the article page with a bulletin")
