"""Admins manage shows through the real station's HTTP API on the real database; hosts read
them. Slots that would put two shows on air at once are refused with a sentence saying which;
sizes are bounded. And a show whose slot is on is what listeners see: the player page's
"On air" line and today's programme, now-playing, and the schedule preview."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.accounts.hosts import create_host
from app.accounts.tokens import issue_token
from app.db import make_engine, make_sessions, upgrade
from app.models import HostRole
from tests import database
from tests.conftest import tone_library
from tests.station import ADMIN_TOKEN, RunningStation, start_station
from tests.test_cli_queue import radio

TIMEZONE = "Europe/Berlin"
ZONE = ZoneInfo(TIMEZONE)
HOST_TOKEN = "radio_test-shows-host-token"
TONES = [(440, 3, "A"), (550, 3, "B"), (660, 3, "C")]


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStation, dict]]:
    root = tmp_path_factory.mktemp("station")
    tone_library(root / "media", TONES)
    engine = make_engine(database.url_for(root / "state"))
    try:
        upgrade(engine)
        with make_sessions(engine)() as db:
            hosts = {}
            for name, display in (("cleo", "Cleo"), ("dee", "Dee"), ("eli", "")):
                host = create_host(db, name, "a-long-enough-password", HostRole.host)
                host.display_name = display
                db.flush()
                hosts[name] = host.id
            issue_token(db, db.get(type(host), hosts["eli"]), "shows test", secret=HOST_TOKEN)
            db.commit()
    finally:
        engine.dispose()
    running = start_station(root, timezone=TIMEZONE)
    try:
        yield running, hosts
    finally:
        running.stop()


def call(station: RunningStation, method: str, path: str, token: str = ADMIN_TOKEN,
         **kwargs: Any) -> httpx.Response:  # fmt: skip
    return httpx.request(method, station.url + path, headers=station.auth(token), timeout=60,
                         **kwargs)  # fmt: skip


def create(station: RunningStation, **body: Any) -> httpx.Response:
    return call(station, "POST", "/api/shows", json=body)


def slot(weekday: int, start: str, minutes: int) -> dict[str, Any]:
    return {"weekday": weekday, "start": start, "minutes": minutes}


def test_admins_create_change_and_delete_shows_and_hosts_read_them(station: Any) -> None:
    running, hosts = station
    made = create(running, name="Breakfast", description="Wake up", interrupt_news=False,
                  record=True, host_ids=[hosts["cleo"], hosts["dee"]],
                  slots=[slot(0, "06:00", 180), slot(2, "06:00", 180)])  # fmt: skip
    assert made.status_code == 201, made.text
    show = made.json()
    assert [h["username"] for h in show["hosts"]] == ["cleo", "dee"]
    assert [(s["weekday"], s["start"], s["end"], s["minutes"]) for s in show["slots"]] == [
        (0, "06:00", "09:00", 180), (2, "06:00", "09:00", 180)]  # fmt: skip
    assert (show["interrupt_news"], show["record"]) == (False, True)

    # Any host reads; only admins change.
    listed = call(running, "GET", "/api/shows", token=HOST_TOKEN)
    assert listed.status_code == 200
    assert "Breakfast" in [s["name"] for s in listed.json()]
    assert call(running, "GET", f"/api/shows/{show['id']}", token=HOST_TOKEN).json() == show
    for method, path, body in (
        ("POST", "/api/shows", {"name": "Mine"}),
        ("PATCH", f"/api/shows/{show['id']}", {"name": "Mine"}),
        ("DELETE", f"/api/shows/{show['id']}", None),
        ("POST", f"/api/shows/{show['id']}/slots", slot(4, "20:00", 60)),
    ):
        refused = call(running, method, path, token=HOST_TOKEN, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
    assert call(running, "GET", "/api/shows", token="").status_code == 401

    # Changes: fields given; hosts and slots replaced as a whole.
    changed = call(running, "PATCH", f"/api/shows/{show['id']}",
                   json={"interrupt_news": True, "host_ids": [hosts["dee"]],
                         "slots": [slot(1, "05:30", 90)]})  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "Breakfast"
    assert body["record"] is True
    assert body["interrupt_news"]
    assert [h["username"] for h in body["hosts"]] == ["dee"]
    assert [(s["weekday"], s["start"], s["end"]) for s in body["slots"]] == [(1, "05:30", "07:00")]
    added = call(running, "POST", f"/api/shows/{show['id']}/slots", json=slot(3, "23:00", 120))
    assert added.status_code == 201, added.text
    late = next(s for s in added.json()["slots"] if s["weekday"] == 3)
    assert (late["start"], late["end"]) == ("23:00", "01:00")  # past midnight
    gone = call(running, "DELETE", f"/api/shows/{show['id']}/slots/{late['id']}")
    assert gone.status_code == 204
    assert len(call(running, "GET", f"/api/shows/{show['id']}").json()["slots"]) == 1

    assert call(running, "DELETE", f"/api/shows/{show['id']}").status_code == 204
    assert call(running, "GET", f"/api/shows/{show['id']}").status_code == 404
    # Its time is free again.
    again = create(running, name="Early", slots=[slot(1, "06:00", 30)])
    assert again.status_code == 201, again.text
    assert call(running, "DELETE", f"/api/shows/{again.json()['id']}").status_code == 204


def test_slots_that_would_put_two_shows_on_air_at_once_are_refused_saying_which(
    station: Any,
) -> None:
    running, _ = station
    first = create(running, name="Late Night", slots=[slot(6, "23:00", 120)])  # Sun to Mon 01:00
    assert first.status_code == 201, first.text
    try:
        clash = create(running, name="Early Bird", slots=[slot(0, "00:30", 60)])
        assert clash.status_code == 409
        assert clash.json()["detail"] == (
            "Monday 00:30-01:30 overlaps “Late Night” (Sunday 23:00-01:00): two shows cannot "
            "be on air at once"
        )
        assert "Early Bird" not in [s["name"] for s in call(running, "GET", "/api/shows").json()]
        # Back to back is no overlap; a show's own slots may not overlap each other either.
        ok = create(running, name="Early Bird", slots=[slot(0, "01:00", 60)])
        assert ok.status_code == 201, ok.text
        own = call(running, "POST", f"/api/shows/{ok.json()['id']}/slots",
                   json=slot(0, "01:59", 10))  # fmt: skip
        assert own.status_code == 409
        assert "another slot of this show" in own.json()["detail"]
        # Two new slots of one show that overlap each other.
        twice = create(running, name="Twice", slots=[slot(4, "10:00", 60), slot(4, "10:30", 60)])
        assert twice.status_code == 409, twice.text
        assert call(running, "DELETE", f"/api/shows/{ok.json()['id']}").status_code == 204
    finally:
        call(running, "DELETE", f"/api/shows/{first.json()['id']}")


@pytest.mark.parametrize(("body", "why"), [
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "A", "description": "d" * 5001}, "description"),
    ({"name": "A", "slots": [slot(7, "10:00", 60)]}, "weekday"),
    ({"name": "A", "slots": [slot(0, "24:00", 60)]}, "start"),
    ({"name": "A", "slots": [slot(0, "7:00", 60)]}, "start"),
    ({"name": "A", "slots": [slot(0, "10:00", 0)]}, "minutes"),
    ({"name": "A", "slots": [slot(0, "10:00", 1441)]}, "minutes"),
    ({"name": "A", "slots": [slot(d % 7, f"{d // 7:02d}:00", 30) for d in range(51)]}, "slots"),
    ({"name": "A", "host_ids": list(range(1, 22))}, "host_ids"),
    ({"name": "A", "colour": "red"}, "colour"),
    ({"name": "Line\nbreak"}, "control characters"),
    ({"name": "A", "description": "nul \x00"}, "NUL"),
])  # fmt: skip
def test_out_of_bounds_shows_are_refused_naming_the_field(
    station: Any, body: dict[str, Any], why: str
) -> None:
    running, _ = station
    response = create(running, **body)
    assert response.status_code == 422, response.text
    assert why in response.text


def test_unknown_hosts_and_taken_names_are_refused(station: Any) -> None:
    running, hosts = station
    unknown = create(running, name="Ghosts", host_ids=[hosts["cleo"], 99999])
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "no host 99999"
    made = create(running, name="Taken")
    assert made.status_code == 201
    try:
        taken = create(running, name="taken ")
        assert taken.status_code == 409
        assert taken.json()["detail"] == "a show named “taken” exists"
    finally:
        call(running, "DELETE", f"/api/shows/{made.json()['id']}")


def _slot_at(local: datetime, minutes: int) -> dict[str, Any]:
    return slot(local.weekday(), local.strftime("%H:%M"), minutes)


def test_the_show_on_air_is_on_the_player_page_in_now_playing_and_in_the_preview(
    station: Any,
) -> None:
    running, hosts = station
    now = datetime.now(UTC).astimezone(ZONE).replace(second=0, microsecond=0)
    on_now = create(running, name="Night Shift", host_ids=[hosts["cleo"]],
                    slots=[_slot_at(now - timedelta(minutes=5), 30)])  # fmt: skip
    soon = create(running, name="Late Show", host_ids=[hosts["dee"], hosts["cleo"]],
                  slots=[_slot_at(now + timedelta(minutes=40), 30)])  # fmt: skip
    assert on_now.status_code == soon.status_code == 201, (on_now.text, soon.text)
    try:
        page = running.get("/")
        assert page.status_code == 200
        html = page.text
        hero = re.search(r'<p id="hero-show" class="hero-show"( hidden)?>([^<]*)</p>', html)
        assert hero is not None, html
        assert hero.group(1) is None, "the On air line is hidden"
        assert unescape(hero.group(2)) == "On air: Night Shift with Cleo"
        programme = re.search(r'<ol class="programme">(.*?)</ol>', html, re.S)
        assert programme is not None, html
        first = re.search(r"<li>.*?</li>", programme.group(1), re.S)
        assert first is not None
        text = unescape(re.sub(r"<[^>]+>", " ", first.group(0)))
        assert " ".join(text.split()) == (
            f"{(now - timedelta(minutes=5)):%H:%M} On air: Night Shift with Cleo On now"
        )

        show = running.now_playing()["show"]
        assert show is not None
        assert show["label"] == "On air: Night Shift with Cleo"
        assert show["hosts"] == ["Cleo"]

        preview = call(running, "GET", "/api/schedule/preview", params={"hours": 2})
        assert preview.status_code == 200, preview.text
        marks = [i for i in preview.json()["items"] if i["kind"] == "live"]
        starts = (now + timedelta(minutes=40)).astimezone(UTC)
        late = [m for m in marks if m["title"] == "On air: Late Show with Cleo and Dee"]
        assert len(late) == 1, marks
        at = datetime.fromisoformat(late[0]["expected_start"])
        assert starts <= at < starts + timedelta(minutes=1), (at, starts)
    finally:
        for made in (on_now, soon):
            call(running, "DELETE", f"/api/shows/{made.json()['id']}")
    # Gone with its show.
    assert running.now_playing()["show"] is None
    assert 'id="hero-show" class="hero-show" hidden' in running.get("/").text


def test_admins_add_list_and_remove_shows_with_the_radio_command(station: Any) -> None:
    running, hosts = station
    added = radio(running, "shows", "add", "Drive Time", "--host", str(hosts["dee"]),
                  "--slot", "fri 16:00 120", "--slot", "sat 16:00 60", "--no-news")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added show ")
    show_id = int(added.stdout.split()[2].rstrip(":"))
    assert "Drive Time (fri 16:00-18:00, sat 16:00-17:00)" in added.stdout
    listed = radio(running, "shows", "list", token=HOST_TOKEN)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "Drive Time" in line)
    assert row.split()[0] == str(show_id)
    assert "dee" in row
    assert row.split()[-2:] == ["no", "no"]  # no news, not recorded
    clash = radio(running, "shows", "add", "Rush Hour", "--slot", "fri 17:00 30")
    assert clash.returncode != 0
    assert "409: Friday 17:00-17:30 overlaps “Drive Time” (Friday 16:00-18:00)" in clash.stderr
    bad = radio(running, "shows", "add", "Odd", "--slot", "friday 5pm")
    assert bad.returncode != 0
    assert 'not "DAY HH:MM MINUTES"' in bad.stderr
    assert radio(running, "shows", "remove", str(show_id), token=HOST_TOKEN).returncode != 0
    removed = radio(running, "shows", "remove", str(show_id))
    assert removed.returncode == 0, removed.stderr
    assert "Drive Time" not in radio(running, "shows", "list").stdout


def test_the_push_channel_tells_players_of_a_new_show_at_once(
    launch: Callable[..., RunningStation],
) -> None:
    running = launch(timezone=TIMEZONE)
    tone_library(running.media, [(440, 120, "Long")])  # one item on air throughout
    running.post("/api/library/scan").raise_for_status()
    running.wait_for_music()
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        with (
            contextlib.suppress(httpx.TransportError),
            httpx.stream("GET", running.url + "/api/now-playing/events", timeout=None) as stream,
        ):
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.put(json.loads(line.removeprefix("data: ")))

    threading.Thread(target=read, daemon=True).start()
    first = events.get(timeout=30)
    assert first["show"] is None
    on_air = first["current"]["started_at"]
    now = datetime.now(UTC).astimezone(ZONE).replace(second=0, microsecond=0)
    made = create(running, name="Breaking", slots=[_slot_at(now - timedelta(minutes=1), 30)])
    assert made.status_code == 201, made.text
    while True:
        pushed = events.get(timeout=10)  # not the next item: the change itself is announced
        if pushed["show"] is not None:
            break
    assert pushed["show"]["label"] == "On air: Breaking"
    assert pushed["current"]["started_at"] == on_air
