"""The security headers of every response, decided in one place.

Pages get a Content-Security-Policy that allows only the station's own scripts, styles,
images, audio and connections (the templates have no inline script or style); anything else
(JSON, feeds, images, the stream) may load nothing at all if someone opens it on its own.
No page may be framed by another site except /embed, the player meant for other sites'
iframes, which carries no host controls. Browsers never sniff a type, and the address of a
page goes to the station only (share links do not tell other sites where a listener was).

The FastAPI app adds them in a middleware (app.main); the stream, served below FastAPI, puts
`STREAM_HEADERS` in its own response head."""

from __future__ import annotations

from collections.abc import Mapping

FRAMEABLE_PAGES = frozenset({"/embed"})

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# A response that is not a page (JSON, XML, an image, audio) runs and loads nothing.
NOTHING_POLICY = "default-src 'none'"
# An SVG image opened on its own: its styles, and still no script.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"

COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

STREAM_HEADERS: Mapping[str, str] = {
    **COMMON,
    "Content-Security-Policy": f"{NOTHING_POLICY}; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def security_headers(path: str, content_type: str) -> dict[str, str]:
    """The headers for a response to `path` whose body is of `content_type`."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/html":
        policy = PAGE_POLICY
    elif media == "image/svg+xml":
        policy = SVG_POLICY
    else:
        policy = NOTHING_POLICY
    headers = dict(COMMON)
    if path in FRAMEABLE_PAGES:
        headers["Content-Security-Policy"] = f"{policy}; frame-ancestors *"
    else:
        headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
        headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    return headers
