"""The identity's rules on their own: pictures judged by content (made by a real encoder,
ffmpeg), colour contrast against WCAG's published figures, and what a public URL may be."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ffmpeg import ffmpeg_path
from app.identity import (
    DARK_PAGE,
    LIGHT_PAGE,
    checked_accent,
    checked_name,
    checked_public_url,
    contrast,
    ink_on,
    text_on,
)
from app.images import NotAnImage, sniff_image


def picture(tmp_path: Path, extension: str, size: str = "64x32") -> bytes:
    """A picture as ffmpeg encodes it (a solid colour of `size` pixels)."""
    path = tmp_path / f"picture.{extension}"
    subprocess.run([ffmpeg_path(""), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=teal:s={size}", "-frames:v", "1", str(path)],
                   check=True, timeout=60)  # fmt: skip
    return path.read_bytes()


def png_header(width: int, height: int) -> bytes:
    """The smallest PNG a reader takes by its header: signature, IHDR, IEND."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    iend = b"IEND"
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
            + struct.pack(">I", zlib.crc32(ihdr)) + struct.pack(">I", 0) + iend
            + struct.pack(">I", zlib.crc32(iend)))  # fmt: skip


@pytest.mark.parametrize(
    ("extension", "media_type"),
    [("png", "image/png"), ("jpg", "image/jpeg"), ("gif", "image/gif"), ("webp", "image/webp")],
)
def test_pictures_are_known_by_their_content_with_their_size(
    tmp_path: Path, extension: str, media_type: str
) -> None:
    found = sniff_image(picture(tmp_path, extension))
    assert (found.media_type, found.width, found.height) == (media_type, 64, 32)


def test_what_is_not_a_whole_picture_is_refused_with_the_reason(tmp_path: Path) -> None:
    png = picture(tmp_path, "png")
    cases = {
        "not a picture": b"root:x:0:0:root:/root:/bin/bash\n",
        "SVG": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "cut": png[: len(png) // 2],
        "checksum": png[:20] + bytes([png[20] ^ 0xFF]) + png[21:],
        "at least 16": picture(tmp_path, "png", "8x8"),
        "at most 4096": png_header(5000, 100),
    }
    for reason, data in cases.items():
        with pytest.raises(NotAnImage, match=reason):
            sniff_image(data)
    assert sniff_image(png_header(4096, 16)).width == 4096  # the limits themselves are fine


def test_contrast_is_wcags() -> None:
    # Figures from WCAG 2's definition and the usual checkers (WebAIM).
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#b3261e", "#ffffff") == pytest.approx(6.54, abs=0.01)
    assert contrast("#ffd700", "#000000") == pytest.approx(14.97, abs=0.01)


colours = st.integers(0, 0xFFFFFF).map(lambda value: f"#{value:06x}")


@given(colours)
def test_text_on_any_accent_and_the_accent_on_any_page_are_readable(accent: str) -> None:
    assert contrast(text_on(accent), accent) >= 4.5
    assert contrast(ink_on(accent, LIGHT_PAGE), LIGHT_PAGE) >= 4.5
    assert contrast(ink_on(accent, DARK_PAGE), DARK_PAGE) >= 4.5


def test_a_readable_accent_is_kept_as_it_is() -> None:
    assert ink_on("#b3261e", LIGHT_PAGE) == "#b3261e"
    assert ink_on("#ffd700", DARK_PAGE) == "#ffd700"
    assert ink_on("#ffd700", LIGHT_PAGE) != "#ffd700"  # yellow links on white get darker


def test_names_colours_and_urls_are_checked() -> None:
    assert checked_name("  Valley\tFM \n") == "Valley FM"
    assert checked_accent("#0A7D5A") == "#0a7d5a"
    assert checked_public_url("https://radio.example.org/") == "https://radio.example.org"
    assert checked_public_url("http://[::1]:8000/radio/") == "http://[::1]:8000/radio"
    for bad in ("", " \t "):
        with pytest.raises(ValueError, match="needs a name"):
            checked_name(bad)
    for bad in ("red", "#12345", "#gggggg", "b3261e"):
        with pytest.raises(ValueError, match="#rrggbb"):
            checked_accent(bad)
    refused = {
        "radio.example.org": "absolute",
        "ftp://radio.example.org": "absolute",
        "javascript:alert(1)": "absolute",
        "https://": "absolute",
        "https://user:secret@radio.example.org": "password",
        "https://radio.example.org/?utm=1": "query",
        "https://radio.example.org/#top": "fragment",
        "https://radio.example.org:99999": "not a valid URL",
        "https://radio example.org": "spaces",
    }
    for url, reason in refused.items():
        with pytest.raises(ValueError, match=reason):
            checked_public_url(url)
