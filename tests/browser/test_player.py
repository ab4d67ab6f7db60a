"""The web player in real Chromium, against a real station serving the real stream."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Browser, Page, Response, expect

from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import PHONE, PageFactory, on_air
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation

TONES = [(440.0, 90.0, "Alpha Tone"), (660.0, 90.0, "Beta Tone"), (550.0, 90.0, "Gamma Tone")]
PAGE_WEIGHT_LIMIT = 150_000  # bytes of HTML, CSS and JS for the whole player page
# The policy the browser got with the page (a fetch of the same URL answers with the same).
CSP_OF_PAGE = "fetch(location.href).then((r) => r.headers.get('content-security-policy'))"
HEARD = 15_000  # ms: a change reaches the screen once the listener's buffer has played out


def press_play(page: Page) -> None:
    page.get_by_role("button", name="Play").click()
    # Sound is coming: the element's clock runs on audio it has decoded from /stream.
    # A function, not an expression: Playwright would eval() an expression, which the page's
    # Content-Security-Policy forbids.
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1.5",
                           timeout=20_000)  # fmt: skip


def shown_title(page: Page) -> str:
    return page.locator("#now-title").inner_text()


def test_pressing_play_plays_the_live_stream(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url)
    page.goto("/")
    expect(page.get_by_role("button", name="Play")).to_be_enabled()
    start = page.evaluate("document.getElementById('audio').currentTime")
    press_play(page)
    page.wait_for_timeout(2000)
    later = page.evaluate("document.getElementById('audio').currentTime")
    assert later > start + 2.5, "the audio element's time did not advance"
    expect(page.locator("#player-status")).to_have_text("Playing live.")
    expect(page.get_by_role("button", name="Stop")).to_have_attribute("aria-pressed", "true")
    # The station counts the browser among its listeners, and the page says so.
    assert station.now_playing()["listeners"] == 1
    expect(page.locator("#listeners-now")).to_have_text("1")
    expect(page.locator("#now-title")).to_have_text(station.now_playing()["current"]["title"])
    assert_accessible(page)  # the screenshots are tests/browser/test_bar.py's
    # The page ran, played and drew under its Content-Security-Policy, which blocked nothing.
    assert "default-src 'self'" in page.evaluate(CSP_OF_PAGE)
    assert page.evaluate("window.cspViolations") == []

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Play")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("document.getElementById('audio').paused")


def test_the_player_on_a_phone(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url, PHONE)
    page.goto("/")
    press_play(page)
    assert_fits_width(page)
    assert_accessible(page)


def test_the_first_render_needs_no_script_and_the_page_is_light(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, TONES)
    title = station.now_playing()["current"]["title"]
    context = browser.new_context(base_url=station.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#now-title")).to_have_text(title)
    expect(page.locator("#next")).not_to_be_empty()
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.defer || e.async)")
    assert scripts, "the player has no script to defer"
    assert all(scripts), "a script blocks the first render"
    context.close()

    context = browser.new_context(base_url=station.url)
    page = context.new_page()
    fetched: list[Response] = []
    page.on("response", lambda response: fetched.append(response))
    page.goto("/", wait_until="networkidle")
    weighed = [
        r for r in fetched if r.request.resource_type in {"document", "stylesheet", "script"}
    ]
    total = sum(len(r.body()) for r in weighed)
    kinds = {r.request.resource_type for r in weighed}
    assert kinds == {"document", "stylesheet", "script"}
    assert total < PAGE_WEIGHT_LIMIT, f"the player page weighs {total} bytes"
    context.close()


def test_the_screen_changes_when_a_host_skips_from_the_player(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url)
    signed_in = page.request.post(
        "/api/session", data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD}
    )
    assert signed_in.ok
    page.goto("/")
    press_play(page)
    before = shown_title(page)
    skip = page.get_by_role("button", name="Skip now")
    expect(skip).to_be_enabled()
    skip.click()
    expect(page.locator("#now-title")).not_to_have_text(before, timeout=HEARD)
    assert station.now_playing()["current"]["title"] != before


def test_two_listeners_voting_skip_the_item(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    # Votes count at once here (the listening a vote needs is tests/listeners/test_skip_api.py's).
    station = on_air(launch, TONES, skip_vote_minimum=2, skip_vote_listen_seconds=0)
    first, second = new_page(station.url), new_page(station.url, PHONE)
    for page in (first, second):
        page.goto("/")
        press_play(page)
    before = shown_title(first)
    expect(first.locator("#skip-votes")).to_have_text("0 of 2 votes to skip.")

    first.get_by_role("button", name="Vote to skip").click()
    # The tally reaches every listener through the push channel.
    expect(second.locator("#skip-votes")).to_have_text("1 of 2 votes to skip.")
    expect(first.get_by_role("button", name="Vote to skip")).to_be_disabled()
    assert station.now_playing()["current"]["title"] == before

    second.get_by_role("button", name="Vote to skip").click()
    for page in (first, second):
        expect(page.locator("#now-title")).not_to_have_text(before, timeout=HEARD)
    # Both voted: each waits out the cooldown before voting on the new item, and is told so.
    for page in (first, second):
        expect(page.locator("#skip-votes")).to_contain_text("You voted a moment ago")
        expect(page.get_by_role("button", name="Vote to skip")).to_be_disabled()


def test_the_board_shows_a_named_listener(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES, listener_min_seconds=2)
    page = new_page(station.url)
    page.goto("/")
    press_play(page)
    page.get_by_label("Your name on the board").fill("Ada <b>Lovelace</b>")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#board-status")).to_have_text(
        "You are on the board as Ada <b>Lovelace</b>."
    )
    page.wait_for_timeout(2500)  # past the accounting's minimum session
    page.get_by_role("button", name="Stop").click()
    week = page.locator("#board-week")
    expect(week).to_contain_text("Ada <b>Lovelace</b>", timeout=10_000)  # shown as text
    assert week.locator("b").count() == 0
    page.reload()
    expect(page.locator("#board-all")).to_contain_text("Ada <b>Lovelace</b>")
    expect(page.locator("#your-rank")).to_contain_text("You are #1 this week")
    assert_accessible(page, "#board")


def test_a_news_headline_opens_its_article(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    created = httpx.post(
        station.url + "/api/articles",
        headers=station.auth(),
        json={"title": "Harbour bridge reopens", "body": "The bridge is open again."},
    )
    created.raise_for_status()
    station.post(f"/api/articles/{created.json()['id']}/publish", json={}).raise_for_status()
    page = new_page(station.url)
    page.goto("/")
    page.get_by_role("link", name="Harbour bridge reopens").click()
    page.wait_for_url("**/news/harbour-bridge-reopens")
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour bridge reopens")
    assert_accessible(page)


def test_the_embed_plays(launch: Callable[..., RunningStation], new_page: PageFactory) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url, (420, 180))
    page.goto("/embed")
    press_play(page)
    expect(page.locator("#now-title")).to_have_text(station.now_playing()["current"]["title"])
    assert_accessible(page)
    save_screenshot(page, "embed")


def test_the_player_reconnects_by_itself_when_the_stream_drops(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, TONES)
    # Its own page: while the station is down, Chromium logs each refused reconnection.
    context = browser.new_context(base_url=station.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    press_play(page)

    station.stop()  # the stream drops: a restart, a network cut
    expect(page.locator("#player-status")).to_contain_text("Reconnecting", timeout=HEARD)
    again = launch(port=station.port)  # the same station back on the same address
    again.wait_for(lambda state: state["listeners"] == 1, timeout=30)
    expect(page.locator("#player-status")).to_have_text("Playing live.")
    played = page.evaluate("document.getElementById('audio').currentTime")
    page.wait_for_function(
        f"() => document.getElementById('audio').currentTime > {played} + 1.5", timeout=10_000
    )
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    assert not errors
    context.close()


# By ear: tones at distinct pitches, no crossfade, so the ear can tell exactly when the
# programme changes. A WebAudio analyser between the page's <audio> element and the speakers
# names the dominant pitch every 20 ms; a MutationObserver notes when the title changes.
PITCHES = [(300.0, 7.0, "Low Tone"), (600.0, 7.0, "Middle Tone"), (1200.0, 7.0, "High Tone")]
IN_STEP = 0.25  # s: the title changes within this of the change the listener hears
HEARD_CHANGES = 3
EAR = """(pitches) => {
  const audio = document.getElementById('audio');
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;  // a 23 ms window: 43 Hz bins, an octave apart is plain
  analyser.smoothingTimeConstant = 0;
  // The element now plays through the analyser, on to the speakers.
  context.createMediaElementSource(audio).connect(analyser);
  analyser.connect(context.destination);
  const level = new Float32Array(analyser.frequencyBinCount);
  const ear = window.ear = {tones: [], titles: []};
  let heard = null, candidate = null, since = 0, count = 0;
  setInterval(() => {
    analyser.getFloatFrequencyData(level);
    let loudest = 0;
    for (let i = 1; i < level.length; i++) if (level[i] > level[loudest]) loudest = i;
    const hz = loudest * context.sampleRate / analyser.fftSize;
    const pitch = level[loudest] < -70 ? null
      : pitches.reduce((a, b) => Math.abs(b - hz) < Math.abs(a - hz) ? b : a);
    if (pitch !== candidate) { candidate = pitch; since = performance.now(); count = 0; }
    count += 1;
    // A pitch counts once it holds for 60 ms; it was heard from its first sample.
    if (candidate !== null && candidate !== heard && count === 3) {
      heard = candidate;
      ear.tones.push({pitch: heard, at: since});
    }
  }, 20);
  const title = document.getElementById('now-title');
  new MutationObserver(() => {
    const last = ear.titles[ear.titles.length - 1];
    if (!last || last.title !== title.textContent) {
      ear.titles.push({title: title.textContent, at: performance.now()});
    }
  }).observe(title, {childList: true, characterData: true, subtree: true});
}"""


def test_the_title_changes_when_the_listener_hears_the_change(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, PITCHES, crossfade_seconds=0)
    # Listen once a whole tone has aired: the burst a new listener gets (~4 s) then holds
    # tones only, never the safety source that played before the library was scanned (the
    # ear would name its chord a tone, heard under a tone's title).
    station.wait_for(lambda s: any(e.get("kind") == "music" for e in s["history"]))
    title_of = {pitch: title for pitch, _, title in PITCHES}
    page = new_page(station.url)
    page.goto("/")
    page.evaluate(EAR, [pitch for pitch, _, _ in PITCHES])
    press_play(page)
    # The first pitch heard is wherever the stream began; each one after it is a change.
    page.wait_for_function(f"() => window.ear.tones.length > {HEARD_CHANGES}", timeout=60_000)
    # The ear names a pitch 60 ms after its first sample: the title of the last change has
    # until IN_STEP after that sample, so it is judged once that time has passed.
    page.wait_for_function(
        f"() => performance.now() > window.ear.tones[{HEARD_CHANGES}].at + {IN_STEP * 1000}"
    )
    ear = page.evaluate("window.ear")
    late: list[tuple[str, float | None]] = []  # s from hearing a change to seeing it
    for change in ear["tones"][1 : HEARD_CHANGES + 1]:
        title = title_of[change["pitch"]]
        shown = [
            (seen["at"] - change["at"]) / 1000 for seen in ear["titles"] if seen["title"] == title
        ]
        late.append((title, round(min(shown, key=abs), 2) if shown else None))
    assert all(off is not None and abs(off) <= IN_STEP for _, off in late), (
        f"the title changed this long after the listener heard the change (s): {late}"
    )
