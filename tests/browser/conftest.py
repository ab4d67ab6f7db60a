"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium) against a real
station serving the real stream. `make test` installs Chromium when it is missing.

Every page a test opens fails the test on a console error or an uncaught page error."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Route,
    sync_playwright,
)

from tests.conftest import tone_library
from tests.station import STARTUP_SECONDS, RunningStation

CHROMIUM = "/usr/bin/chromium"
# As root in a sandboxed machine with no network beyond loopback: no sandbox, no GPU, and no
# background connections (they would be refused, noisily). Audio plays into a fake device.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
DESKTOP = (1280, 800)
PHONE = (390, 844)

# Every page records what its Content-Security-Policy blocked (window.cspViolations), and
# says so on the console, which fails the test like any console error.
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const what = `${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`;
  window.cspViolations.push(what);
  console.error(`CSP violation: ${what}`);
});
"""

PageFactory = Callable[..., Page]
Tones = list[tuple[float, float, str]]


def on_air(launch: Callable[..., RunningStation], tones: Tones, **settings: Any) -> RunningStation:
    """A station playing `tones` (frequency, seconds, title) from its library, every one of
    them analysed and ready (music starts with the first; on a busy machine the last can be
    most of a minute later, and a test may search or queue any of them)."""
    station = launch(**settings)
    tone_library(station.media, tones)
    station.post("/api/library/scan").raise_for_status()
    station.wait_for_music()
    station.wait_for_tracks(len({title for _, _, title in tones}), timeout=STARTUP_SECONDS)
    return station


class HeldLoad:
    """The page's first GET of `path` (an API path) is held back until `release()`: what the
    test does meanwhile happens before that load answers, as on a slow connection. Start it
    before the page asks (before opening a dashboard section)."""

    def __init__(self, page: Page, path: str) -> None:
        self.page, self.path = page, path
        self.held: list[Route] = []
        page.route(f"**{path}", self._route)

    def _route(self, route: Route) -> None:
        if route.request.method == "GET" and not self.held:
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        """Let the held load go on, and wait until the page has its answer."""
        deadline = time.monotonic() + 30
        while not self.held:  # (the route's handler runs while Playwright waits for events)
            assert time.monotonic() < deadline, f"the page never loaded {self.path}"
            self.page.wait_for_timeout(20)
        with self.page.expect_response(lambda r: r.url.split("?")[0].endswith(self.path)
                                       and r.request.method == "GET") as answered:  # fmt: skip
            self.held[0].continue_()
        assert answered.value.ok, answered.value.status
        self.page.unroute(f"**{self.path}", self._route)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium") or CHROMIUM
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageFactory]:
    """`new_page(base_url, size=DESKTOP)`: a page in its own browser context (own cookies, so
    one listener each). Console errors and page errors fail the test at teardown."""
    problems: list[str] = []
    contexts = []

    def open_page(base_url: str, size: tuple[int, int] = DESKTOP) -> Page:
        width, height = size
        context = browser.new_context(
            base_url=base_url,
            viewport={"width": width, "height": height},
            is_mobile=size == PHONE,
            has_touch=size == PHONE,
        )
        contexts.append(context)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        page.on("console", lambda message: _note_console(problems, page, message))
        page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error}"))
        return page

    yield open_page
    for context in contexts:
        with contextlib.suppress(Error):  # already closed by the test
            context.close()
    assert not problems, "the pages logged errors:\n" + "\n".join(problems)


def _note_console(problems: list[str], page: Page, message: ConsoleMessage) -> None:
    if message.type == "error" and not _from_the_tests_websocket_relay(message):
        problems.append(f"{page.url}: console error: {message.text} ({message.location})")


def _from_the_tests_websocket_relay(message: ConsoleMessage) -> bool:
    """Chrome's complaint about a send on a closed WebSocket, made by Playwright's injected
    relay (`page.route_web_socket`, which a test puts between a page and the station): the
    relay passes the page's messages on to the station with the native socket's `send`, and
    one that crosses the station's close is refused there. Injected code has no script URL; a
    send of the page's own (web/static/*.js) names its file and still fails the test."""
    return (
        message.location.get("url") == ""
        and "WebSocket is already in CLOSING or CLOSED state" in message.text
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test: `make test` runs them in their own phase."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.browser)
