"""The bootstrap flow a new station starts with: `radio hosts add`, `radio tokens create`,
then that token works on the running station; and revoking or removing ends it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta

from tests import database
from tests.station import RunningStation

PASSWORD = "alice's long password"


def radio(station: RunningStation, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, **database.env_for(station.state)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_host_added_on_the_command_line_gets_in_with_a_token(
    launch: Callable[..., RunningStation],
) -> None:
    station = launch()
    added = radio(station, "hosts", "add", "Alice", "--role", "host", "--password-stdin",
                  stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added host 'alice'" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    listed = radio(station, "hosts", "list")
    assert "alice" in listed.stdout
    assert "admin" in listed.stdout  # the harness's admin

    created = radio(station, "tokens", "create", "alice", "--name", "laptop")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("radio_")
    assert "shown only now" in created.stderr

    me = station.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert (me.json()["host"]["username"], me.json()["host"]["role"]) == ("alice", "host")
    assert station.post("/api/queue/skip", token=token).status_code == 200
    tokens = radio(station, "tokens", "list", "alice")
    assert "laptop" in tokens.stdout
    assert token not in tokens.stdout
    # The same password signs in to the dashboard.
    signed_in = station.post("/api/session", token=None,
                             json={"username": "alice", "password": PASSWORD})  # fmt: skip
    assert signed_in.status_code == 200

    token_id = tokens.stdout.splitlines()[1].split()[0]
    assert radio(station, "tokens", "revoke", token_id).returncode == 0
    assert station.post("/api/queue/skip", token=token).status_code == 401


def test_the_command_line_refuses_bad_input_and_keeps_an_admin(
    launch: Callable[..., RunningStation],
) -> None:
    station = launch()
    weak = radio(station, "hosts", "add", "bob", "--password-stdin", stdin="short\n")
    assert weak.returncode != 0
    assert "at least" in weak.stderr
    assert "bob" not in radio(station, "hosts", "list").stdout
    last = radio(station, "hosts", "remove", "admin")
    assert last.returncode != 0
    assert "at least one admin" in last.stderr
    missing = radio(station, "tokens", "create", "nobody", "--name", "x")
    assert "no host named 'nobody'" in missing.stderr

    radio(station, "hosts", "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    token = radio(station, "tokens", "create", "carol", "--name", "ci").stdout.strip()
    assert station.post("/api/queue/skip", token=token).status_code == 200
    changed = radio(station, "hosts", "passwd", "carol", "--password-stdin",
                    stdin="carol's new password\n")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert radio(station, "hosts", "remove", "carol").returncode == 0
    assert station.post("/api/queue/skip", token=token).status_code == 401


def test_a_token_made_on_the_command_line_may_expire(
    launch: Callable[..., RunningStation],
) -> None:
    station = launch()
    created = radio(station, "tokens", "create", "admin", "--name", "ci", "--expires-in", "2w")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    in_two_weeks = (datetime.now() + timedelta(weeks=2)).strftime("%Y-%m-%d")  # local time
    assert f"it expires {in_two_weeks}" in created.stderr
    listed = radio(station, "tokens", "list", "admin").stdout.splitlines()
    assert listed[0].split() == ["ID", "HOST", "NAME", "PREFIX", "CREATED", "LAST_USED",
                                 "EXPIRES", "REVOKED"]  # fmt: skip
    row = next(line for line in listed if " ci " in line)
    assert in_two_weeks in row
    assert station.post("/api/queue/skip", token=token).status_code == 200

    database.rows(station.state, "UPDATE api_tokens SET expires_at = "  # two weeks later
                  "'2026-01-02 03:04:00.000000' WHERE name = 'ci'")  # fmt: skip
    expired = station.post("/api/queue/skip", token=token)
    assert expired.status_code == 401
    assert expired.json()["detail"].startswith("this token expired at 2026-01-02 03:04 UTC")

    for bad in ("30", "2 weeks", "0d", "1y"):
        refused = radio(station, "tokens", "create", "admin", "--name", "x", "--expires-in", bad)
        assert refused.returncode != 0
        assert "a token lifetime is a whole number and a unit" in refused.stderr, refused.stderr
    assert " x " not in radio(station, "tokens", "list").stdout
