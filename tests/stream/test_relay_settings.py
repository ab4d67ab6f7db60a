"""RADIO_RELAYS: each mistake gets a clear error, and no error ever shows a password."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.config import Settings

SECRET = "s3cret-pass"


def relays(*entries: object) -> str:
    return json.dumps(list(entries))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[{", "RADIO_RELAYS is not JSON"),
        ('{"url": "x"}', "must be a JSON list"),
        (relays("http://x"), "entry 1: not an object"),
        (relays({"mount": "/stream"}), '"url" is missing'),
        (relays({"url": f"https://source:{SECRET}@ice:8000/live"}), "not an http:// URL"),
        (relays({"url": f"http://source:{SECRET}@ice:99999/live"}), "no valid port"),
        (relays({"url": "http://source@ice:8000/live"}), "has no password"),
        (relays({"url": f"http://source:{SECRET}@ice:8000/"}), "names no Icecast mount"),
        (relays({"url": f"http://source:{SECRET}@ice/live", "mount": "stream"}), '"mount" must'),
        (relays({"url": f"http://source:{SECRET}@ice/live", "pubic": True}), "unknown field"),
        (relays({"url": f"http://source:{SECRET}@ice/live", "public": "yes"}), '"public" must'),
        (relays({"url": f"http://source:{SECRET}@a/live", "name": "x"},
                {"url": f"http://source:{SECRET}@b/live", "name": "x"}), "two outputs named 'x'"),
        (relays({"url": f"http://source:{SECRET}@a/live", "name": "x"},
                {"url": f"http://source:{SECRET}@a:80/live"}), "the same Icecast mount"),
    ],
)  # fmt: skip
def test_a_wrong_relay_setting_is_refused_saying_why_and_never_showing_the_password(
    value: str, says: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(relays=value)
    assert says in str(raised.value)
    assert SECRET not in str(raised.value)


def test_relay_settings_give_each_output_its_target_and_the_log_hides_the_password() -> None:
    settings = Settings(relays=relays(
        {"url": f"http://source:{SECRET}@ice.example.org:8000/live", "name": "edge-1"},
        {"url": f"http://dj:{SECRET}2@[::1]:8001/mobile", "mount": "/mobile.mp3",
         "public": True},
    ))  # fmt: skip
    first, second = settings.relay_targets
    assert (first.name, first.target, first.mount, first.user) == (
        "edge-1", "http://ice.example.org:8000/live", "/stream", "source")  # fmt: skip
    assert (second.name, second.target, second.mount, second.user, second.public) == (
        "::1:8001/mobile", "http://[::1]:8001/mobile", "/mobile.mp3", "dj", True)  # fmt: skip
    assert SECRET not in repr(settings.relay_targets)
    assert {SECRET, SECRET + "2"} <= set(settings.secret_values())
    assert SECRET not in repr(settings)
