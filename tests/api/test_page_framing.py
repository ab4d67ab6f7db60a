"""Which pages other sites may frame: the embed, yes; pages with host controls, no."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.accounts.harness import TestClient, running_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("station")) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "policy"),
    [("/embed", "frame-ancestors *"), ("/", "frame-ancestors 'none'"),
     ("/host", "frame-ancestors 'none'")],
)  # fmt: skip
def test_framing_policy(client: TestClient, path: str, policy: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].endswith(f"; {policy}")


def test_the_player_gives_a_new_browser_its_listener_cookie(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/")
    assert "radio_listener" in response.cookies
    assert response.headers["cache-control"] == "no-store"
    again = client.get("/")  # the client sends the cookie back, as a browser does
    assert "set-cookie" not in again.headers  # kept, not replaced


def test_the_dashboard_is_never_framed(client: TestClient) -> None:
    assert client.get("/host").headers["x-frame-options"] == "DENY"
