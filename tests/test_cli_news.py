"""`radio news` and `radio comments` as a host runs them, against the real station."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.cli.news import parse_source
from app.db import make_engine, make_sessions
from app.models import Comment
from tests import database
from tests.station import ADMIN_TOKEN, RunningStation


def radio(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> str:
    """Run one `radio news|comments ACTION ...` command in process; its stdout."""
    code = main([*argv[:2], "--url", url, "--token", ADMIN_TOKEN, *argv[2:]])
    assert code == 0
    return capsys.readouterr().out


def field(out: str, name: str) -> str:
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith(name))


def test_hosts_run_the_news_desk_from_the_shell(
    tmp_path: Path,
    launch: Callable[..., RunningStation],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = launch().url
    body = tmp_path / "story.md"
    body.write_text("The bridge **opened** today.\n\nTraffic is light.\n", encoding="utf-8")
    out = radio(capsys, url, "news", "create", "--title", "Bridge opens", "--category", "Local",
                "--author", "Sam", "--tags", "Bridges, Roads", "--body-file", str(body),
                "--source", "City=https://city.example/bridge",
                "--source", "https://news.example/a?x=1")  # fmt: skip
    story = field(out, "id:")
    assert "slug: bridge-opens" in out
    assert "status: draft" in out
    assert "tags: bridges, roads" in out
    assert "source: City <https://city.example/bridge>" in out
    assert "source: news.example <https://news.example/a?x=1>" in out
    assert "The bridge **opened** today." in out

    # A body piped on standard input.
    monkeypatch.setattr("sys.stdin", io.StringIO("Second story, read from a pipe.\n"))
    out = radio(capsys, url, "news", "create", "--title", "Roads close", "--tags", "roads")
    other = field(out, "id:")
    assert "Second story, read from a pipe." in out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    out = radio(capsys, url, "news", "edit", story, "--title", "Bridge opens early")
    assert "version: 2" in out
    assert "slug: bridge-opens" in out
    assert "status: published" in radio(capsys, url, "news", "publish", story)
    out = radio(capsys, url, "news", "schedule", other, "2099-01-01T09:00:00Z")
    assert "status: scheduled" in out
    assert "publish_at: 2099-01-01T09:00:00Z" in out
    out = radio(capsys, url, "news", "related", story, other)
    assert "related:" not in out  # the linked story is not published yet
    radio(capsys, url, "news", "publish", other)
    assert f"related: {other} Roads close" in radio(capsys, url, "news", "show", story)

    out = radio(capsys, url, "news", "list", "--status", "published")
    assert "Bridge opens early" in out
    assert "Roads close" in out
    out = radio(capsys, url, "news", "list", "-q", "bridge")
    assert "Bridge opens early" in out
    assert "Roads close" not in out

    # A refusal ends the command with the API's reason and a non-zero status.
    with pytest.raises(SystemExit, match="422: source URL 'javascript:alert"):
        radio(capsys, url, "news", "edit", story, "--source", "Evil=javascript:alert(1)")
    with pytest.raises(SystemExit, match="nothing to change"):
        radio(capsys, url, "news", "edit", story)
    with pytest.raises(SystemExit, match="cannot read"):
        radio(capsys, url, "news", "edit", story, "--body-file", str(tmp_path / "missing.md"))
    assert "source: City <https://city.example/bridge>" in radio(capsys, url, "news", "show", story)

    assert "status: retracted" in radio(capsys, url, "news", "retract", other)
    assert f"deleted article {other}" in radio(capsys, url, "news", "delete", other)
    with pytest.raises(SystemExit, match="404"):
        radio(capsys, url, "news", "show", other)

    engine = make_engine(database.url_for(tmp_path / "state"))
    with make_sessions(engine).begin() as session:
        for name in ("Ann", "Bob"):
            session.add(Comment(article_id=int(story), name=name, body="Nice bridge",
                                email=f"{name.lower()}@example.org"))  # fmt: skip
    engine.dispose()
    out = radio(capsys, url, "comments", "list")
    assert "ann@example.org" in out
    assert "bob@example.org" in out
    ids = [line.split()[0] for line in out.splitlines()[1:]]
    assert f"comment {ids[0]}: approved" in radio(capsys, url, "comments", "approve", ids[0])
    assert f"comment {ids[1]}: rejected" in radio(capsys, url, "comments", "reject", ids[1])
    assert radio(capsys, url, "comments", "list").splitlines()[1:] == []
    out = radio(capsys, url, "comments", "list", "--status", "all", "--article", story)
    assert "approved" in out
    assert "rejected" in out
    assert f"deleted comment {ids[1]}" in radio(capsys, url, "comments", "delete", ids[1])
    assert "bob@example.org" not in radio(capsys, url, "comments", "list", "--status", "all")


def test_source_arguments() -> None:
    assert parse_source("Agency=https://a.example/x?y=1") == {
        "label": "Agency", "url": "https://a.example/x?y=1",
    }  # fmt: skip
    assert parse_source("https://a.example/x?y=1") == {
        "label": "",
        "url": "https://a.example/x?y=1",
    }
    assert parse_source("javascript:alert(1)") == {"label": "", "url": "javascript:alert(1)"}
