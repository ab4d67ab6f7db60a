"""What the Schemathesis run (tests/api/test_fuzz_api.py) found, each as a plain regression
test: the request it sent, and the answer a client should get instead of a server error or an
answer the schema does not describe."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from app.db import make_engine, make_sessions
from app.models import Host, Track
from tests import database
from tests.accounts.harness import TestClient, add_host, bearer, running_app
from tests.audio import write_tone
from tests.station import ADMIN_TOKEN

AUTH = bearer(ADMIN_TOKEN)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"  # not UTF-8 from its first byte


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("station")
    (root / "media" / "music").mkdir(parents=True)
    write_tone(root / "media" / "music" / "tone.mp3", 5, 440, tags={"title": "Tone"})
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with running_app(root) as client:
        yield client


def delete_meanwhile(root: Path, model: Any, row_id: int) -> None:
    """What a parallel request's delete does to the database, from another connection."""
    engine = make_engine(database.url_for(root / "state"))
    try:
        with make_sessions(engine)() as db:
            db.execute(delete(model).where(model.id == row_id))
            db.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def playlist(client: TestClient) -> int:
    created = client.post("/api/playlists", headers=AUTH, json={"name": "Found by fuzzing"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_a_body_of_bytes_that_are_not_utf8_is_a_422_naming_the_field(
    client: TestClient, playlist: int
) -> None:
    """A JSON route sent a multipart body with a PNG in it: FastAPI's validation answer put
    the body's bytes in its JSON and failed on the first byte that is not UTF-8 (500)."""
    body = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + PNG + b"\r\n--b--\r\n"
    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=b"}
    # The upload's path under PATCH is /api/tracks/{track_id}: "upload" is not an id either.
    for path in ["/api/tracks/upload", f"/api/playlists/{playlist}"]:
        response = client.patch(path, headers=headers, content=body)
        assert response.status_code == 422, (path, response.text)
        errors = response.json()["detail"]
        assert any(error["loc"] == ["body"] for error in errors), errors
        assert all("input" not in error for error in errors if error["loc"] == ["body"])
    # Text that was sent still comes back, as FastAPI's validation answers always had it.
    response = client.patch(f"/api/playlists/{playlist}", headers=AUTH, content=b"plain text")
    assert response.status_code == 422
    assert any(error.get("input") == "plain text" for error in response.json()["detail"])


def test_null_for_a_playlist_field_that_always_has_a_value_is_refused(
    client: TestClient, playlist: int
) -> None:
    """`{"description": null}` reached the database as NULL: an IntegrityError (500)."""
    before = client.get(f"/api/playlists/{playlist}", headers=AUTH).json()
    for field in ["description", "enabled", "is_jingle", "weight", "name", "rule"]:
        response = client.patch(f"/api/playlists/{playlist}", headers=AUTH, json={field: None})
        assert response.status_code == 422, (field, response.text)
        assert f"{field} cannot be null" in response.json()["detail"]
    assert client.get(f"/api/playlists/{playlist}", headers=AUTH).json() == before
    # null still clears what may be empty.
    cleared = {"every": None, "minute": None, "schedule": None}
    response = client.patch(f"/api/playlists/{playlist}", headers=AUTH, json=cleared)
    assert response.status_code == 200, response.text
    assert response.json()["schedule"] == []


def test_every_error_answer_is_documented_with_its_shape(tmp_path: Path) -> None:
    """The schema describes the errors every route gives by its shape, and `detail` may be
    a sentence or FastAPI's list (HTTPException answers were flagged as off-schema)."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "media"))
    schema = app.openapi()
    detail = schema["components"]["schemas"]["ErrorOut"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    codes = {m.upper() + " " + p: set(op["responses"]) for p, ops in schema["paths"].items()
             for m, op in ops.items()}  # fmt: skip
    assert {"401", "403", "404", "413", "422"} <= codes["PATCH /api/playlists/{playlist_id}"]
    assert {"401", "403"} <= codes["POST /api/queue/skip"]
    assert {"401", "429", "503"} <= codes["POST /api/session"]
    assert "401" not in codes["GET /api/now-playing"]
    assert "404" not in codes["GET /api/tracks"]


def test_a_host_deleted_while_their_password_is_set_gets_409(
    client: TestClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUT /api/hosts/1/password while another request deleted host 1: the UPDATE found no
    row (StaleDataError, 500). Hashing the password takes the time the delete needs."""
    import app.accounts.hosts

    host_id = add_host(client, "doomed")
    real_hash = app.accounts.hosts.hash_password

    def hash_while_deleted(password: str) -> str:
        delete_meanwhile(root, Host, host_id)
        return real_hash(password)

    monkeypatch.setattr(app.accounts.hosts, "hash_password", hash_while_deleted)
    response = client.put(f"/api/hosts/{host_id}/password", headers=AUTH,
                          json={"password": "a new long password"})  # fmt: skip
    assert response.status_code == 409, response.text
    assert "removed or changed it meanwhile" in response.json()["detail"]
    assert "doomed" not in {h["username"] for h in client.get("/api/hosts", headers=AUTH).json()}


def test_a_track_deleted_while_its_tags_are_written_gets_409(
    client: TestClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATCH /api/tracks/2 while DELETE /api/tracks/2 ran: writing the tags failed, and the
    error message read the deleted row again (ObjectDeletedError, 500)."""
    import app.api.library

    deadline = time.monotonic() + 60
    while not (tracks := client.get("/api/tracks", headers=AUTH).json()["items"]):
        assert time.monotonic() < deadline, "the start-up scan found no track"
        time.sleep(0.1)
    track = tracks[0]
    real_write = app.api.library.write_tags

    def write_while_deleted(path: Path, changes: dict[str, str]) -> None:
        delete_meanwhile(root, Track, track["id"])
        path.unlink()
        real_write(path, changes)

    monkeypatch.setattr(app.api.library, "write_tags", write_while_deleted)
    response = client.patch(f"/api/tracks/{track['id']}", headers=AUTH, json={"title": "New"})
    assert response.status_code == 409, response.text
    assert client.get(f"/api/tracks/{track['id']}", headers=AUTH).status_code == 404
