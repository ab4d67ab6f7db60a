"""The API reference (/docs) in real Chromium: Swagger UI from the station alone, under the
pages' Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Route, expect

from tests.browser.conftest import PageFactory
from tests.station import RunningStation


def test_the_api_reference_works_offline_under_the_policy(
    launch: Callable[..., RunningStation], new_page: PageFactory
) -> None:
    station = launch()
    page = new_page(station.url)
    elsewhere: list[str] = []

    def only_the_station(route: Route) -> None:
        if route.request.url.startswith(station.url + "/"):
            route.continue_()
        else:  # a station must work offline: nothing may come from another site
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_station)
    page.goto("/docs")
    # Swagger UI drew the station's own schema: its operations, and one opens.
    operation = page.locator(".opblock-summary-path", has_text="/api/now-playing").first
    expect(operation).to_be_visible(timeout=30_000)
    operation.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    assert elsewhere == []
    assert page.evaluate("window.cspViolations") == []
