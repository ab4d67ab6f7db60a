"""The pages' one Jinja2 environment and the URLs they print.

Every HTML page renders through `render_page`; every absolute URL a page, a feed or a
playlist file hands out starts with `public_base_url`. Templates live in web/templates/,
autoescaped; the filters here are the only formatting the templates do."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from app.config import PROJECT_ROOT, Settings
from app.identity import Identity

TEMPLATES_DIR = PROJECT_ROOT / "web" / "templates"


def _templates(request: Request, settings: Settings) -> Environment:
    """One Jinja2 environment per app, built on first use."""
    env: Environment | None = getattr(request.app.state, "templates", None)
    if env is None:
        env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
        zone = ZoneInfo(settings.timezone)
        env.filters["date"] = lambda when: when.astimezone(zone).strftime("%-d %B %Y, %H:%M")
        env.filters["time"] = lambda when: when.astimezone(zone).strftime("%H:%M")
        env.filters["isodate"] = lambda when: when.astimezone(UTC).isoformat()
        env.filters["hhmm"] = lambda when: when.astimezone(zone).strftime("%H:%M")
        env.filters["clock"] = clock
        env.filters["listened"] = listened
        env.filters["stars"] = lambda average: "★" * round(average) + "☆" * (5 - round(average))
        request.app.state.templates = env
    return env


def clock(seconds: float | None) -> str:
    """3:07, or 1:02:03 past an hour; a dash when the length is unknown."""
    if seconds is None:
        return "–"
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def listened(seconds: float) -> str:
    """Listening time on the board: 2 h 5 min, 7 min, or "under a minute" (player.js writes
    it the same way)."""
    hours, minutes = divmod(int(seconds) // 60, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


def station_identity(request: Request, settings: Settings) -> Identity:
    """The station's identity as hosts set it (kept in memory by the station: no query)."""
    station = getattr(request.state, "station", None)
    return station.identity.current if station is not None else Identity.of(None, settings)


def render_page(
    request: Request, settings: Settings, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """Every page gets the station's `identity` (name, tagline, logo, accent), its
    `station_name`, and `page_url` and `site_url`, absolute, for link previews. Every public
    page carries the player bar: it shows `now` (the route's snapshot, else the one last
    pushed, which any thread may read)."""
    identity = station_identity(request, settings)
    site = identity.public_base(str(request.base_url))
    template = _templates(request, settings).get_template(name)
    station = getattr(request.state, "station", None)
    if "now" not in context and station is not None:
        context["now"] = station.now_playing.announced()
    # The player bar picks the best mount the browser plays (web/static/player.js).
    mounts = station.mounts.values() if station is not None else []
    context.setdefault("stream_mounts", [
        {"path": m.path, "codec": m.spec.codec, "kbps": m.spec.bitrate_kbps,
         "type": 'audio/ogg; codecs="opus"' if m.spec.codec == "opus" else m.spec.content_type}
        for m in mounts
    ])  # fmt: skip
    html = template.render(station_name=identity.name, identity=identity, site_url=site,
                           page_url=site + request.url.path,
                           skip_vote_cooldown=settings.skip_vote_cooldown_seconds,
                           skip_vote_listen=settings.skip_vote_listen_seconds,
                           hls_url="/hls/live.m3u8" if getattr(station, "hls", None) else "",
                           **context)  # fmt: skip
    return HTMLResponse(html, status_code=status)


def public_base_url(request: Request, settings: Settings) -> str:
    """How listeners reach the station: the public URL hosts set, else RADIO_PUBLIC_URL,
    else the address this request reached us at."""
    return station_identity(request, settings).public_base(str(request.base_url))


def share_links(url: str, title: str) -> list[dict[str, str]]:
    """Plain links that open each network's share form: no scripts, no tracking pixels."""
    return [
        {
            "name": "Email",
            "href": "mailto:?" + urlencode({"subject": title, "body": url}, quote_via=quote),
        },
        {
            "name": "X",
            "href": "https://twitter.com/intent/tweet?" + urlencode({"url": url, "text": title}),
        },
        {
            "name": "Facebook",
            "href": "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url}),
        },
        {
            "name": "LinkedIn",
            "href": "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
        },
    ]
