"""The host dashboard (/host) in real Chromium, against a real station serving the real
stream: sign in, upload with a progress bar, reorder the queue by dragging, and every
section accessible at desktop and phone widths, in the light and the dark theme."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page, expect

from tests.audio import write_tone
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import PHONE, PageFactory, on_air
from tests.icecast import PASSWORD, Icecast
from tests.station import ADMIN_NAME, ADMIN_PASSWORD, RunningStation

# Long tones: the queue must not move on by itself while a test reorders it.
TONES = [
    (330.0, 120.0, "First Tone"),
    (440.0, 120.0, "Second Tone"),
    (550.0, 120.0, "Third Tone"),
    (660.0, 120.0, "Fourth Tone"),
]
SECTIONS = [
    "Queue",
    "Library",
    "Playlists",
    "News desk",
    "Listeners",
    "Problems",
    "Shows",
    "Hosts and tokens",
]
# Every section of the navigation, each with what shows its data has arrived.
DARK_SECTIONS = {name: ".rows, table, figure" for name in SECTIONS} | {
    "Requests": "#requests-list li",
    "Station": "#identity-accent-check:not(:empty)",
    "Go live": "#live-indicator",
    "Relays": ".rows, table, p",
}
ANALYSIS_MS = 60_000


def sign_in(page: Page) -> None:
    page.goto("/host")
    page.get_by_label("Username").fill(ADMIN_NAME)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_contain_text(ADMIN_NAME)


def open_section(page: Page, name: str) -> Locator:
    page.get_by_role("navigation", name="Dashboard sections").get_by_role("link", name=name).click()
    section = page.get_by_role("region", name=name)
    expect(section).to_be_visible()
    return section


def queue_ids(page: Page) -> list[int]:
    rows = page.locator("#queue-list li[data-id]")
    expect(rows.first).to_be_visible()
    return [int(row) for row in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]


def api_queue_ids(station: RunningStation) -> list[int]:
    response = httpx.get(station.url + "/api/queue", headers=station.auth(), timeout=10)
    response.raise_for_status()
    return [item["id"] for item in response.json()["items"] if item["id"] is not None]


def queue_by_host(station: RunningStation, titles: list[str]) -> list[int]:
    """Queue the library's tracks of these titles at the end, as a host; their entries' ids.
    The first of them airs first if the station plans its own rows anew: the rest stay."""
    tracks = station.get("/api/tracks?limit=100", headers=station.auth()).json()["items"]
    by_title = {track["title"]: track["id"] for track in tracks}
    entries: list[int] = []
    for title in titles:
        known = set(api_queue_ids(station))
        response = station.post("/api/queue", json={"track_id": by_title[title]})
        response.raise_for_status()
        entries += [item["id"] for item in response.json()["items"]
                    if item["reason"] == "host" and item["id"] not in known]  # fmt: skip
    assert len(entries) == len(titles), entries
    return entries


def before(ids: list[int], first: int, second: int) -> bool:
    return ids.index(first) < ids.index(second)


def background_lightness(page: Page) -> float:
    """The page's background as the eye sees it, 0 (black) to 255 (white): the mean of the
    body's computed red, green and blue."""
    rgb = page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor.match(/[0-9.]+/g)"
        ".slice(0, 3).map(Number)"
    )
    return sum(rgb) / 3


def go_dark(page: Page) -> None:
    """The system asks for the dark theme, and the dashboard follows it."""
    assert background_lightness(page) > 200, "the light theme is not light"
    page.emulate_media(color_scheme="dark")
    lightness = background_lightness(page)
    assert lightness < 50, f"the dashboard stays light in dark mode (background {lightness})"


def test_a_host_signs_in_uploads_a_file_and_reorders_the_queue(
    launch: Callable[..., RunningStation], new_page: PageFactory, tmp_path: Path
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url)
    page.goto("/host")
    assert_accessible(page)
    sign_in(page)

    # Upload: the bar reaches its end, the analysis finishes, the track is in the library.
    library = open_section(page, "Library")
    tags = {"artist": "Uploader", "title": "Uploaded Tone", "album": "Up"}
    upload = write_tone(tmp_path / "upload.mp3", 8, 880, tags=tags)
    library.get_by_label("Audio file").set_input_files(upload)
    library.get_by_role("button", name="Upload", exact=True).click()
    bar = page.locator("#upload-progress")
    expect(bar).to_have_attribute("value", "100")
    expect(page.locator("#analysis-progress")).to_have_attribute(
        "value", "100", timeout=ANALYSIS_MS
    )
    expect(page.locator("#library-list")).to_contain_text("Uploader – Uploaded Tone")
    found = station.get("/api/tracks?q=Uploaded", headers=station.auth()).json()["items"]
    assert [(t["title"], t["status"]) for t in found] == [("Uploaded Tone", "ready")]

    # A host's own rows, dragged and moved by keyboard. (Rows the station planned are planned
    # anew whenever the library changes, as after the upload: their ids do not last.)
    mine = queue_by_host(station, [title for _, _, title in TONES])[1:]
    open_section(page, "Queue")
    row = '#queue-list li[data-id="{}"]'.format
    for entry in mine:
        expect(page.locator(row(entry))).to_be_visible()
    # Drag the third of them above the first.
    dragged, target = mine[2], mine[0]
    page.locator(row(dragged)).drag_to(page.locator(row(target)))
    page.wait_for_function(
        "([a, b]) => { const ids = [...document.querySelectorAll('#queue-list li[data-id]')]"
        ".map(r => Number(r.dataset.id)); return ids.indexOf(a) >= 0 && "
        "ids.indexOf(a) < ids.indexOf(b); }",
        arg=[dragged, target],
    )
    page.reload()
    assert before(queue_ids(page), dragged, target), "the new order did not survive a reload"
    assert before(api_queue_ids(station), dragged, target)

    # The move buttons do the same from the keyboard, and keep the focus on the row.
    moved, above = mine[1], mine[0]  # (the dragged row is above both now)
    title = page.locator(f"{row(moved)} .title").inner_text()
    up = page.locator(row(moved)).get_by_role("button", name=f"Move {title} up")
    up.focus()
    page.keyboard.press("Enter")
    # Moved (the row above is below it now), and the focus is on its Up button again.
    page.wait_for_function(
        "([id, above]) => { const ids = [...document.querySelectorAll('#queue-list li[data-id]')]"
        ".map(r => Number(r.dataset.id)); return ids.indexOf(id) >= 0 && "
        "ids.indexOf(id) < ids.indexOf(above) && "
        "document.activeElement?.closest('li')?.dataset.id === String(id) && "
        "document.activeElement.dataset.action === 'up'; }",
        arg=[moved, above],
    )
    assert before(api_queue_ids(station), moved, above)

    assert_accessible(page)
    save_screenshot(page, "dashboard-desktop")
    go_dark(page)
    assert_accessible(page)
    save_screenshot(page, "dashboard-desktop-dark")


def test_every_section_is_accessible_and_fits_a_phone(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url, PHONE)
    sign_in(page)
    for name in SECTIONS:
        section = open_section(page, name)
        expect(section.locator(".rows, table, figure").first).to_be_attached()
        page.wait_for_load_state("networkidle")
        assert_fits_width(page, name)
        assert_accessible(page)
    open_section(page, "Queue")
    expect(page.locator("#queue-list li[data-id]").first).to_be_visible()
    save_screenshot(page, "dashboard-phone")

    go_dark(page)
    for name, loaded in DARK_SECTIONS.items():
        section = open_section(page, name)
        expect(section.locator(loaded).first).to_be_attached()
        page.wait_for_load_state("networkidle")
        assert_accessible(page)
    open_section(page, "Queue")
    expect(page.locator("#queue-list li[data-id]").first).to_be_visible()
    save_screenshot(page, "dashboard-phone-dark")


def test_the_sign_in_form_works_without_script(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    context = browser.new_context(base_url=launch().url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/host")
    _sign_in_with_the_form(page, ADMIN_PASSWORD)
    page.wait_for_url("**/host")  # the form goes on to the dashboard, not to JSON
    expect(page.get_by_text("Signed in as")).to_contain_text(ADMIN_NAME)
    # The page carries what script needs to act for the host: the session's CSRF token.
    assert page.locator('meta[name="csrf-token"]').get_attribute("content")
    context.close()


def test_a_failed_sign_in_without_script_shows_the_form_again(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    context = browser.new_context(base_url=launch().url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/host")
    _sign_in_with_the_form(page, "not the password")
    # The sign-in page with the reason, not the API's JSON; the name is kept.
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    expect(page.get_by_label("Username")).to_have_value(ADMIN_NAME)
    _sign_in_with_the_form(page, ADMIN_PASSWORD)
    expect(page.get_by_text("Signed in as")).to_contain_text(ADMIN_NAME)
    context.close()


def _sign_in_with_the_form(page: Page, password: str) -> None:
    page.get_by_label("Username").fill(ADMIN_NAME)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_api_refusal_is_shown_to_the_host(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, TONES)
    # Its own page: a refused request is logged on the console, which new_page forbids.
    context = browser.new_context(base_url=station.url)
    page = context.new_page()
    sign_in(page)
    library = open_section(page, "Library")
    library.get_by_role("button", name="Edit tags of Tones – First Tone").click()
    library.get_by_label("Title", exact=True).fill("")
    library.get_by_role("button", name="Save tags").click()
    expect(page.get_by_role("alert")).to_contain_text("title")
    expect(page.get_by_role("alert")).to_contain_text("at least 1 character")

    # Put right, the row shows the new name at once, and the focus is back on the row.
    library.get_by_label("Title", exact=True).fill("Renamed Tone")
    library.get_by_role("button", name="Save tags").click()
    edit = library.get_by_role("button", name="Edit tags of Tones – Renamed Tone")
    expect(edit).to_be_focused()
    expect(library.get_by_text("Tones – First Tone")).to_have_count(0)

    # An admin's own new password needs the current one, as the server asks.
    accounts = open_section(page, "Hosts and tokens")
    accounts.get_by_role("button", name=f"Set the password of {ADMIN_NAME}").click()
    form = accounts.get_by_role("form", name=f"New password for {ADMIN_NAME}")
    form.get_by_label("Current password").fill(ADMIN_PASSWORD)
    form.get_by_label("New password", exact=True).fill("a-new-long-passphrase-42")
    accounts.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    context.close()


def test_a_signed_out_page_asks_nothing_of_the_api(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = launch()
    page = new_page(station.url)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/host", wait_until="networkidle")
    assert not [url for url in asked if "/api/" in url]
    # A stale cookie is the same as none: the sign-in form, no failing requests.
    page.context.add_cookies([{"name": "radio_session", "value": "ended", "url": station.url}])
    page.goto("/host", wait_until="networkidle")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator('meta[name="csrf-token"]')).to_have_count(0)
    assert not [url for url in asked if "/api/" in url]


def test_the_listeners_section_charts_a_listener(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES)
    page = new_page(station.url)
    page.goto("/")
    page.get_by_role("button", name="Play").click()  # a real listener on the real stream
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1")
    host = new_page(station.url)
    sign_in(host)
    section = open_section(host, "Listeners")
    expect(section.locator("#listener-chart path.line")).to_be_attached()
    expect(section.locator("#listener-chart figcaption")).to_contain_text("1 listener")
    expect(section.get_by_role("table", name="Gained listeners")).to_be_visible()
    expect(section.locator("#session-table")).to_contain_text("HeadlessChrome")


def test_a_fault_is_shown_to_hosts_until_it_clears(
    tmp_path: Path, launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    """The encoder fails (a fault drill) while a host looks: the dashboard says what, why
    and since when, and that it is over once the drill ends, without a reload."""
    drills = tmp_path / "drills"
    drills.mkdir()
    station = on_air(launch, TONES, fault_drill_dir=drills)
    page = new_page(station.url)
    sign_in(page)
    section = open_section(page, "Problems")
    expect(section.locator("li.empty")).to_have_text("No problems since the station started.")
    (drills / "encoder").write_text("lame_encode_buffer: -2 (a drill)")
    row = section.locator('li[data-key="encoder"]')
    expect(row).to_have_attribute("data-state", "open", timeout=30_000)
    expect(row).to_contain_text("The MP3 encoder failed")
    expect(row).to_contain_text("Cause: lame_encode_buffer: -2 (a drill).")
    expect(row).to_contain_text("not over")
    expect(page.locator("#problems-open")).to_have_text("(1 open)")
    assert_accessible(page)
    (drills / "encoder").unlink()
    expect(row).to_have_attribute("data-state", "cleared", timeout=30_000)
    expect(row).to_contain_text("cleared")
    expect(page.locator("#problems-open")).to_be_hidden()


def test_hosts_see_each_relay_output_connect_when_its_icecast_comes_up(
    tmp_path: Path, launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    """A relay output to an Icecast server that is not up yet: the Relays section says so
    and why, without the password, and shows it connected once Icecast starts."""
    server = Icecast(tmp_path)
    relays = [{"url": server.source_url("/live"), "name": "edge-1"}]
    station = on_air(launch, TONES, relays=json.dumps(relays), relay_retry_max_seconds=2)
    page = new_page(station.url)
    sign_in(page)
    section = open_section(page, "Relays")
    row = section.locator('li[data-name="edge-1"]')
    expect(row).to_have_attribute("data-state", "disconnected")
    expect(row).to_contain_text(f"/stream → http://127.0.0.1:{server.port}/live")
    expect(row).to_contain_text("connection refused")
    expect(row).not_to_contain_text(PASSWORD)
    assert_accessible(page)
    try:
        server.start()
        expect(row).to_have_attribute("data-state", "connected", timeout=30_000)
        expect(row).to_contain_text("connected since")
    finally:
        server.stop()
