"""At start-up: the first admin from the one-time setup value, and a hint when there is
no host at all. The password is never logged."""

from __future__ import annotations

import logging

from app.accounts.hosts import count_hosts, create_setup_admin
from app.db import SessionFactory

log = logging.getLogger(__name__)


def prepare_hosts(sessions: SessionFactory, setup_admin: str) -> None:
    with sessions() as db:
        if setup_admin:
            admin = create_setup_admin(db, setup_admin)
            db.commit()
            if admin is not None:
                log.info("created the first admin %r from RADIO_SETUP_ADMIN", admin.username)
            else:
                log.info("RADIO_SETUP_ADMIN ignored: hosts exist already (you may remove it)")
        elif count_hosts(db) == 0:
            log.warning(
                "no host accounts yet: create an admin with "
                "`radio hosts add NAME --role admin` or RADIO_SETUP_ADMIN=name:password"
            )
