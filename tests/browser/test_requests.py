"""A listener requests a song from the player and hears it within the planned time; a
second request over the limit is refused with the reason on screen. What was heard is
checked from the stream itself, by a second reader: ffmpeg's ICY titles, and the decoded
audio being the requested song's distinctive tone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from playwright.sync_api import Browser, expect

from tests.audio import write_tone
from tests.browser.conftest import WATCH_CSP, on_air
from tests.browser.test_player import press_play
from tests.listen import BYTES_PER_SECOND, FfmpegTitles, StreamCapture, decode, dominant_tone
from tests.station import RunningStation

ROTATION = [(300.0 + 50 * i, 6.0, f"Tone {i}") for i in range(4)]
REQUESTED_HZ = 1500.0
REQUESTED = "Requested Tone"
LATE = 12.0  # s: the stream's buffer ahead of the live point, and a busy machine


def test_a_listener_requests_a_song_hears_it_and_a_second_is_refused(
    launch: Callable[..., RunningStation], browser: Browser
) -> None:
    station = on_air(launch, ROTATION, crossfade_seconds=0, request_per_listener_hour=1,
                     queue_length=3)  # fmt: skip
    tracks = station.get("/api/tracks", params={"limit": 100}, headers=station.auth()).json()
    rotation = [t["id"] for t in tracks["items"]]
    made = station.post("/api/playlists", json={"name": "Rotation", "track_ids": rotation})
    assert made.status_code == 201, made.text
    # The requested song only ever airs by request: rotation plays the other tones.
    write_tone(station.media / "music" / "requested.mp3", 10.0, REQUESTED_HZ,
               tags={"artist": "Special", "title": REQUESTED, "album": "Requests"})  # fmt: skip
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_tracks(len(ROTATION) + 1)

    titles = FfmpegTitles(station.url + "/stream")
    capture = StreamCapture(station.port)
    try:
        context = browser.new_context(base_url=station.url)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"uncaught {error}"))
        page.goto("/")
        press_play(page)
        page.locator("summary", has_text="Request a song").click()  # the bar's drawer
        page.get_by_label("Artist, title or album").fill("requested")
        page.get_by_role("button", name="Search").click()
        with page.expect_response("**/api/requests") as answer:
            page.get_by_role("button", name=f"Request Special – {REQUESTED}").click()
        planned = datetime.fromisoformat(answer.value.json()["expected_start"])
        requested_at = time.monotonic()
        expect(page.locator("#request-message")).to_contain_text(
            f"Special – {REQUESTED} plays at about"
        )
        expect(page.locator("#my-requests")).to_contain_text(f"Special – {REQUESTED} · at about")

        # The second request is over the listener's limit of one an hour: the reason shows.
        page.get_by_label("Artist, title or album").fill("tone 1")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("button", name="Request Tones – Tone 1").click()
        expect(page.locator("#request-message")).to_have_text(
            "That's 1 request an hour from you: you can request again in 60 minutes."
        )

        # Heard: a second reader of the live stream gets its title, by the planned time.
        wait = (planned - datetime.now(UTC)).total_seconds() + LATE
        titles.wait_for(lambda seen: f"Special - {REQUESTED}" in seen, timeout=max(wait, 5))
        title_seen = time.monotonic()
        # …and its audio: the distinctive tone, for most of its 10 s.
        deadline = title_seen + 30
        while time.monotonic() < deadline:
            samples, _ = decode(bytes(capture.body))
            tones = dominant_tone(samples, [*(hz for hz, _, _ in ROTATION), REQUESTED_HZ])
            if sum(tone == REQUESTED_HZ for tone in tones) >= 80:  # 8 s of 0.1 s windows
                break
            time.sleep(1)
        else:
            raise AssertionError("the requested tone was not in the stream")
        heard = capture.connected_at + np.argmax(np.array(tones) == REQUESTED_HZ) * 0.1
        assert heard - requested_at <= wait + LATE
        expect(page.locator("#my-requests")).to_contain_text(
            f"Special – {REQUESTED} · played", timeout=30_000
        )
        assert len(capture.body) > BYTES_PER_SECOND
        # The refusal is an HTTP 429, which Chromium notes on the console: that one, no other.
        assert problems == [
            "Failed to load resource: the server responded with a status of 429 (Too Many Requests)"
        ], problems
        context.close()
    finally:
        titles.stop()
        capture.stop()
