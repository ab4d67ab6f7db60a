"""The bootstrap flow a new station starts with: `radio hosts add`, `radio tokens create`,
then that token works on the running station; and revoking or removing ends it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from tests.station import RunningStation

PASSWORD = "alice's long password"


def radio(station: RunningStation, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "RADIO_STATE_DIR": str(station.state)}
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
