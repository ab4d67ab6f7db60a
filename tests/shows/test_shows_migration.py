"""Migration 0014 (shows) up and down on the database the tests run on (RADIO_TEST_DATABASE:
SQLite or PostgreSQL): down takes the shows' tables away and leaves the rest, up brings them
back as the models say, and the tables keep what they are given, with hosts' and shows'
deletions cascading."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.db import upgrade
from app.models import Base
from tests import database

SHOW_TABLES = {"shows", "show_hosts", "show_slots"}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _insert(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO hosts (id, username, password_hash, role, created_at, "
                "display_name, bio) VALUES (1, 'ann', 'x', 'host', :t, 'Ann', ''), "
                "(2, 'bo', 'x', 'host', :t, 'Bo', '')"
            ),
            {"t": "2026-11-30 10:00:00"},
        )
        db.execute(
            text(
                "INSERT INTO shows (id, name, description, interrupt_news, record, "
                "created_at, updated_at) VALUES (1, 'Morning', '', false, true, :t, :t)"
            ),
            {"t": "2026-11-30 10:00:00"},
        )
        db.execute(text("INSERT INTO show_hosts (show_id, host_id) VALUES (1, 1), (1, 2)"))
        db.execute(text("INSERT INTO show_slots (id, show_id, weekday, start_minute, minutes) "
                        "VALUES (1, 1, 0, 420, 120)"))  # fmt: skip


def test_the_shows_migration_goes_down_and_up(engine: Engine) -> None:
    upgrade(engine)
    assert _tables(engine) >= SHOW_TABLES
    _insert(engine)
    with engine.begin() as db:
        db.execute(text("DELETE FROM hosts WHERE id = 2"))  # a host leaves: off the show
        assert db.execute(text("SELECT host_id FROM show_hosts")).scalars().all() == [1]
        db.execute(text("DELETE FROM shows WHERE id = 1"))  # a show goes: its slots too
        assert db.execute(text("SELECT count(*) FROM show_slots")).scalar() == 0
        assert db.execute(text("SELECT count(*) FROM show_hosts")).scalar() == 0

    database.migrate(engine, "downgrade", "0013")
    assert not SHOW_TABLES & _tables(engine)
    with engine.connect() as db:  # the rest stays
        assert db.execute(text("SELECT username FROM hosts")).scalars().all() == ["ann"]

    database.migrate(engine, "upgrade", "head")
    assert _tables(engine) >= SHOW_TABLES
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    _insert_again(engine)


def _insert_again(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO shows (id, name, description, interrupt_news, record, "
                "created_at, updated_at) VALUES (2, 'Again', '', true, false, :t, :t)"
            ),
            {"t": "2026-11-30 10:00:00"},
        )
        db.execute(text("INSERT INTO show_slots (show_id, weekday, start_minute, minutes) "
                        "VALUES (2, 6, 1380, 120)"))  # fmt: skip
        rows = db.execute(text("SELECT weekday, start_minute, minutes FROM show_slots")).all()
    assert [tuple(r) for r in rows] == [(6, 1380, 120)]
