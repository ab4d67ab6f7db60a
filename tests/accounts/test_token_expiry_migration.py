"""Migration 0008 (tokens may expire): tokens made before it keep working, and it goes down
again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from app.accounts.tokens import authenticate_token, digest
from app.db import MIGRATIONS, _at_head, make_engine, make_sessions, upgrade_in_child
from tests import database


def _alembic(connection_url: str, action: str, revision: str) -> None:
    engine = make_engine(connection_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def test_tokens_from_before_the_migration_never_expire(tmp_path: Path) -> None:
    url = database.empty_url(tmp_path)
    _alembic(url, "upgrade", "0007")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO hosts (username, password_hash, role, created_at)"
                " VALUES ('old', 'x', 'admin', '2025-01-01 00:00:00.000000')"
            )
        )
        connection.execute(text(
            "INSERT INTO api_tokens (host_id, name, token_hash, prefix, created_at)"
            " VALUES (1, 'old script', :hash, 'radio_old', '2025-01-01 00:00:00.000000')"),
            {"hash": digest("radio_a-token-from-last-year")})  # fmt: skip
    assert not _at_head(url)
    upgrade_in_child(url)  # as a station starting after the update
    assert _at_head(url)
    with make_sessions(engine)() as db:
        live = authenticate_token(db, "radio_a-token-from-last-year", datetime.now(UTC))
    assert live is not None
    assert live[0].expires_at is None
    engine.dispose()

    _alembic(url, "downgrade", "0007")
    engine = make_engine(url)
    columns = {column["name"] for column in inspect(engine).get_columns("api_tokens")}
    engine.dispose()
    assert "expires_at" not in columns
    assert not _at_head(url)
    upgrade_in_child(url)
    assert _at_head(url)
