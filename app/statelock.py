"""One station per state folder: an exclusive lock on `state/station.lock`, held while the
station runs and taken before anything touches the database.

The lock is `flock` on an open file: the kernel drops it when the process ends, however it
ends (a crash or `kill -9` leaves no stale lock). The file also says who holds it (process id
and address), so a second station can tell the user which one is in the way.

On PostgreSQL the state is also the database, which other state folders (other machines)
may name: the lock then also holds a PostgreSQL session-level advisory lock on that
database (`pg_try_advisory_lock`), on a connection of its own kept open while the station
runs. The server drops it when that connection goes, however the station ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

LOCK_NAME = "station.lock"
# The advisory lock's key (any 64-bit number the station alone uses): "radio" in ASCII.
ADVISORY_KEY = 0x726164696F


class StateInUse(RuntimeError):
    """Another station runs on this state folder."""


class StateLock:
    """Held from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, state_dir: Path, fd: int) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = fd
        self._database: Any = None  # the connection holding the advisory lock, if any

    @classmethod
    def acquire(cls, state_dir: Path, database_url: str = "") -> StateLock:
        """Take the lock at once, or raise StateInUse saying who holds it. With a
        PostgreSQL `database_url`, that database's advisory lock too."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / LOCK_NAME
        # O_CLOEXEC (Python's default): children started with exec never hold the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise StateInUse(
                f"another station is already running on the state folder {state_dir}"
                f"{holder}. Stop it first, or give this one its own folder (RADIO_STATE_DIR)."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        lock = cls(state_dir, fd)
        try:
            if database_url.startswith("postgresql"):
                lock._database = _advisory_lock(database_url)
            lock.record()
        except BaseException:
            lock.release()
            raise
        return lock

    def record(self, **facts: Any) -> None:
        """Write who holds the lock (our process id, and e.g. the address we serve on)."""
        if self._fd is None:
            raise RuntimeError("the state lock is released")
        data = json.dumps({"pid": os.getpid(), **facts}).encode() + b"\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._database is not None:
            database, self._database = self._database, None
            with contextlib.suppress(Exception):
                database.close()
                database.engine.dispose()
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # nobody holds it now; the file itself may stay
        os.close(fd)  # closing the file drops the lock

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _advisory_lock(url: str) -> Any:
    """A connection holding the database's advisory lock, or StateInUse naming who holds
    it (the application_name of that station's lock connection)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"radio station (process {os.getpid()})"
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                           connect_args={"application_name": name})  # fmt: skip
    connection = engine.connect()
    try:
        key = {"key": ADVISORY_KEY}
        if connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
            return connection
        holder = connection.scalar(text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (l.classid::bigint << 32 | l.objid::bigint) = :key LIMIT 1"), key)  # fmt: skip
    except BaseException:
        connection.close()
        engine.dispose()
        raise
    connection.close()
    engine.dispose()
    where = make_url(url).render_as_string(hide_password=True)
    said = f" ({holder})" if holder else ""
    raise StateInUse(
        f"another station is already running on the database {where}{said}. Stop it first, "
        "or give this one its own database (RADIO_DATABASE_URL)."
    )


def _read(fd: int) -> dict[str, Any]:
    try:
        facts = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def _describe(facts: dict[str, Any]) -> str:
    said = [f"process {facts['pid']}" if "pid" in facts else "", str(facts.get("url", ""))]
    said = [part for part in said if part]
    return f" ({', '.join(said)})" if said else ""
