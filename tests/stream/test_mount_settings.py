"""RADIO_MOUNTS: what a host writes, and the clear error a mistake gets."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.outputs import MountSpec


def test_mounts_are_read_in_order_with_their_format() -> None:
    settings = Settings(mounts=" /mobile.mp3=mp3:64:mono, /stream.aac=aac:96,/stream.opus=opus:96 ")
    assert settings.mount_specs == [
        MountSpec("/mobile.mp3", "mp3", 64, 1),
        MountSpec("/stream.aac", "aac", 96, 2),
        MountSpec("/stream.opus", "opus", 96, 2),
    ]
    assert [spec.content_type for spec in settings.mount_specs] == [
        "audio/mpeg", "audio/aac", "audio/ogg"]  # fmt: skip
    assert Settings().mount_specs == []  # none unless asked


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("/x.flac=flac:96", "the codec is one of mp3, aac, opus"),
        ("/x.mp3=mp3:100", "mp3 bitrates are 32, 40"),
        ("/x.opus=opus:fast", "the bitrate is a whole number"),
        ("/stream=aac:96", "/stream is taken"),
        ("/stream.mp3=mp3:64", "/stream.mp3 is taken"),
        ("/a.aac=aac:96,/a.aac=aac:64", "/a.aac is taken"),
        ("x.aac=aac:96", "the path must start with /"),
        ("/x.aac=aac:96:surround", "write <path>=<codec>:<kbps>[:mono]"),
        ("/x.aac", "write <path>=<codec>:<kbps>[:mono]"),
        ("/api/x=aac:96", "where the station serves other things"),
    ],
)
def test_a_wrong_mount_is_refused_with_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValidationError, match=r"(?s)mounts.*" + re.escape(says)):
        Settings(mounts=value)


def test_hls_is_cut_from_a_mount_the_station_has_in_a_codec_it_packs() -> None:
    mounts = "/stream.aac=aac:96,/stream.opus=opus:96"
    assert Settings(mounts=mounts, hls="/stream.aac").hls == "/stream.aac"
    assert Settings(hls="/stream.mp3").hls == "/stream.mp3"  # the default mount's alias
    assert Settings(hls="off").hls == "off"
    with pytest.raises(
        ValidationError, match=re.escape("RADIO_HLS=/stream.opus: HLS packs MP3 or AAC")
    ):
        Settings(mounts=mounts, hls="/stream.opus")
    with pytest.raises(
        ValidationError,
        match=re.escape("RADIO_HLS=/nope: no such mount (the mounts are /stream, /stream.aac"),
    ):
        Settings(mounts=mounts, hls="/nope")
