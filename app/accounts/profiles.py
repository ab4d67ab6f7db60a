"""Hosts' public profiles: the display name, short bio and picture shown in the "Written by"
box under their stories and on their page, /hosts/<id>-<name>.

A host without a display name has no public profile (their login name is never shown). A
picture is checked by its bytes (PNG, JPEG or WebP, whatever the upload claims), limited in
size, and stored under media/hosts/ with a name the station makes, written atomically."""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.files import atomic_path
from app.models import Host
from app.text import clean_text

DISPLAY_NAME_MAX = 100
BIO_MAX = 1000  # a short bio: a few sentences
PICTURE_MAX_BYTES = 2 * 1024 * 1024
PICTURES_DIR = Path("hosts")  # under media_dir

# What a picture's first bytes must be, and the type it is served as.
_PICTURE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


class ProfileError(ValueError):
    """A profile or picture that cannot be accepted; the message says what to change."""


@dataclass(frozen=True)
class PublicProfile:
    id: int
    name: str
    bio: str
    url: str  # the profile page's path
    picture_url: str | None


def validate_display_name(value: str) -> str:
    name = clean_text(value)
    if len(name) > DISPLAY_NAME_MAX:
        raise ProfileError(f"the display name is too long (at most {DISPLAY_NAME_MAX} characters)")
    return name


def validate_bio(value: str) -> str:
    # Paragraphs kept (a blank line between them), each cleaned like a line.
    paragraphs = [clean_text(part) for part in re.split(r"\n\s*\n", value.replace("\r", ""))]
    bio = "\n\n".join(part for part in paragraphs if part)
    if len(bio) > BIO_MAX:
        raise ProfileError(f"the bio is too long (at most {BIO_MAX} characters)")
    return bio


def picture_kind(data: bytes) -> str:
    """The picture's file extension, from its bytes; ProfileError when it is none we take."""
    if not data:
        raise ProfileError("the picture is empty")
    if len(data) > PICTURE_MAX_BYTES:
        raise ProfileError(f"the picture is too large (at most {PICTURE_MAX_BYTES // 1024} kB)")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ProfileError("the picture must be a PNG, JPEG or WebP image")


def picture_type(relative: str) -> str:
    return _PICTURE_TYPES.get(Path(relative).suffix.lstrip("."), "application/octet-stream")


def save_picture(host: Host, data: bytes, media_dir: Path) -> None:
    """Store `data` as the host's picture (checked first) and remove the one it replaces."""
    kind = picture_kind(data)
    # A new name each time: browsers and proxies may keep the old picture's URL cached.
    relative = PICTURES_DIR / f"{host.id}-{secrets.token_hex(8)}.{kind}"
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temp:
        temp.write_bytes(data)
    old = host.picture_path
    host.picture_path = relative.as_posix()
    if old:
        remove_file(old, media_dir)


def remove_picture(host: Host, media_dir: Path) -> None:
    if host.picture_path:
        remove_file(host.picture_path, media_dir)
    host.picture_path = None


def remove_file(relative: str, media_dir: Path) -> None:
    path = picture_file(relative, media_dir)
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def picture_file(relative: str | None, media_dir: Path) -> Path | None:
    """The picture on disk, only inside media/hosts/ (the path comes from the database)."""
    if not relative:
        return None
    folder = (media_dir / PICTURES_DIR).resolve()
    path = (media_dir / relative).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def slug(host: Host) -> str:
    """The profile's address: the id (what finds it) and the name (for people)."""
    words = re.sub(r"[^a-z0-9]+", "-", host.display_name.lower()).strip("-")[:60].strip("-")
    return f"{host.id}-{words}" if words else str(host.id)


def public_profile(host: Host | None) -> PublicProfile | None:
    """What anyone may see of a host, or None when the host has no public profile."""
    if host is None or not host.display_name:
        return None
    return PublicProfile(host.id, host.display_name, host.bio, f"/hosts/{slug(host)}",
                         picture_url(host))  # fmt: skip


def picture_url(host: Host) -> str | None:
    """Where the picture is served: its file name in the URL, so a new picture is a new URL."""
    if not host.picture_path:
        return None
    return f"/hosts/{host.id}/picture/{Path(host.picture_path).name}"
