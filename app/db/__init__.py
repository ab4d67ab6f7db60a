"""The database: engine, sessions and migrations (Alembic, run at start-up)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = sessionmaker[Session]

# The largest integer every supported database keeps in an INTEGER column (PostgreSQL's 32
# bits; SQLite keeps 64): a number from outside beyond it names no row.
MAX_INTEGER = 2**31 - 1

# How long a statement waits for another connection's lock on a SQLite file before it fails
# with "database is locked".
BUSY_SECONDS = 30.0


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _usual_wait)  # after wait_for_locks
        return engine
    if url.startswith("postgresql"):
        # Dates are UTC on every connection, whatever the server's TimeZone: what the
        # database works out from them (a day, an hour) is the same as on SQLite. A lock
        # is waited for at most BUSY_SECONDS, then the statement fails, as on SQLite.
        options = f"-c timezone=UTC -c lock_timeout={round(BUSY_SECONDS * 1000)}"
        return create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the playout and the scanner write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a commit is on disk before the client hears it was made (NORMAL may lose the
    # last transactions to a power cut, though never to a crash of the process).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def wait_for_locks(session: Session, seconds: float) -> None:
    """This session's statements wait at most `seconds` for another connection's lock, then
    fail with an OperationalError: for work that must give up soon (the playout's question)
    rather than wait. On SQLite (instead of BUSY_SECONDS) until its connection goes back to
    the pool; on PostgreSQL (`SET LOCAL lock_timeout`, no limit otherwise) until the end of
    the current transaction."""
    milliseconds = max(1, round(seconds * 1000))
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")
    elif dialect == "postgresql":
        session.connection().exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")


def deadlocked(error: BaseException) -> bool:
    """Whether the database undid this transaction to break a deadlock with another one
    (PostgreSQL's 40P01; SQLite has one writer at a time and never does): nothing of it was
    kept, and running it again is safe."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == "40P01"


def _usual_wait(dbapi_connection: Any, _record: Any) -> None:
    if dbapi_connection is not None:  # None: invalidated, never used again
        dbapi_connection.execute(f"PRAGMA busy_timeout = {round(BUSY_SECONDS * 1000)}")


def check_writable(sessions: SessionFactory, timeout: float) -> str | None:
    """Whether the station could write to its database now: None if so, else why not. On
    SQLite it takes the write lock (BEGIN IMMEDIATE) and lets go at once, waiting at most
    `timeout` for another writer: reading alone would pass on a database nobody can write
    to. On PostgreSQL it takes the lock a write takes (ROW EXCLUSIVE) on one table in a
    transaction it rolls back, waiting at most `timeout` (and says whether the server is
    read-only). Elsewhere it runs `SELECT 1`."""
    engine = sessions.kw["bind"]
    try:
        raw = engine.raw_connection()
    except Exception as error:
        return f"cannot connect: {_first_line(error)}"
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            return _check_postgresql(raw, cursor, timeout)
        if engine.dialect.name != "sqlite":
            cursor.execute("SELECT 1")
            return None
        cursor.execute(f"PRAGMA busy_timeout = {round(timeout * 1000)}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("SELECT count(*) FROM alembic_version")  # reads the file too
            cursor.fetchall()
        finally:
            raw.rollback()
            cursor.execute(f"PRAGMA busy_timeout = {round(BUSY_SECONDS * 1000)}")
        return None
    except Exception as error:
        return _first_line(error)
    finally:
        raw.close()


def _check_postgresql(raw: Any, cursor: Any, timeout: float) -> str | None:
    try:
        cursor.execute(f"SET LOCAL lock_timeout = {max(1, round(timeout * 1000))}")
        cursor.execute("SHOW transaction_read_only")
        if cursor.fetchone()[0] == "on":
            return "database is read-only"
        try:
            cursor.execute("LOCK TABLE alembic_version IN ROW EXCLUSIVE MODE")
        except Exception as error:
            if getattr(error, "sqlstate", None) == "55P03":  # lock_not_available
                return "database is locked (another connection holds a write lock)"
            raise
        return None
    finally:
        raw.rollback()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def make_sessions(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command  # here: a station migrates in a child (upgrade_in_child)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def upgrade_in_child(url: str) -> None:
    """`upgrade` in a child process: Alembic's modules would stay in the serving process's
    memory for good, for something done once at start-up. No child when the database is
    already at the newest migration (every start but the first after an update)."""
    if _at_head(url):
        return
    result = subprocess.run([sys.executable, "-m", "app.db", url], capture_output=True,
                            text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {result.returncode}"
        raise RuntimeError(f"database migration failed: {why}")


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def _head_revisions() -> set[str]:
    """The newest migrations: those no other migration names as its down_revision."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(script.read_text()):
            found = set(re.findall(r"[\"']([^\"']+)[\"']", value))
            (revisions if name == "revision" else parents).update(found)
    return revisions - parents


def _at_head(url: str) -> bool:
    """Whether the database's alembic_version is exactly the newest migrations (any doubt,
    e.g. no such table yet: False, and Alembic decides)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        return {row[0] for row in rows} == _head_revisions()
    except Exception:
        return False
    finally:
        engine.dispose()
