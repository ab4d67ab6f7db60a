"""The database the tests run on: SQLite (the default) or PostgreSQL, chosen with
RADIO_TEST_DATABASE=sqlite|postgres.

With postgres, each pytest process (each xdist worker) starts a throwaway cluster of its own
from Debian's `postgresql` package: initdb in a temp folder, run by an unprivileged user
(`radio-pg`, created when the tests run as root), reached on a Unix socket in that folder
(no TCP port to collide on), fsync off. The schema is migrated once into a template database;
each state folder a test uses gets a fresh copy of it (CREATE DATABASE ... TEMPLATE), as it
would get a SQLite file of its own; they are dropped at the end of the test module. The
cluster is stopped and its folder removed when the run ends, and by a watchdog process if the
run itself is killed.

Tests read what the station stored with `rows()`: sqlite3 or psycopg directly, never the
station's own code.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from app.db import MIGRATIONS

KINDS = ("sqlite", "postgres")
KIND = os.environ.get("RADIO_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if KIND not in KINDS:
    raise SystemExit(f"RADIO_TEST_DATABASE must be one of {', '.join(KINDS)}, not {KIND!r}")
POSTGRES = KIND == "postgres"

PG_USER = "radio"  # the cluster's superuser (a role, not a system account)
SYSTEM_USER = "radio-pg"  # who runs the server when the tests run as root
TEMPLATE = "radio_template"


def postgres_bin() -> Path:
    """Debian's PostgreSQL programs (not on PATH): the newest installed version, or
    RADIO_TEST_PG_BIN."""
    if os.environ.get("RADIO_TEST_PG_BIN"):
        return Path(os.environ["RADIO_TEST_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))  # fmt: skip
    if not found:
        raise RuntimeError(
            "RADIO_TEST_DATABASE=postgres needs Debian's postgresql package "
            "(`make test DB=postgres` installs it): no /usr/lib/postgresql/*/bin/initdb"
        )
    return Path(found[-1]).parent


class Cluster:
    """A PostgreSQL server in a temp folder, for this process's tests."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="radio-pg-"))  # short: a socket lives here
        self.data = self.folder / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            _ensure_system_user()
            shutil.chown(self.folder, SYSTEM_USER, SYSTEM_USER)
            self._as_user = ["runuser", "-u", SYSTEM_USER, "--"]
        self._watchdog = self._start_watchdog()
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")  # fmt: skip
        options = " ".join([
            "-c listen_addresses=''", f"-c unix_socket_directories={self.folder}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c shared_buffers=16MB", "-c max_connections=300", "-c log_min_messages=warning",
            # Not UTC: the station must not depend on the server's zone (it asks for UTC).
            "-c timezone=America/St_Johns",
        ])  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "120", "start")  # fmt: skip
        self.admin = self._connect("postgres")

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                cwd=self.folder)  # fmt: skip
        if result.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr or result.stdout}"
                + (f"\nserver log:\n{log.read_text()}" if log.exists() else "")
            )

    def _start_watchdog(self) -> subprocess.Popen[bytes]:
        """A process that stops the server and removes the folder once this one is gone,
        however it ends (even kill -9)."""
        stop = " ".join([*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data),
                         "-m", "immediate", "stop"])  # fmt: skip
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"[ -f {self.data}/postmaster.pid ] && {stop} >/dev/null 2>&1; "
                  f"rm -rf {self.folder}")  # fmt: skip
        return subprocess.Popen(["sh", "-c", script], start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    def _connect(self, database: str) -> Any:
        import psycopg

        return psycopg.connect(host=str(self.folder), user=PG_USER, dbname=database,
                               autocommit=True)  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@/{database}?host={self.folder}"

    def create(self, template: str | None = TEMPLATE) -> str:
        """A new database (a copy of the migrated template, or empty); its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        source = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.admin.execute(f"CREATE DATABASE {name}{source}")
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.admin.close()
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self._watchdog.kill()
        self._watchdog.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _ensure_system_user() -> None:
    result = subprocess.run(["id", "-u", SYSTEM_USER], capture_output=True, check=False)
    if result.returncode == 0:
        return
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                           "/usr/sbin/nologin", SYSTEM_USER],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if made.returncode not in (0, 9):  # 9: made meanwhile by another worker
        raise RuntimeError(f"cannot create the system user {SYSTEM_USER}: {made.stderr}")


_cluster: Cluster | None = None


def cluster() -> Cluster:
    """This process's cluster, started (and the template migrated) on first use."""
    global _cluster
    if _cluster is None:
        started = Cluster()
        atexit.register(started.stop)
        try:
            from app.db import make_engine, upgrade

            started.admin.execute(f"CREATE DATABASE {TEMPLATE}")
            engine = make_engine(started.url(TEMPLATE))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
        except BaseException:
            started.stop()
            raise
        _cluster = started
    return _cluster


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


# The databases by state folder, made on first use, as each state folder would have its own
# SQLite file. A module's fixtures may keep a station (and its database) for all of the
# module's tests: databases are dropped when the module ends.
_by_state: dict[Path, str] = {}
_made: list[str] = []


def drop_databases() -> None:
    """Drop every database made so far (at the end of a module: its stations are stopped)."""
    if not POSTGRES or _cluster is None:
        return
    gone = set()
    while _made:
        name = _made.pop()
        _cluster.drop(name)
        gone.add(_cluster.url(name))
    for state in [state for state, url in _by_state.items() if url in gone]:
        del _by_state[state]


def url_for(state: Path) -> str:
    """The database URL of a station keeping its state in `state`: its SQLite file, or on
    PostgreSQL a fresh copy of the migrated template made on first use."""
    if not POSTGRES:
        return f"sqlite:///{state / 'radio.sqlite3'}"
    state = state.resolve()
    if state not in _by_state:
        name = cluster().create()
        _made.append(name)
        _by_state[state] = cluster().url(name)
    return _by_state[state]


_sqlite_template: Path | None = None


def migrated_url(state: Path) -> str:
    """url_for(state), with the schema in place: on PostgreSQL url_for's copy of the template;
    on SQLite, when the state folder has no database yet, a copy of a file migrated once per
    process (as the template is on PostgreSQL), instead of running every migration again."""
    url = url_for(state)
    if POSTGRES:
        return url
    target = state / "radio.sqlite3"
    if not target.exists():
        global _sqlite_template
        if _sqlite_template is None:
            from app.db import make_engine, upgrade

            made = Path(tempfile.mkdtemp(prefix="radio-sqlite-template-")) / "radio.sqlite3"
            atexit.register(shutil.rmtree, made.parent, True)
            engine = make_engine(f"sqlite:///{made}")
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            _sqlite_template = made
        target.parent.mkdir(parents=True, exist_ok=True)
        with (contextlib.closing(sqlite3.connect(_sqlite_template)) as source,
              contextlib.closing(sqlite3.connect(target)) as copy):  # fmt: skip
            source.backup(copy)
    return url


def env_for(state: Path, *, empty: bool = False) -> dict[str, str]:
    """RADIO_STATE_DIR and, on PostgreSQL, RADIO_DATABASE_URL for a `radio` command on the
    station keeping its state in `state` (`empty`: an empty database, as a new SQLite file)."""
    env = {"RADIO_STATE_DIR": str(state)}
    if POSTGRES:
        env["RADIO_DATABASE_URL"] = empty_url(state) if empty else url_for(state)
    return env


def empty_url(folder: Path) -> str:
    """A new database with no tables at all, for migrations: on SQLite a new file in
    `folder`, on PostgreSQL a new empty database (dropped at the end of the module)."""
    if not POSTGRES:
        return f"sqlite:///{folder / 'radio.sqlite3'}"
    name = cluster().create(template=None)
    _made.append(name)
    return cluster().url(name)


def migrate(engine: Engine, direction: str, revision: str) -> None:
    """Alembic's `upgrade` or `downgrade` to `revision` of the station's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _name(url: str) -> str:
    """The database a URL of Cluster.url() names."""
    return url.split("@/")[1].split("?")[0]


def postgres_connection(state: Path) -> Any:
    """A psycopg connection of its own to the PostgreSQL database of the station keeping its
    state in `state` (as the cluster's superuser; the caller closes it)."""
    return _connect_to(url_for(state))


def _connect_to(url: str) -> Any:
    """A psycopg connection to the database a URL of Cluster.url() names; in UTC like the
    station's connections (a date without a zone is UTC, as on SQLite)."""
    import psycopg

    return psycopg.connect(host=str(cluster().folder), user=PG_USER, dbname=_name(url),
                           options="-c timezone=UTC")  # fmt: skip


def tables(url: str) -> list[str]:
    """The tables in the PostgreSQL database at `url` (read with psycopg)."""
    with _connect_to(url) as db:
        found = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return sorted(row[0] for row in found)


def rows(state: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run `sql` (with `?` placeholders) on the database of the station keeping its state in
    `state`, directly (sqlite3 or psycopg), and return its rows (none for a write)."""
    return _run(state, sql, [tuple(params)], many=False)


def write_many(state: Path, sql: str, params: Sequence[Sequence[Any]]) -> None:
    """`sql` (with `?` placeholders) once for each of `params`, in one transaction."""
    _run(state, sql, [tuple(p) for p in params], many=True)


# What a statement that waited too long for another connection's lock fails with.
LOCKED = "canceling statement due to lock timeout" if POSTGRES else "database is locked"


@contextlib.contextmanager
def write_lock(state: Path) -> Iterator[None]:
    """Another connection holds the write lock on the whole database meanwhile (readers
    still read): SQLite's BEGIN EXCLUSIVE; on PostgreSQL every table locked EXCLUSIVE."""
    if not POSTGRES:
        other = sqlite3.connect(state / "radio.sqlite3", timeout=30, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    import psycopg

    with postgres_connection(state) as db:
        tables = [row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
        db.commit()
        for attempt in range(10):
            try:
                db.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
                break
            except psycopg.errors.DeadlockDetected:
                # The tables are locked one by one: a station's transaction that holds one
                # and waits for another deadlocks with us, and the server picked us to undo.
                db.rollback()
                if attempt == 9:
                    raise
        try:
            yield
        finally:
            db.rollback()


def integrity(state: Path) -> list[str]:
    """What the database's own checker finds wrong (nothing: []): SQLite's integrity_check;
    on PostgreSQL amcheck's bt_index_check of every index against its table (the server
    itself was never killed, but a station's half-done writes must not have broken it)."""
    if not POSTGRES:
        found = [row[0] for row in rows(state, "PRAGMA integrity_check")]
        return [] if found == ["ok"] else found
    rows(state, "CREATE EXTENSION IF NOT EXISTS amcheck")
    problems = []
    indexes = rows(state, "SELECT c.relname FROM pg_index i "
                   "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE a.amname = 'btree' AND n.nspname = 'public'")  # fmt: skip
    for (index,) in indexes:
        try:
            rows(state, "SELECT bt_index_check(?::regclass, true)", (index,))
        except Exception as error:
            problems.append(f"{index}: {error}")
    return problems


def _run(state: Path, sql: str, params: list[tuple[Any, ...]], many: bool) -> list[Any]:
    if not POSTGRES:
        with contextlib.closing(sqlite3.connect(state / "radio.sqlite3", timeout=30)) as db:
            if many:
                db.executemany(sql, params)
                db.commit()
                return []
            cursor = db.execute(sql, params[0])
            found = cursor.fetchall()
            db.commit()
            return found
    with postgres_connection(state) as db:
        statement = sql.replace("?", "%s")
        cursor = db.cursor()
        if many:
            cursor.executemany(statement, params)  # type: ignore[arg-type]
            return []
        cursor.execute(statement, params[0])  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []
