"""The migrations, up and down: an empty database to the newest schema, back to nothing and
up again, one step at a time, with the schema equal to the models at the top and the data
kept through a down and up of the latest migration. On the database the tests run on
(RADIO_TEST_DATABASE): SQLite, or an empty PostgreSQL database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from app.db import MIGRATIONS, make_sessions, upgrade
from app.models import Article, ArticleStatus, Base, ListeningSession, Track, TrackKind
from tests import database


def _revisions() -> list[str]:
    """Oldest first."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    walk = ScriptDirectory.from_config(config).walk_revisions()
    return [script.revision for script in reversed(list(walk))]


def _schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_every_migration_goes_up_and_down_and_the_top_is_the_models(engine: Engine) -> None:
    revisions = _revisions()
    assert len(revisions) >= 7

    upgrade(engine)
    assert _schema_differences(engine) == []
    assert _tables(engine) == set(Base.metadata.tables)

    database.migrate(engine, "downgrade", "base")
    assert _tables(engine) == set()

    # Stairs: each migration up, down and up again, so every downgrade runs against the
    # schema its upgrade made, and the upgrade after it finds what it expects.
    for revision in revisions:
        database.migrate(engine, "upgrade", revision)
        database.migrate(engine, "downgrade", "-1")
        database.migrate(engine, "upgrade", revision)
    assert _schema_differences(engine) == []
    assert _tables(engine) == set(Base.metadata.tables)


def test_data_survives_a_down_and_up_through_the_totals_migration(engine: Engine) -> None:
    upgrade(engine)
    moment = datetime(2026, 11, 30, tzinfo=UTC)
    with make_sessions(engine).begin() as db:
        db.add(Track(id=1, path="music/a.mp3", kind=TrackKind.music, size=1, mtime=0.0,
                     artist="Ann", title="Song"))  # fmt: skip
        db.add(Article(id=1, slug="a", title="A story", status=ArticleStatus.published))
        db.add(ListeningSession(id=1, listener="h1", client="c1", started_at=moment,
                                ended_at=moment + timedelta(hours=1)))  # fmt: skip
    before = _rows(engine)

    # Down below the migration that builds the listening totals (0007), and up again
    # through it and every one after it.
    database.migrate(engine, "downgrade", "0006")
    database.migrate(engine, "upgrade", "head")

    assert _rows(engine) == before
    # The totals it adds are built from the sessions already there: an hour for h1.
    with engine.connect() as db:
        totals = db.execute(text("SELECT listener, seconds_us FROM listener_totals")).all()
    assert [tuple(row) for row in totals] == [("h1", 3600 * 10**6)]
    assert _schema_differences(engine) == []


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as db:
        return {
            table: sorted(tuple(row) for row in db.execute(text(f"SELECT * FROM {table}")))
            for table in ("tracks", "articles", "listening_sessions")
        }
