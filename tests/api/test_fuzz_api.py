"""Schemathesis over the whole OpenAPI schema of a real station, as a listener (no
credentials) and as an admin host: no answer is a server error, and every answer is one the
schema documents (its status code, content type, headers and body).

The `schemathesis` command runs against a station of tests/station.py with a library, a
playlist, a published story with a comment and a feed in it, so ids 1, 2, ... exist. Its
examples, coverage (boundary values: the largest integers, empty and over-long strings, wrong
types) and fuzzing phases run for every operation, positive and negative data alike, with a
fixed seed so that a failure can be run again (`--seed`), and bounded by `MAX_EXAMPLES`.

No route is left out for the run's sake: the host it signs in as is put back before every
request if the run deleted it, demoted it or revoked its token (tests/api/fuzz_hooks.py). The
only operation not fuzzed is the Server-Sent Events channel, whose answer never ends (and
takes no input); test_the_event_channel_answers_as_documented checks its answer.

A failure prints the command's report: each finding with a curl command to replay it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import database
from tests.api import fuzz_hooks
from tests.audio import write_tone
from tests.station import RunningStation, start_station

MAX_EXAMPLES = 10  # per operation and phase: some 2500 cases a run, 1-2 minutes each
SEED = 20261130
EVENTS = "/api/now-playing/events"  # Server-Sent Events: the answer never ends
SLUG_ENV = "FUZZ_SLUG"  # the story that ratings and comments go to
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,security_headers")  # fmt: skip
HOOKS = fuzz_hooks.__name__  # a module: the command imports it from the checkout (ROOT)
ROOT = Path(__file__).parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")  # the 5xx answers the schema documents

# The two runs are the unit phase's longest tests: handed out first (`long`), and to two
# workers (a station each: the module's fixtures are per worker), not one after the other.
pytestmark = [pytest.mark.long, pytest.mark.timeout(900)]
LISTENER_RUN = pytest.mark.xdist_group("fuzz_listener")  # with the event channel's check
HOST_RUN = pytest.mark.xdist_group("fuzz_host")


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStation]:
    root = tmp_path_factory.mktemp("fuzz")
    music = root / "media" / "music"
    music.mkdir(parents=True)
    for freq in (330, 440, 550):
        write_tone(music / f"tone-{freq}.mp3", 20, freq,
                   tags={"artist": f"Artist {freq}", "title": f"Tone {freq}"})  # fmt: skip
    running = start_station(root, feed_timeout_seconds=2)
    try:
        some_of_everything(running)
        yield running
    finally:
        running.stop()


def some_of_everything(station: RunningStation) -> str:
    """A playlist, a published story with a comment, a feed; the story's slug."""
    tracks = station.get("/api/tracks", headers=station.auth()).json()["items"]
    assert len(tracks) == 3, tracks
    playlist = {"name": "Rotation", "rule": "rotation", "track_ids": [t["id"] for t in tracks]}
    assert station.post("/api/playlists", json=playlist).status_code == 201
    story = {"title": "Ferries run later", "category": "Local", "body": "From *Monday* on."}
    article = station.post("/api/articles", json=story).json()
    station.post(f"/api/articles/{article['id']}/publish").raise_for_status()
    comment = {"name": "Ann", "email": "ann@example.org", "comment": "Good to know."}
    answer = httpx.post(f"{station.url}/news/{article['slug']}/comments", json=comment,
                        headers={"Accept": "application/json"}, timeout=10)  # fmt: skip
    assert answer.status_code == 202, answer.text
    feed = {"url": "http://news.invalid/feed.xml", "category": "World"}
    assert station.post("/api/feeds", json=feed).status_code == 201
    return str(article["slug"])


@pytest.fixture(scope="module")
def story(station: RunningStation) -> dict[str, str]:
    """The environment that names the published story to schemathesis.toml."""
    found = station.get("/api/articles", params={"status": "published"}, headers=station.auth())
    return {SLUG_ENV: found.json()["items"][0]["slug"]}


def schemathesis_run(station: RunningStation, *options: str, env: dict[str, str]) -> str:
    """The command's report; fails with it when the run found anything."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG), "run",
        f"{station.url}/openapi.json", "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED), "--workers", "2", "--request-timeout", "30",
        "--exclude-path", EVENTS, "--generation-database", "none",
        "--no-color", "--output-truncate", "false", "--continue-on-failure", *options,
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=ROOT,
                         env={**os.environ, **env, "SCHEMATHESIS_HOOKS": HOOKS})  # fmt: skip
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    return report


def summary(report: str) -> str:
    """What the run tried, for the test's output: operations, cases, time per phase."""
    tested = re.search(r"Tested: (\d+)", report)
    cases = re.search(r"(\d+) generated", report)
    phases = re.findall(r"(Examples|Coverage|Fuzzing) \(in ([\d.]+s)\)", report)
    return (f"{tested[1] if tested else '?'} operations, {cases[1] if cases else '?'} cases "
            f"({', '.join(f'{name} {took}' for name, took in phases)})")  # fmt: skip


@LISTENER_RUN
def test_the_api_answers_a_listener_as_its_schema_says(
    station: RunningStation, story: dict[str, str]
) -> None:
    report = schemathesis_run(station, env=story)
    print("listener:", summary(report))


@HOST_RUN
def test_the_api_answers_a_host_as_its_schema_says(
    station: RunningStation, story: dict[str, str]
) -> None:
    token = f"Authorization: Bearer {fuzz_hooks.FUZZER_TOKEN}"
    report = schemathesis_run(station, "--header", token,
                              env={**story, fuzz_hooks.STATE_ENV: str(station.state),
                                   **database.env_for(station.state)})  # fmt: skip
    print("host:", summary(report))
    # The run acted as a host: the hook kept its credentials, and it changed the station.
    assert "Authentication failed" not in report
    fuzzer = {"Authorization": f"Bearer {fuzz_hooks.FUZZER_TOKEN}"}
    fuzz_hooks.restore_fuzzer(str(station.state))
    assert station.get("/api/session", headers=fuzzer).json()["host"]["username"] == "fuzzer"


@LISTENER_RUN
def test_the_event_channel_answers_as_documented(station: RunningStation) -> None:
    schema = station.get("/openapi.json").json()
    documented = schema["paths"][EVENTS]["get"]["responses"]["200"]["content"]
    with httpx.stream("GET", station.url + EVENTS, timeout=10) as response:
        assert response.status_code == 200
        media = response.headers["content-type"].split(";")[0]
        assert media in documented, (media, documented)
        first = next(response.iter_lines())
        assert first == "event: now-playing"
