"""Hosts for the shows' tests, written straight to the database."""

from __future__ import annotations

from app.db import SessionFactory
from app.models import Host, HostRole


def add_host(sessions: SessionFactory, name: str) -> int:
    """A host called `name` (its display name; the username in lower case): its id."""
    with sessions.begin() as db:
        host = Host(username=name.lower(), password_hash="x", role=HostRole.host,
                    display_name=name)  # fmt: skip
        db.add(host)
        db.flush()
        return host.id
