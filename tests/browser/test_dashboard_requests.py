"""The dashboard's Requests section and the warning on a host's pick within the separation
window, in real Chromium against a real station."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import expect

from tests.browser.checks import assert_accessible, assert_fits_width
from tests.browser.conftest import PHONE, PageFactory, on_air
from tests.browser.test_dashboard import TONES, open_section, sign_in
from tests.station import RunningStation


def request(station: RunningStation, cookies: dict[str, str], title: str) -> None:
    tracks = station.get("/api/requests/search", params={"q": title}, cookies=cookies).json()
    [track] = tracks["items"]
    made = httpx.post(station.url + "/api/requests", json={"track_id": track["id"]},
                      cookies=cookies, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text


def test_hosts_see_reorder_and_remove_requests_and_are_warned_of_a_repeat(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES, artist_separation_minutes=0, queue_length=1)
    now = station.now_playing()
    on_air_now = now["current"]["title"]
    played = {on_air_now, *(h["title"] for h in now["history"])}
    waiting = [t for _, _, t in TONES if t not in played]
    ann = {"radio_listener": station.new_listener()}
    httpx.post(station.url + "/api/listeners/me/name", json={"name": "Ann"}, cookies=ann,
               timeout=10).raise_for_status()  # fmt: skip
    queued = {i["title"] for i in station.get("/api/queue", headers=station.auth()).json()["items"]}
    first, second = [t for t in waiting if t not in queued][:2]
    request(station, ann, first)
    request(station, {"radio_listener": station.new_listener()}, second)

    page = new_page(station.url, PHONE)
    sign_in(page)
    section = open_section(page, "Requests")
    rows = section.locator("#requests-list li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(f"Tones – {first} · requested by Ann")
    expect(rows.nth(1)).to_contain_text(f"Tones – {second} · requested by a listener")
    page.wait_for_load_state("networkidle")
    assert_fits_width(page, "Requests")
    assert_accessible(page)
    section.get_by_role("button", name=f"Move Tones – {second} up").click()
    expect(rows.nth(0)).to_contain_text(second)
    section.get_by_role("button", name=f"Remove the request for Tones – {first}").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text(second)
    waiting_now = station.get("/api/requests", headers=station.auth()).json()["items"]
    assert [w["title"] for w in waiting_now] == [second]

    # A host's "play next" of the song on air: it is queued, with a warning on screen.
    queue = open_section(page, "Queue")
    queue.get_by_role("searchbox", name="Track").fill(on_air_now)
    queue.get_by_role("button", name="Find").click()
    queue.get_by_role("button", name=f"Play next: Tones – {on_air_now}").click()
    expect(page.locator("#alerts")).to_contain_text(
        f"Added, but note: “{on_air_now}” by Tones played"
    )
    expect(page.locator("#alerts")).to_contain_text("the station keeps 3 h between plays")
    items = station.get("/api/queue", headers=station.auth()).json()["items"]
    assert (items[0]["title"], items[0]["reason"]) == (on_air_now, "host")
