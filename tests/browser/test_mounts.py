"""The web player picks the best mount the browser plays: Chromium plays Opus."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.sync_api import Request, expect

from tests.browser.conftest import PageFactory, on_air
from tests.station import RunningStation

TONES = [(440.0, 20.0, "Alpha Tone"), (660.0, 20.0, "Beta Tone")]
MOUNTS = "/mobile.mp3=mp3:64:mono,/stream.aac=aac:96,/stream.opus=opus:96"


def test_the_player_plays_the_opus_mount_where_the_browser_can(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = on_air(launch, TONES, mounts=MOUNTS)
    page = new_page(station.url)
    streams: list[str] = []

    def note(request: Request) -> None:
        if urlsplit(request.url).path.startswith("/stream") or "mobile" in request.url:
            streams.append(request.url)

    page.on("request", note)
    page.goto("/")
    assert page.evaluate(
        "document.getElementById('audio').canPlayType('audio/ogg; codecs=\"opus\"')"
    )
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime > 2",
                           timeout=20_000)  # fmt: skip
    assert [urlsplit(url).path for url in streams] == ["/stream.opus"], streams
    assert "sync=" in streams[0]
    # It counts as an Opus listener, and what it shows is what is on air.
    now = station.now_playing()
    assert now["mounts"]["/stream.opus"] == 1, now["mounts"]
    expect(page.locator("#now-title")).to_have_text(now["current"]["title"], timeout=10_000)
    expect(page.locator("#player-status")).to_have_text("Playing live.")
