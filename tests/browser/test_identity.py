"""The station's identity in real Chromium: a host names the station, picks its colour and
uploads its logo in the dashboard, and a listener's page shows them; and the embed, put in
another site's page with the snippet the player page suggests, is never cut off."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from playwright.sync_api import Frame, Page, expect

from app.ffmpeg import ffmpeg_path
from tests.browser.checks import assert_accessible, assert_fits_width, save_screenshot
from tests.browser.conftest import PHONE, HeldLoad, PageFactory, on_air
from tests.browser.test_dashboard import open_section, sign_in
from tests.station import RunningStation

TONES = [(440.0, 120.0, "Harbour Tone"), (550.0, 120.0, "Pier Tone")]
ACCENT = "#0a7d5a"
ACCENT_RGB = "rgb(10, 125, 90)"
LONG_TITLE = "A Song Whose Title Goes On " * 11  # ~300 characters: cut at 300 by the station


def logo_file(folder: Path) -> Path:
    path = folder / "harbour-logo.png"
    subprocess.run([ffmpeg_path(""), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=0x0a7d5a:s=96x48", "-frames:v", "1", str(path)],
                   check=True, timeout=60)  # fmt: skip
    return path


@contextmanager
def other_site(html: str) -> Iterator[str]:
    """Another web site serving one page: another origin than the station's (localhost, not
    127.0.0.1, and another port), on loopback, where Chromium lets a page frame loopback."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/our-radio.html"
    finally:
        server.shutdown()
        server.server_close()


def painted_in(page: Page, rgb: str) -> list[str]:
    """The elements whose background, text or border is drawn in `rgb`."""
    return page.evaluate(  # type: ignore[no-any-return]
        """(rgb) => [...document.querySelectorAll("body *")].filter((element) => {
            const style = getComputedStyle(element);
            return [style.backgroundColor, style.color, style.borderTopColor,
                    style.accentColor].includes(rgb);
        }).map((element) => element.tagName + (element.id ? "#" + element.id : ""))""",
        rgb,
    )


def test_a_host_names_the_station_and_a_listener_sees_it(
    launch: Callable[..., RunningStation], new_page: PageFactory, tmp_path: Path
) -> None:
    station = on_air(launch, TONES)
    host = new_page(station.url, PHONE)
    sign_in(host)
    # The host types while the section is still loading: the load, held back until they
    # have typed, must not put the stored values back over theirs.
    load = HeldLoad(host, "/api/station/identity")
    section = open_section(host, "Station")
    section.get_by_label("Name").fill("Harbour Radio")
    section.get_by_label("Tagline").fill("Sea shanties, around the clock")
    section.get_by_label("Accent colour").fill(ACCENT)
    load.release()
    expect(section.get_by_label("Name")).to_have_value("Harbour Radio")
    expect(section.locator("#identity-accent-check")).not_to_be_empty()  # the load is shown
    section.get_by_role("button", name="Save").click()
    expect(host.locator("#status")).to_contain_text("Saved")
    # The contrast check: text on this green is white, and says how readable it is.
    expect(section.locator("#identity-accent-check")).to_contain_text("is white: contrast 5.")
    section.get_by_label(re.compile("^Picture")).set_input_files(logo_file(tmp_path))
    section.get_by_role("button", name="Upload logo").click()
    expect(section.get_by_role("img", name="The station's logo")).to_be_visible()
    expect(host.locator("#status")).to_contain_text("is the station's logo now")
    assert_fits_width(host, "the Station section")
    assert_accessible(host)
    save_screenshot(host, "dashboard-station-phone")

    listener = new_page(station.url)  # another browser: another listener
    listener.goto("/")
    expect(listener).to_have_title("Live · Harbour Radio")
    expect(listener.locator("header .station")).to_have_text("Harbour Radio")
    accent = listener.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == ACCENT
    assert painted_in(listener, ACCENT_RGB), "nothing on the page is in the station's colour"
    logo = listener.locator("header .station img")
    expect(logo).to_be_visible()
    assert listener.evaluate("(img) => img.naturalWidth", logo.element_handle()) == 96
    icon = listener.locator("link[rel=icon]").get_attribute("href")
    assert icon == logo.get_attribute("src")
    save_screenshot(listener, "player-identity-desktop")


def test_the_suggested_embed_fits_its_iframe_on_another_site(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, [(440.0, 120.0, LONG_TITLE)])
    httpx.patch(station.url + "/api/station/identity", headers=station.auth(), timeout=10,
                json={"name": "The Longest Station Name " * 4,
                      "tagline": "And a tagline that does not know when to stop " * 6},
                ).raise_for_status()  # fmt: skip
    page = new_page(station.url)
    page.goto("/")
    snippet = page.locator("#embed-snippet").inner_text()  # what a webmaster copies
    height = int(re.search(r'height="(\d+)"', snippet)[1])  # type: ignore[index]
    width = int(re.search(r'width="(\d+)"', snippet)[1])  # type: ignore[index]
    page_html = (
        '<!doctype html><title>Another site</title><link rel="icon" href="data:,">'
        f"<h1>Our radio</h1>{snippet}"
    )
    with other_site(page_html) as url:
        page.goto(url)
        embed: Frame | None = page.frame(url=re.compile(r"/embed$"))
        assert embed is not None, "the snippet's iframe did not load /embed"
        expect(embed.locator("#now-title")).to_contain_text("A Song Whose Title Goes On")
        embed.get_by_role("button", name="Play").click()
        expect(embed.locator("#player-status")).to_have_text("Playing live.")
        # The tallest the embed gets: a story on air shows its link too (player.js unhides it).
        embed.evaluate("() => { document.getElementById('now-story').hidden = false; }")
        inside = embed.evaluate(
            """() => ({height: innerHeight, width: innerWidth,
                       scrollHeight: document.documentElement.scrollHeight,
                       scrollWidth: document.documentElement.scrollWidth,
                       bottom: Math.max(...[...document.querySelectorAll("main *")]
                           .filter((e) => e.getClientRects().length)
                           .map((e) => e.getBoundingClientRect().bottom))})"""
        )
        assert (inside["height"], inside["width"]) == (height, width)
        assert inside["scrollHeight"] <= height, f"the embed is cut off: {inside}"
        assert inside["bottom"] <= height, f"the embed is cut off: {inside}"
        assert inside["scrollWidth"] <= width, f"the embed is cut off at the side: {inside}"
        save_screenshot(page, "embed-on-another-site")
