"""The dashboard's Shows section in real Chromium against a real station: an admin creates a
show with a host and a weekly slot, sees the refusal of a slot that overlaps it, and the
section is accessible and fits a phone in the light and the dark theme."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, expect

from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import PHONE, on_air
from tests.browser.test_dashboard import go_dark, open_section, sign_in
from tests.station import RunningStation

TONES = [(330.0, 60.0, "First Tone"), (440.0, 60.0, "Second Tone")]


def test_an_admin_creates_a_show_with_a_host_and_a_slot_and_sees_an_overlap_refused(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, TONES, timezone="Europe/Berlin")
    made = station.post("/api/hosts", json={"username": "cleo", "password": "a-long-passphrase-1"})
    assert made.status_code == 201, made.text
    # Its own context: the refused slot is logged on the console, which new_page forbids.
    width, height = PHONE
    context = browser.new_context(base_url=station.url, viewport={"width": width, "height": height},
                                  is_mobile=True, has_touch=True)  # fmt: skip
    page = context.new_page()
    sign_in(page)
    shows = open_section(page, "Shows")
    expect(shows.locator("#show-on-air")).to_contain_text("No show is on now.")
    expect(shows.get_by_label("cleo")).to_be_visible()  # the hosts to choose from

    shows.get_by_label("Name").fill("Morning Show")
    shows.get_by_label("Description").fill("Wake up with Cleo")
    shows.get_by_label("cleo").check()
    shows.get_by_label("The hourly news interrupts it").uncheck()
    shows.get_by_role("button", name="Create show").click()
    expect(page.get_by_role("status")).to_contain_text("Morning Show created")
    row = shows.locator('#show-list li[data-show="Morning Show"]')
    expect(row).to_contain_text("with cleo")
    expect(row).to_contain_text("no news")
    expect(row).to_contain_text("No slots yet.")

    shows.get_by_label("Show", exact=True).select_option(label="Morning Show")
    shows.get_by_label("Day").select_option(label="Tuesday")
    shows.get_by_label("Starts at").fill("07:00")
    shows.get_by_label("Minutes").fill("120")
    shows.get_by_role("button", name="Add slot").click()
    expect(page.get_by_role("status")).to_contain_text("Morning Show now airs Tuesday 07:00–09:00")
    expect(row.get_by_role("list", name="Slots of Morning Show")).to_have_text(
        "Tuesday 07:00–09:00 Remove"
    )

    shows.get_by_label("Starts at").fill("08:30")
    shows.get_by_role("button", name="Add slot").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Tuesday 08:30-10:30 overlaps another slot of this show (Tuesday 07:00-09:00)"
    )
    expect(row.get_by_role("list", name="Slots of Morning Show").get_by_role("listitem")
           ).to_have_count(1)  # fmt: skip

    page.wait_for_load_state("networkidle")
    assert_fits_width(page, "Shows")
    assert_accessible(page)
    save_screenshot(page, "dashboard-shows-phone")
    go_dark(page)
    assert_accessible(page)
    save_screenshot(page, "dashboard-shows-phone-dark")
    context.close()
