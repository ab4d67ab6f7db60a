"""What every page must pass, and the screenshots the README shows."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from app.config import PROJECT_ROOT

# Git-ignored: a test run leaves the checkout clean. `make screenshots` copies them to
# docs/screenshots/, where the README shows them.
SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"
AXE_OPTIONS = {"resultTypes": ["violations"]}  # every rule axe-core has, all impacts


def assert_accessible(page: Page, context: str | None = None) -> None:
    """axe-core (the engine browser extensions use) finds no violation on the page as it is
    now, or within `context` (a CSS selector)."""
    results = Axe().run(page, context=context, options=AXE_OPTIONS)
    violations = results.response["violations"]
    assert not violations, f"accessibility problems on {page.url}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(node["target"][0] for node in v["nodes"][:5])
        for v in violations
    )


def assert_fits_width(page: Page, what: str = "the page") -> None:
    """Nothing sticks out sideways: on a phone, a page that scrolls sideways is broken."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow} px wider than the screen"


def save_screenshot(page: Page, name: str) -> Path:
    """build/screenshots/<name>.png, written by every run of the browser tests."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled")
    return path
