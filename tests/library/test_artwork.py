from __future__ import annotations

import base64
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mutagen.flac import Picture as FlacPicture
from mutagen.id3 import APIC, ID3
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from app.library import UnreadableAudio
from app.library.artwork import cover_url, generated_cover, image_type, initials, read_picture
from tests.audio import write_tone

SVG_NS = "{http://www.w3.org/2000/svg}"


def make_image(ffmpeg: str, path: Path, colour: str = "0x3366cc") -> bytes:
    """A real 16x16 picture, its format (PNG or JPEG) chosen by the extension."""
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"color=c={colour}:s=16x16", "-frames:v", "1", str(path)],
                   check=True)  # fmt: skip
    return path.read_bytes()


def attach_with_ffmpeg(ffmpeg: str, audio: Path, picture: Path) -> Path:
    """The way most taggers and rippers do it: the picture as an attached_pic stream."""
    out = audio.with_name("art-" + audio.name)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(audio),
                    "-i", str(picture), "-map", "0", "-map", "1", "-c", "copy",
                    "-disposition:v", "attached_pic", str(out)], check=True)  # fmt: skip
    return out


def flac_block(data: bytes, mime: str, kind: int = 3) -> FlacPicture:
    picture = FlacPicture()
    picture.type, picture.mime, picture.data = kind, mime, data
    return picture


@pytest.mark.parametrize(("suffix", "image"), [(".mp3", ".jpg"), (".flac", ".png"),
                                               (".m4a", ".jpg")])  # fmt: skip
def test_a_picture_attached_by_ffmpeg_comes_back_unchanged(
    tmp_path: Path, ffmpeg: str, suffix: str, image: str
) -> None:
    picture = tmp_path / f"cover{image}"
    data = make_image(ffmpeg, picture)
    audio = attach_with_ffmpeg(ffmpeg, write_tone(tmp_path / f"a{suffix}", 0.5), picture)

    found = read_picture(audio)

    assert found is not None
    assert found.data == data
    assert found.mime == ("image/png" if image == ".png" else "image/jpeg")


@pytest.mark.parametrize("suffix", [".ogg", ".opus"])
def test_a_vorbis_comment_picture_is_found(tmp_path: Path, ffmpeg: str, suffix: str) -> None:
    data = make_image(ffmpeg, tmp_path / "cover.png")
    path = write_tone(tmp_path / f"a{suffix}", 0.5)
    audio = OggOpus(path) if suffix == ".opus" else OggVorbis(path)
    block = flac_block(data, "image/png").write()
    audio["metadata_block_picture"] = [base64.b64encode(block).decode()]
    audio.save()

    found = read_picture(path)

    assert found is not None
    assert (found.data, found.mime) == (data, "image/png")


def test_wav_with_an_id3_picture(tmp_path: Path, ffmpeg: str) -> None:
    data = make_image(ffmpeg, tmp_path / "cover.jpg")
    path = write_tone(tmp_path / "a.wav", 0.5)
    audio = WAVE(path)
    audio.add_tags()
    audio.tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="", data=data))
    audio.save()

    found = read_picture(path)

    assert found is not None
    assert found.data == data


def test_the_front_cover_wins_over_other_pictures(tmp_path: Path, ffmpeg: str) -> None:
    back = make_image(ffmpeg, tmp_path / "back.png", "red")
    front = make_image(ffmpeg, tmp_path / "front.png", "blue")
    path = write_tone(tmp_path / "a.mp3", 0.5)
    tags = ID3()
    tags.add(APIC(encoding=3, mime="image/png", type=4, desc="back", data=back))
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="front", data=front))
    tags.save(path)

    found = read_picture(path)

    assert found is not None
    assert found.data == front


def test_the_content_type_comes_from_the_bytes_not_the_tag(tmp_path: Path, ffmpeg: str) -> None:
    data = make_image(ffmpeg, tmp_path / "cover.jpg")
    path = write_tone(tmp_path / "a.mp3", 0.5)
    tags = ID3()
    tags.add(APIC(encoding=3, mime="text/html", type=3, desc="", data=data))
    tags.save(path)

    found = read_picture(path)

    assert found is not None
    assert found.mime == "image/jpeg"


def test_a_picture_that_is_not_an_image_is_ignored(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "a.mp3", 0.5)
    tags = ID3()
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=b"<script>x</script>"))
    tags.save(path)

    assert read_picture(path) is None


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".m4a", ".wav"])
def test_no_picture_in_a_plain_file(tmp_path: Path, suffix: str) -> None:
    path = write_tone(tmp_path / f"a{suffix}", 0.5, tags={"artist": "A", "title": "B"})

    assert read_picture(path) is None


def test_a_file_that_is_not_audio_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"not audio at all" * 100)

    with pytest.raises(UnreadableAudio):
        read_picture(path)


def test_image_types() -> None:
    assert image_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_type(b"GIF89a...") == "image/gif"
    assert image_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg onload=alert(1)>") is None


# Generated covers.


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_a_generated_cover_is_a_small_svg_with_initials() -> None:
    svg = generated_cover("Daft Punk", "One More Time")

    root = parse(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}text").text == "DP"  # type: ignore[union-attr]
    assert root.find(f"{SVG_NS}title").text == "Daft Punk - One More Time"  # type: ignore[union-attr]
    assert len(svg.encode()) < 2048


def test_the_same_names_draw_the_same_cover_and_others_another() -> None:
    assert generated_cover("A", "Song") == generated_cover("A", "Song")
    assert generated_cover("A", "Song") != generated_cover("B", "Song")


def test_hostile_names_are_escaped_and_capped() -> None:
    hostile = '"><script>alert(1)</script>\x00\x1b[31m\u202e' + "x" * 100_000
    svg = generated_cover(hostile, "'; <img src=x onerror=alert(1)>")

    root = parse(svg)
    assert "<script" not in svg
    assert "<img" not in svg
    assert not any(el.tag.endswith(("script", "img", "foreignObject")) for el in root.iter())
    assert root.find(f"{SVG_NS}title").text.startswith('"><script>')  # type: ignore[union-attr]
    assert len(svg.encode()) < 2048


def test_a_cover_without_names_still_draws() -> None:
    root = parse(generated_cover("", ""))

    assert root.find(f"{SVG_NS}text").text == "\u266a"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "letters"), [("Daft Punk", "DP"), ("abba", "A"),
                                               ("émile  _ zola", "ÉZ"), ("!!!", "")])  # fmt: skip
def test_initials(text: str, letters: str) -> None:
    assert initials(text) == letters


def test_cover_urls() -> None:
    assert cover_url(7, "A", "B") == "/covers/track/7"
    assert cover_url(None, "R&B", "a b") == "/covers/generated.svg?artist=R%26B&title=a+b"
    assert len(cover_url(None, "x" * 5000, "y" * 5000)) < 300
