"""The host service on a real, migrated SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import hosts
from app.accounts.tokens import authenticate_token, issue_token, revoke_token
from app.db import make_engine, make_sessions, upgrade
from app.models import ApiToken, HostRole
from tests import database

PASSWORD = "a long enough password"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(database.url_for(tmp_path))
    upgrade(engine)
    with make_sessions(engine)() as session:
        yield session
    engine.dispose()


def test_names_are_unique_regardless_of_case(db: Session) -> None:
    hosts.create_host(db, "Alice", PASSWORD, HostRole.host)
    with pytest.raises(hosts.HostExists):
        hosts.create_host(db, "alice", PASSWORD, HostRole.admin)
    assert hosts.authenticate(db, "ALICE", PASSWORD) is not None


@pytest.mark.parametrize("name", ["", "../etc", "a b", "x" * 65, "-dash", "bad\x00name"])
def test_odd_names_are_refused(db: Session, name: str) -> None:
    with pytest.raises(hosts.AccountError, match="username"):
        hosts.create_host(db, name, PASSWORD, HostRole.host)


def test_authenticate_needs_the_right_password(db: Session) -> None:
    hosts.create_host(db, "alice", PASSWORD, HostRole.host)
    assert hosts.authenticate(db, "alice", PASSWORD + "!") is None
    assert hosts.authenticate(db, "nobody", PASSWORD) is None


def test_the_last_admin_can_be_neither_removed_nor_demoted(db: Session) -> None:
    boss = hosts.create_host(db, "boss", PASSWORD, HostRole.admin)
    with pytest.raises(hosts.LastAdmin):
        hosts.remove_host(db, boss)
    with pytest.raises(hosts.LastAdmin):
        hosts.set_role(db, boss, HostRole.host)
    other = hosts.create_host(db, "other", PASSWORD, HostRole.admin)
    hosts.set_role(db, boss, HostRole.host)
    hosts.remove_host(db, boss)
    assert [h.username for h in hosts.list_hosts(db)] == [other.username]


def test_the_setup_admin_is_created_only_while_there_are_no_hosts(db: Session) -> None:
    first = hosts.create_setup_admin(db, "boss:a long enough password")
    assert first is not None
    assert first.role == HostRole.admin
    assert hosts.create_setup_admin(db, "intruder:another long password") is None
    assert [h.username for h in hosts.list_hosts(db)] == ["boss"]


def test_tokens_are_stored_hashed_and_stop_working_when_revoked(db: Session) -> None:
    alice = hosts.create_host(db, "alice", PASSWORD, HostRole.host)
    issued = issue_token(db, alice, "laptop")
    now = datetime.now(UTC)
    stored = db.scalars(select(ApiToken)).one()
    assert issued.secret not in (stored.token_hash, stored.prefix)
    assert issued.secret.startswith(stored.prefix)
    live = authenticate_token(db, issued.secret, now)
    assert live is not None
    assert live[1].username == "alice"
    revoke_token(db, stored, now)
    assert authenticate_token(db, issued.secret, now) is None
    assert authenticate_token(db, issued.secret + "x", now) is None
