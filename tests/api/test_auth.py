"""Signing in, sessions with CSRF, personal tokens, throttling, the first admin: through the
real HTTP app and the real database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.accounts.sessions import COOKIE_NAME
from tests import database
from tests.accounts.harness import (
    PASSWORD,
    TestClient,
    add_host,
    bearer,
    running_app,
    sign_in,
    token_for,
)
from tests.station import ADMIN_TOKEN


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with running_app(tmp_path) as client:
        yield client


def test_signing_in_sets_an_httponly_samesite_cookie(client: TestClient) -> None:
    add_host(client, "alice")
    response = client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["host"]["username"] == "alice"
    assert body["csrf_token"]
    assert PASSWORD not in response.text
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # plain http here; behind https the cookie is Secure
    me = client.get("/api/session").json()
    assert me["host"]["username"] == "alice"
    assert me["via"] == "session"
    assert me["csrf_token"] == body["csrf_token"]


def test_a_form_sign_in_works_too(client: TestClient) -> None:
    add_host(client, "alice")
    response = client.post("/api/session", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get("/api/session").status_code == 200


def test_a_form_sign_in_goes_on_to_a_page_of_this_site_only(client: TestClient) -> None:
    add_host(client, "alice")
    form = {"username": "alice", "password": PASSWORD}
    response = client.post("/api/session", data={**form, "next": "/host"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/host"
    assert client.get("/api/session").status_code == 200
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/api/session", data={**form, "next": elsewhere},
                               follow_redirects=False)  # fmt: skip
        assert response.status_code == 200, elsewhere  # signed in, but sent nowhere


def test_cookie_requests_that_change_things_need_the_csrf_token(client: TestClient) -> None:
    add_host(client, "alice")
    csrf = sign_in(client, "alice")
    refused = client.post("/api/tokens", json={"name": "forged"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/tokens", json={"name": "forged"}, headers={"X-CSRF-Token": "no"})
    assert wrong.status_code == 403
    assert client.get("/api/tokens").json() == []  # nothing was created
    made = client.post("/api/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    # A plain HTML form sends the token as a field.
    assert client.post("/api/queue/skip", data={"csrf_token": csrf}).status_code == 200
    assert client.post("/api/queue/skip", data={"csrf_token": "nope"}).status_code == 403
    # An upload must send the header: its body is not read to look for a field.
    upload = client.post("/api/tracks/upload", data={"csrf_token": csrf},
                         files={"file": ("a.mp3", b"\xff\xfb" * 1000, "audio/mpeg")})  # fmt: skip
    assert upload.status_code == 403


def test_signing_out_ends_the_session(client: TestClient) -> None:
    add_host(client, "alice")
    csrf = sign_in(client, "alice")
    secret = client.cookies[COOKIE_NAME]
    assert client.delete("/api/session").status_code == 403  # without CSRF: not even this
    response = client.delete("/api/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert f"{COOKIE_NAME}=" in response.headers["set-cookie"]
    assert COOKIE_NAME not in client.cookies
    client.cookies.set(COOKIE_NAME, secret)  # the old cookie, replayed
    assert client.get("/api/session").status_code == 401
    assert client.post("/api/queue/skip", headers={"X-CSRF-Token": csrf}).status_code == 401


def test_a_token_is_shown_once_stored_hashed_and_revocable(
    client: TestClient, tmp_path: Path
) -> None:
    made = client.post("/api/tokens", json={"name": "cron job"}, headers=bearer())
    assert made.status_code == 201
    secret = made.json()["token"]
    assert client.get("/api/session", headers=bearer(secret)).json()["via"] == "token"
    listed = client.get("/api/tokens", headers=bearer(secret))
    assert secret not in listed.text
    assert all("token" not in row for row in listed.json())
    assert "cron job" in listed.text
    # Nowhere in the database, in any column, is the secret.
    rows = database.rows(tmp_path / "state", "SELECT * FROM api_tokens")
    assert rows
    assert not any(secret in str(value) for row in rows for value in row)
    token_id = made.json()["id"]
    assert client.delete(f"/api/tokens/{token_id}", headers=bearer()).status_code == 204
    revoked = client.post("/api/queue/skip", headers=bearer(secret))
    assert revoked.status_code == 401
    assert revoked.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/api/queue/skip", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_a_token_may_be_given_a_lifetime_and_is_refused_once_it_is_over(
    client: TestClient, tmp_path: Path
) -> None:
    before = datetime.now(UTC)
    made = client.post("/api/tokens", json={"name": "for a month", "expires_in": "30d"},
                       headers=bearer())  # fmt: skip
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert before + timedelta(days=30) <= expires <= datetime.now(UTC) + timedelta(days=30)
    listed = {row["id"]: row for row in client.get("/api/tokens", headers=bearer()).json()}
    assert datetime.fromisoformat(listed[token_id]["expires_at"]) == expires
    assert listed[1]["expires_at"] is None  # the harness's token, made without a lifetime
    assert client.post("/api/queue/skip", headers=bearer(secret)).status_code == 200

    # A month later (the row's expiry moved into the past: the clock is the station's own).
    database.rows(tmp_path / "state", "UPDATE api_tokens SET expires_at = ? WHERE id = ?",
                  ("2026-01-02 03:04:00.000000", token_id))  # fmt: skip
    expired = client.post("/api/queue/skip", headers=bearer(secret))
    assert expired.status_code == 401
    assert expired.json()["detail"] == (
        "this token expired at 2026-01-02 03:04 UTC: create a new one "
        "(POST /api/tokens, or `radio tokens create`)"
    )
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert client.post("/api/queue/skip", headers=bearer(ADMIN_TOKEN)).status_code == 200

    for bad in ("30", "30 days", "0d", "-1d", "1.5h", "1y", "9999999d", "999999d", "523w", ""):
        refused = client.post("/api/tokens", json={"name": "x", "expires_in": bad},
                              headers=bearer())  # fmt: skip
        assert refused.status_code == 422, bad
        assert "lifetime" in refused.text or "pattern" in refused.text, refused.text


def test_a_host_may_not_revoke_someone_elses_token(client: TestClient) -> None:
    alice = token_for(client, "alice")
    admins = client.get("/api/tokens", headers=bearer()).json()
    harness_token = next(t for t in admins if t["name"] == "test harness")
    mine = client.get("/api/tokens", headers=bearer(alice)).json()
    assert [t["name"] for t in mine] == ["script"]
    response = client.delete(f"/api/tokens/{harness_token['id']}", headers=bearer(alice))
    assert response.status_code == 404
    assert client.post("/api/queue/skip", headers=bearer()).status_code == 200


def test_failed_sign_ins_are_throttled(client: TestClient) -> None:
    add_host(client, "alice")
    for _ in range(5):
        wrong = client.post("/api/session", json={"username": "alice", "password": "guess" * 3})
        assert wrong.status_code == 401
    blocked = client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert "try again" in blocked.json()["detail"]
    assert COOKIE_NAME not in client.cookies  # even the right password waits


def test_a_wrong_password_does_not_tell_whether_the_name_exists(client: TestClient) -> None:
    add_host(client, "alice")
    known = client.post("/api/session", json={"username": "alice", "password": "wrong" * 3})
    unknown = client.post("/api/session", json={"username": "nobody", "password": "wrong" * 3})
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json() == {"detail": "wrong username or password"}


def test_bad_sign_in_input_gets_a_clear_error(client: TestClient) -> None:
    for body in ({"username": "alice"}, {"password": "x"}, "not json"):
        kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
        response = client.post("/api/session", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 422
        assert "username and a password" in response.json()["detail"]


def test_admins_manage_hosts(client: TestClient) -> None:
    bob = add_host(client, "bob")
    again = client.post("/api/hosts", headers=bearer(),
                        json={"username": "BOB", "password": PASSWORD})  # fmt: skip
    assert again.status_code == 409
    weak = client.post("/api/hosts", headers=bearer(), json={"username": "eve", "password": "x"})
    assert weak.status_code == 422
    assert "at least" in weak.json()["detail"]
    promoted = client.patch(f"/api/hosts/{bob}", headers=bearer(), json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert client.delete("/api/hosts/999", headers=bearer()).status_code == 404
    assert client.delete(f"/api/hosts/{bob}", headers=bearer()).status_code == 204
    names = [h["username"] for h in client.get("/api/hosts", headers=bearer()).json()]
    assert names == ["admin"]
    last = client.patch("/api/hosts/1", headers=bearer(), json={"role": "host"})
    assert last.status_code == 409
    assert "at least one admin" in last.json()["detail"]


def test_a_host_changes_their_own_password_with_the_current_one(client: TestClient) -> None:
    alice = token_for(client, "alice")
    me = client.get("/api/session", headers=bearer(alice)).json()["host"]["id"]
    path = f"/api/hosts/{me}/password"
    new = "a brand new password"
    wrong = client.put(path, headers=bearer(alice),
                       json={"password": new, "current_password": "not it at all"})  # fmt: skip
    assert wrong.status_code == 403
    ok = client.put(path, headers=bearer(alice),
                    json={"password": new, "current_password": PASSWORD})  # fmt: skip
    assert ok.status_code == 204
    assert (
        client.post("/api/session", json={"username": "alice", "password": PASSWORD}).status_code
        == 401
    )
    sign_in(client, "alice", new)


def test_an_admin_resetting_a_password_signs_the_host_out(client: TestClient) -> None:
    alice = add_host(client, "alice")
    sign_in(client, "alice")
    assert client.get("/api/session").status_code == 200
    reset = client.put(f"/api/hosts/{alice}/password", headers=bearer(),
                       json={"password": "reset by the admin"})  # fmt: skip
    assert reset.status_code == 204
    assert client.get("/api/session").status_code == 401


def test_the_setup_admin_comes_from_the_environment_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_app(tmp_path, admin=False, setup_admin="boss:boss password 1") as client:
        sign_in(client, "boss", "boss password 1")
        assert client.get("/api/session").json()["host"]["role"] == "admin"
    assert "'boss'" in caplog.text
    assert "boss password 1" not in caplog.text
    with running_app(tmp_path, admin=False, setup_admin="mallory:mallory password") as client:
        mallory = {"username": "mallory", "password": "mallory password"}
        refused = client.post("/api/session", json=mallory)
        assert refused.status_code == 401


GUESSES = [("admin", "admin"), ("admin", ""), ("root", "root"), ("admin", "password")]


@pytest.mark.parametrize(("username", "password"), GUESSES)
def test_no_default_account_exists(tmp_path: Path, username: str, password: str) -> None:
    with running_app(tmp_path, admin=False) as client:
        response = client.post("/api/session", json={"username": username, "password": password})
        assert response.status_code in (401, 422)
        assert client.post("/api/queue/skip").status_code == 401
