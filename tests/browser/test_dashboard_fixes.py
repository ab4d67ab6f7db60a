"""What a new host tripped on in the dashboard (issue 11, item 8), in real Chromium against a
real station: the story form's sources and related stories, 24-hour times, the playlist form
showing only the chosen rule's fields, adding tracks from the playlist itself, and an
upload's outcome that stays until the host is done with it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.audio import write_tone
from tests.browser.checks import assert_accessible
from tests.browser.conftest import HeldLoad, PageFactory
from tests.browser.test_dashboard import ANALYSIS_MS, open_section, sign_in
from tests.conftest import tone_library
from tests.station import RunningStation, start_station

TONES = [(330.0, 120.0, "First Tone"), (440.0, 120.0, "Second Tone"), (550.0, 120.0, "Third Tone")]
TWELVE_HOUR = re.compile(r"\b(AM|PM|a\.m\.|p\.m\.)", re.IGNORECASE)


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    """One station for the module: each test makes the things it looks at."""
    running = start_station(tmp_path_factory.mktemp("dashboard"))
    try:
        tone_library(running.media, TONES)
        running.post("/api/library/scan").raise_for_status()
        running.wait_for_music()
        yield running
    finally:
        running.stop()


def signed_in(new_page: PageFactory, station: RunningStation) -> Page:
    page = new_page(station.url)
    page.goto("/host")
    sign_in(page)
    return page


def test_the_story_form_keeps_sources_and_related_stories(
    station: RunningStation, new_page: PageFactory
) -> None:
    older = station.post("/api/articles", json={"title": "Harbour dredging starts",
                                                "body": "Work begins."}).json()  # fmt: skip
    page = signed_in(new_page, station)
    news = open_section(page, "News desk")
    news.get_by_label("Title").fill("Ferry timetable changes")
    news.get_by_label("Body (Markdown)").fill("New times from Monday.")
    news.get_by_label(re.compile("^Sources")).fill(
        "Port authority | https://port.example/notice\nhttps://council.example/minutes"
    )
    news.get_by_label(re.compile("^Related stories")).select_option(label=older["title"])
    news.get_by_role("button", name="Save draft").click()
    expect(page.locator("#status")).to_contain_text("Ferry timetable changes is saved")

    found = station.get("/api/articles?limit=100", headers=station.auth()).json()["items"]
    story = next(a for a in found if a["title"] == "Ferry timetable changes")
    saved = station.get(f"/api/articles/{story['id']}", headers=station.auth()).json()
    assert saved["sources"] == [
        {"label": "Port authority", "url": "https://port.example/notice"},
        {"label": "council.example", "url": "https://council.example/minutes"},
    ]
    assert saved["related_ids"] == [older["id"]]

    # Opened again for editing, the form shows what was saved.
    page.reload()
    news = open_section(page, "News desk")
    news.get_by_role("button", name="Edit Ferry timetable changes").click()
    expect(news.get_by_label(re.compile("^Sources"))).to_have_value(
        "Port authority | https://port.example/notice\n"
        "council.example | https://council.example/minutes"
    )
    related = news.get_by_label(re.compile("^Related stories"))
    chosen = related.evaluate("select => [...select.selectedOptions].map(o => o.textContent)")
    assert chosen == ["Harbour dredging starts"]
    assert_accessible(page, "#news")


def test_the_dashboard_writes_24_hour_times(station: RunningStation, new_page: PageFactory) -> None:
    page = signed_in(new_page, station)
    # This browser's language writes 12-hour times: the dashboard must not follow it.
    cycle = page.evaluate("new Intl.DateTimeFormat(undefined, {hour: 'numeric'})"
                          ".resolvedOptions().hourCycle")  # fmt: skip
    assert cycle == "h12", "the test needs a browser language with 12-hour times"
    queue = open_section(page, "Queue")
    times = queue.locator("#queue-list time")
    expect(times.first).to_be_visible()
    for text in times.all_inner_texts():
        assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text), text
    hosts = open_section(page, "Hosts and tokens")
    expect(hosts.get_by_text(re.compile(r"since .*\d\d:\d\d"))).not_to_have_count(0)
    assert not TWELVE_HOUR.search(hosts.inner_text()), hosts.inner_text()


def test_the_playlist_form_shows_only_the_chosen_rules_fields(
    station: RunningStation, new_page: PageFactory
) -> None:
    page = signed_in(new_page, station)
    # The host picks a rule while the section is still loading: the load, held back until
    # then, must not put the form back as it was.
    load = HeldLoad(page, "/api/playlists")
    playlists = open_section(page, "Playlists")
    rule = playlists.get_by_label("Rule")
    rule.select_option("every_songs")
    load.release()
    expect(page.locator("#playlist-list")).not_to_be_empty()
    expect(rule).to_have_value("every_songs")
    expect(playlists.get_by_label("Every N songs")).to_be_visible()
    fields = {
        "Weight": playlists.get_by_label("Weight"),
        "Every N songs": playlists.get_by_label("Every N songs"),
        "Every N minutes": playlists.get_by_label("Every N minutes"),
        "Minute of the hour": playlists.get_by_label("Minute of the hour"),
        "Window (minutes)": playlists.get_by_label("Window (minutes)"),
    }
    shown_for = {
        "rotation": {"Weight"},
        "every_songs": {"Every N songs"},
        "every_minutes": {"Every N minutes"},
        "hourly": {"Minute of the hour", "Window (minutes)"},
    }
    for value, shown in shown_for.items():
        rule.select_option(value)
        for label, field in fields.items():
            if label in shown:
                expect(field).to_be_visible()
            else:
                expect(field).to_be_hidden()
    # An hourly playlist saved from the form keeps its minute; the hidden N is not sent.
    playlists.get_by_label("Name").fill("Top of the hour")
    rule.select_option("hourly")
    fields["Minute of the hour"].fill("15")
    playlists.get_by_role("button", name="Save playlist").click()
    expect(page.locator("#status")).to_contain_text("Top of the hour is saved")
    saved = [p for p in station.get("/api/playlists", headers=station.auth()).json()
             if p["name"] == "Top of the hour"]  # fmt: skip
    assert [(p["rule"], p["minute"], p["every"]) for p in saved] == [("hourly", 15, None)]
    assert_accessible(page, "#playlists")


def test_a_host_adds_a_track_from_the_playlist_itself(
    station: RunningStation, new_page: PageFactory
) -> None:
    created = station.post("/api/playlists", json={"name": "Evening", "rule": "rotation"})
    assert created.status_code == 201, created.text
    playlist = created.json()
    page = signed_in(new_page, station)
    playlists = open_section(page, "Playlists")
    playlists.get_by_role("button", name="Edit Evening").click()
    adding = playlists.get_by_role("form", name="Add tracks to this playlist")
    expect(adding).to_be_visible()
    adding.get_by_label("Track", exact=True).fill("second")
    with page.expect_request(re.compile(r"/api/tracks\?")) as searched:
        adding.get_by_role("button", name="Find tracks").click()
    assert parse_qs(urlsplit(searched.value.url).query)["limit"] == ["10"], "a bounded search"
    adding.get_by_role("button", name="Add Tones – Second Tone to Evening").click()
    entries = playlists.get_by_role("list", name="Tracks of the playlist")
    expect(entries).to_contain_text("Tones – Second Tone")
    saved = station.get(f"/api/playlists/{playlist['id']}", headers=station.auth()).json()
    assert [entry["title"] for entry in saved["entries"]] == ["Second Tone"]
    assert_accessible(page, "#playlists")


def test_an_uploads_outcome_stays_until_the_host_dismisses_it(
    station: RunningStation, new_page: PageFactory, tmp_path: Path
) -> None:
    page = new_page(station.url)
    page.clock.install()  # timers run as usual, and the test can jump ahead
    page.goto("/host")
    sign_in(page)
    library = open_section(page, "Library")
    upload = write_tone(tmp_path / "staying.mp3", 6, 990,
                        tags={"artist": "Stayer", "title": "Staying Tone"})  # fmt: skip
    library.get_by_label("Audio file").set_input_files(upload)
    library.get_by_role("button", name="Upload", exact=True).click()
    outcome = page.locator("#upload-result")
    expect(outcome).to_contain_text("staying.mp3", timeout=ANALYSIS_MS)
    bars = page.locator("#upload-progress, #analysis-progress")

    page.clock.fast_forward("01:00")  # a minute later: the host looked away
    expect(outcome).to_be_visible()
    expect(outcome).to_contain_text("staying.mp3")
    assert bars.evaluate_all("bars => bars.map(b => b.value)") == [100, 100]

    library.get_by_role("button", name="Dismiss").click()
    expect(outcome).to_be_hidden()
    assert bars.evaluate_all("bars => bars.map(b => b.value)") == [0, 0]
    assert_accessible(page, "#library")
