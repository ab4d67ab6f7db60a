"""The station's identity: its name, tagline, logo, accent colour and public URL.

Hosts set them in the dashboard (app/api/identity.py); what they leave unset falls back to
the RADIO_* settings (`station_name`, `station_description`, `station_accent`, `public_url`;
the logo to the bundled icon). They are stored in one row of the database and read once at
start-up: the pages, the stream's icy-* headers, the feeds and the playlist files read the
copy the station keeps (`IdentityStore.current`), which a change replaces at once. So no page
request and no stream connection costs a database query for them.

The accent colour is any #rrggbb. Text on it is black or white, whichever contrasts more
(WCAG 2 contrast; one of them always reaches 4.5:1, so text on the accent is always
readable), and for text and links in the accent colour on the page the stylesheet also gives
the accent darkened (on light backgrounds) or lightened (on dark ones) just enough to reach
4.5:1 there: hosts may pick any colour, and no page becomes unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import SessionFactory
from app.files import write_bytes
from app.images import Picture, sniff_image
from app.models import StationIdentity
from app.text import clean_text, has_control_characters

log = logging.getLogger(__name__)

ROW_ID = 1
MAX_NAME = 100
MAX_TAGLINE = 300
MAX_URL = 512
ACCENT_PATTERN = r"^#[0-9A-Fa-f]{6}$"
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_FOLDER = "media"  # under the state folder
LOGO_NAME = re.compile(r"^logo-[0-9a-f]{16}\.(png|jpg|gif|webp)$")
DEFAULT_ICON = "/static/favicon.svg"
READABLE = 4.5  # WCAG AA contrast for normal text
LIGHT_PAGE = "#ffffff"  # the lightest page background the accent's ink is made for
DARK_PAGE = "#1e1e1e"  # the lightest dark background (darker ones contrast more)
FIELDS = ("name", "tagline", "accent", "public_url")


# --- Checking what hosts send --------------------------------------------------------------


def checked_name(value: str) -> str:
    name = clean_text(value)
    if not name:
        raise ValueError("the station needs a name")
    if len(name) > MAX_NAME:
        raise ValueError(f"at most {MAX_NAME} characters")
    return name


def checked_tagline(value: str) -> str:
    tagline = clean_text(value)
    if len(tagline) > MAX_TAGLINE:
        raise ValueError(f"at most {MAX_TAGLINE} characters")
    return tagline


def checked_accent(value: str) -> str:
    if not re.fullmatch(ACCENT_PATTERN, value):
        raise ValueError("a colour as #rrggbb, such as #b3261e")
    return value.lower()


def checked_public_url(value: str) -> str:
    """An absolute http(s) URL with a host, without credentials, query or fragment; kept
    without its trailing slash (links are made by appending /path)."""
    url = value.strip()
    if has_control_characters(url) or " " in url:
        raise ValueError("a URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError as error:
        raise ValueError(f"not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute http:// or https:// URL, such as https://radio.example.org")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the public URL must not carry a user name or password")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError("the public URL has no query (?) or fragment (#)")
    if len(url) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    del port
    return url.rstrip("/")


# --- Colour contrast (WCAG 2) --------------------------------------------------------------


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(255.0, max(0.0, c))):02x}" for c in rgb)


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours, 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on(colour: str) -> str:
    """Black or white, whichever is more readable on `colour` (at least 4.5:1 always)."""
    return "#000000" if contrast(colour, "#000000") >= contrast(colour, "#ffffff") else "#ffffff"


def ink_on(colour: str, background: str) -> str:
    """`colour`, mixed towards black (on a light background) or white (on a dark one) just
    enough to be readable as text on `background`."""
    if contrast(colour, background) >= READABLE:
        return colour
    target = (0.0, 0.0, 0.0) if luminance(background) > 0.18 else (255.0, 255.0, 255.0)
    rgb = _rgb(colour)
    for step in range(1, 101):
        share = step / 100
        mixed = _hex(tuple(c + (t - c) * share for c, t in zip(rgb, target, strict=True)))  # type: ignore[arg-type]
        if contrast(mixed, background) >= READABLE:
            return mixed
    return _hex(target)


# --- The identity ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Logo:
    file: str  # its name in state/media/ (logo-<hash>.<ext>), made by the station
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Identity:
    """What the station calls itself, as the pages, the stream and the feeds show it."""

    name: str
    tagline: str
    accent: str
    public_url: str | None  # as hosts set it; None: RADIO_PUBLIC_URL, else where we are reached
    logo: Logo | None
    revision: int
    stored: frozenset[str]  # the fields hosts set; the others are the settings' defaults
    settings: Settings = field(repr=False, compare=False)

    @classmethod
    def of(cls, row: StationIdentity | None, settings: Settings) -> Identity:
        def stored(name: str) -> str | None:
            return getattr(row, name) if row is not None else None

        logo = None
        if row is not None and row.logo_file and row.logo_type:
            logo = Logo(row.logo_file, row.logo_type, row.logo_width or 0, row.logo_height or 0)
        name, tagline, accent = stored("name"), stored("tagline"), stored("accent")
        return cls(
            name=name if name is not None else settings.station_name,
            tagline=tagline if tagline is not None else settings.station_description,
            accent=(accent if accent is not None else settings.station_accent).lower(),
            public_url=stored("public_url"),
            logo=logo,
            revision=row.revision if row is not None else 0,
            stored=frozenset(f for f in FIELDS if stored(f) is not None),
            settings=settings,
        )

    def public_base(self, reached_at: str | None = None) -> str:
        """How listeners reach the station, without a trailing slash: the public URL hosts
        set, else RADIO_PUBLIC_URL, else the address a request reached us at, else the
        address we listen on."""
        return self.public_url or self.settings.public_base(reached_at)

    @property
    def website(self) -> str:
        """The station's web site, for stream clients and directories (icy-url): the public
        URL hosts set, else RADIO_STATION_URL, else the public base URL."""
        return self.public_url or self.settings.station_url or self.settings.public_base()

    @property
    def logo_url(self) -> str | None:
        return f"/station/logo/{self.logo.file}" if self.logo else None

    @property
    def icon_url(self) -> str:
        return self.logo_url or DEFAULT_ICON

    @property
    def icon_type(self) -> str:
        return self.logo.media_type if self.logo else "image/svg+xml"

    @property
    def stylesheet_url(self) -> str:
        # Named by the colour: a page always links the stylesheet of its own accent.
        return f"/station.css?v={self.accent[1:]}"

    @cached_property
    def accent_text(self) -> str:
        return text_on(self.accent)

    @cached_property
    def accent_contrast(self) -> float:
        return round(contrast(self.accent, self.accent_text), 2)

    @cached_property
    def stylesheet(self) -> str:
        """The custom properties every page's styles use for the station's colours.
        `html:root` outranks a plain `:root` or `body.x` default in any stylesheet."""
        return (
            "/* The station's colours, as hosts set them in the dashboard. */\n"
            "html:root, html:root body {\n"
            f"  --accent: {self.accent};\n"
            f"  --accent-text: {self.accent_text};\n"
            f"  --accent-on-light: {ink_on(self.accent, LIGHT_PAGE)};\n"
            f"  --accent-on-dark: {ink_on(self.accent, DARK_PAGE)};\n"
            "}\n"
        )


def logo_folder(settings: Settings) -> Path:
    return settings.state_dir / LOGO_FOLDER


class IdentityStore:
    """The stored identity and the station's copy of it. Changes run on a worker thread
    (they write the database and files), one at a time, and replace `current` before they
    return; `on_change` callbacks then hear of it (on that thread)."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.current = Identity.of(None, settings)
        self.on_change: list[Callable[[Identity], None]] = []
        self._lock = threading.Lock()

    def load(self) -> Identity:
        with self._lock, self.sessions() as db:
            return self._publish(Identity.of(db.get(StationIdentity, ROW_ID), self.settings))

    def update(self, changes: Mapping[str, str | None]) -> Identity:
        """Set the given fields (already checked); None puts a field back to its default."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise ValueError(f"not a field of the identity: {', '.join(sorted(unknown))}")
        with self._lock, self.sessions() as db:
            row = self._row(db)
            for name, value in changes.items():
                setattr(row, name, value)
            return self._saved(db, row)

    def set_logo(self, data: bytes) -> Identity:
        """Store `data` as the logo (NotAnImage when it is not a picture the station takes)."""
        picture: Picture = sniff_image(data)
        name = f"logo-{hashlib.sha256(data).hexdigest()[:16]}{picture.extension}"
        path = logo_folder(self.settings) / name
        with self._lock:
            write_bytes(path, data)  # whole or absent, under state/media/ only
            try:
                with self.sessions() as db:
                    row = self._row(db)
                    old = row.logo_file
                    row.logo_file, row.logo_type = name, picture.media_type
                    row.logo_width, row.logo_height = picture.width, picture.height
                    identity = self._saved(db, row)
            except BaseException:
                if self.current.logo is None or self.current.logo.file != name:
                    path.unlink(missing_ok=True)
                raise
            self._forget(old, keep=name)
        log.info("station logo set: %s (%d×%d)", name, picture.width, picture.height)
        return identity

    def remove_logo(self) -> Identity:
        with self._lock:
            with self.sessions() as db:
                row = self._row(db)
                old = row.logo_file
                row.logo_file = row.logo_type = None
                row.logo_width = row.logo_height = None
                identity = self._saved(db, row)
            self._forget(old)
        return identity

    def logo_path(self, name: str) -> Path | None:
        """The file of the current logo if it is called `name`; None for any other name."""
        logo = self.current.logo
        if logo is None or logo.file != name or not LOGO_NAME.fullmatch(name):
            return None
        folder = logo_folder(self.settings).resolve()
        path = (folder / name).resolve()
        return path if path.parent == folder and path.is_file() else None

    def _row(self, db: Session) -> StationIdentity:
        row = db.get(StationIdentity, ROW_ID)
        if row is None:
            row = StationIdentity(id=ROW_ID, revision=0)
            db.add(row)
        return row

    def _saved(self, db: Session, row: StationIdentity) -> Identity:
        row.revision = (row.revision or 0) + 1
        row.updated_at = datetime.now(UTC)
        db.flush()
        identity = Identity.of(row, self.settings)
        db.commit()
        return self._publish(identity)

    def _publish(self, identity: Identity) -> Identity:
        self.current = identity
        for callback in self.on_change:
            callback(identity)
        return identity

    def _forget(self, old: str | None, keep: str | None = None) -> None:
        """Remove a logo file no longer in use."""
        if old and old != keep and LOGO_NAME.fullmatch(old):
            with contextlib.suppress(OSError):
                (logo_folder(self.settings) / old).unlink(missing_ok=True)
