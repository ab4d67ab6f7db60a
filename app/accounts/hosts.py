"""Host accounts: create, list, remove, change password or role, sign in. A service layer
over the Host table; functions flush, the caller commits."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.passwords import hash_password, needs_rehash, verify_password, waste_equal_time
from app.models import Article, Host, HostRole

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class AccountError(ValueError):
    """A host action that cannot be done; the message says why."""


class HostExists(AccountError):
    pass


class HostNotFound(AccountError):
    pass


class LastAdmin(AccountError):
    pass


def normalise_username(username: str) -> str:
    """Names are case-insensitive: `Alice` and `alice` are one host."""
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise AccountError(
            "a username has 1 to 64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def find_host(db: Session, username: str) -> Host | None:
    return db.scalar(select(Host).where(Host.username == username.strip().lower()))


def get_host(db: Session, username: str) -> Host:
    host = find_host(db, username)
    if host is None:
        raise HostNotFound(f"no host named {username!r}")
    return host


def list_hosts(db: Session) -> Sequence[Host]:
    return db.scalars(select(Host).order_by(Host.username)).all()


def count_hosts(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Host)) or 0


def create_host(db: Session, username: str, password: str, role: HostRole) -> Host:
    name = normalise_username(username)
    if find_host(db, name) is not None:
        raise HostExists(f"a host named {name!r} exists already")
    host = Host(username=name, password_hash=hash_password(password), role=HostRole(role))
    db.add(host)
    db.flush()
    return host


def remove_host(db: Session, host: Host) -> None:
    _keep_an_admin(db, host)
    # Their stories stay, no longer linked (the column has no constraint to do it).
    db.execute(update(Article).where(Article.host_id == host.id).values(host_id=None))
    db.delete(host)  # tokens and sessions go with it (ON DELETE CASCADE)
    db.flush()


def set_role(db: Session, host: Host, role: HostRole) -> None:
    if role != HostRole.admin:
        _keep_an_admin(db, host)
    host.role = HostRole(role)
    db.flush()


def set_password(db: Session, host: Host, password: str) -> None:
    host.password_hash = hash_password(password)
    db.flush()


def authenticate(db: Session, username: str, password: str) -> Host | None:
    """The host when name and password match; None otherwise, in about the same time
    whether or not the name exists."""
    host = find_host(db, username)
    if host is None:
        waste_equal_time(password)
        return None
    if not verify_password(host.password_hash, password):
        return None
    if needs_rehash(host.password_hash):
        host.password_hash = hash_password(password)
    return host


def create_setup_admin(db: Session, spec: str) -> Host | None:
    """The one-time setup value "name:password": creates that admin only while there are
    no hosts at all; afterwards it does nothing."""
    if count_hosts(db) > 0:
        return None
    username, sep, password = spec.partition(":")
    if not sep:
        raise AccountError("the setup admin must be given as name:password")
    return create_host(db, username, password, HostRole.admin)


def _keep_an_admin(db: Session, host: Host) -> None:
    if host.role != HostRole.admin:
        return
    admins = db.scalar(select(func.count()).select_from(Host).where(Host.role == HostRole.admin))
    if (admins or 0) <= 1:
        raise LastAdmin("the station needs at least one admin: make another admin first")
