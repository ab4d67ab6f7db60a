"""`radio hosts` and `radio tokens`: host accounts and personal API tokens.

Unlike the other commands these work directly on the database (RADIO_DATABASE_URL or the
SQLite file in RADIO_STATE_DIR), because they are how the first host gets in at all.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.accounts.tokens import LIFETIME_HELP
from app.cli.client import print_table
from app.models import ApiToken, HostRole


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hosts = commands.add_parser("hosts", help="host accounts: add, list, remove, passwd, role")
    actions = hosts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create a host (the password is asked for)")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in HostRole], default=HostRole.host.value)
    _password_source(add)
    add.set_defaults(run=_add)
    actions.add_parser("list", help="every host and their role").set_defaults(run=_list)
    remove = actions.add_parser("remove", help="delete a host, their tokens and sessions")
    remove.add_argument("name")
    remove.set_defaults(run=_remove)
    passwd = actions.add_parser("passwd", help="set a host's password; signs them out")
    passwd.add_argument("name")
    _password_source(passwd)
    passwd.set_defaults(run=_passwd)
    role = actions.add_parser("role", help="make a host an admin or a plain host")
    role.add_argument("name")
    role.add_argument("role", choices=[r.value for r in HostRole])
    role.set_defaults(run=_role)

    tokens = commands.add_parser("tokens", help="personal API tokens: create, list, revoke")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new token for a host, printed once")
    create.add_argument("host")
    create.add_argument("--name", required=True, help="what the token is for, e.g. 'laptop'")
    create.add_argument("--expires-in", metavar="LIFETIME",
                        help=f"stop working after: {LIFETIME_HELP} (default: never)")  # fmt: skip
    create.set_defaults(run=_create_token)
    listing = actions.add_parser("list", help="tokens (never their secrets)")
    listing.add_argument("host", nargs="?", help="only this host's tokens")
    listing.set_defaults(run=_list_tokens)
    revoke = actions.add_parser("revoke", help="stop a token from working, at once")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=_revoke_token)


def _password_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )


@contextmanager
def _database() -> Iterator[Session]:
    from app.config import Settings
    from app.db import make_engine, make_sessions, upgrade

    engine = make_engine(Settings().sqlalchemy_url)
    try:
        upgrade(engine)
        with make_sessions(engine)() as db:
            yield db
    finally:
        engine.dispose()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise SystemExit("the passwords differ; nothing changed")
    return password


def _add(args: argparse.Namespace) -> int:
    from app.accounts import hosts

    password = _read_password(args)
    with _database() as db:
        try:
            host = hosts.create_host(db, args.name, password, HostRole(args.role))
        except ValueError as error:
            raise SystemExit(str(error)) from error
        db.commit()
        print(f"added {host.role.value} {host.username!r}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.accounts import hosts

    with _database() as db:
        rows = [{"id": h.id, "name": h.username, "role": h.role.value,
                 "created": _when(h.created_at)} for h in hosts.list_hosts(db)]  # fmt: skip
    print_table(rows, ["id", "name", "role", "created"])
    return 0


def _remove(args: argparse.Namespace) -> int:
    from app.accounts import hosts

    with _database() as db:
        try:
            hosts.remove_host(db, hosts.get_host(db, args.name))
        except ValueError as error:
            raise SystemExit(str(error)) from error
        db.commit()
    print(f"removed {args.name!r}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from app.accounts import hosts
    from app.accounts.sessions import end_sessions_of

    with _database() as db:
        try:
            host = hosts.get_host(db, args.name)
            hosts.set_password(db, host, _read_password(args))
        except ValueError as error:
            raise SystemExit(str(error)) from error
        end_sessions_of(db, host)
        db.commit()
    print(f"new password set for {args.name!r}; their browser sessions have ended")
    return 0


def _role(args: argparse.Namespace) -> int:
    from app.accounts import hosts

    with _database() as db:
        try:
            hosts.set_role(db, hosts.get_host(db, args.name), HostRole(args.role))
        except ValueError as error:
            raise SystemExit(str(error)) from error
        db.commit()
    print(f"{args.name!r} is now {args.role}")
    return 0


def _create_token(args: argparse.Namespace) -> int:
    from app.accounts import hosts
    from app.accounts.tokens import issue_token, parse_lifetime

    with _database() as db:
        try:
            lifetime = parse_lifetime(args.expires_in) if args.expires_in else None
            issued = issue_token(db, hosts.get_host(db, args.host), args.name, lifetime=lifetime)
        except ValueError as error:
            raise SystemExit(str(error)) from error
        db.commit()
    # The secret alone on stdout, so `TOKEN=$(radio tokens create ...)` works.
    expiry = f"; it expires {_when(issued.token.expires_at)}" if issued.token.expires_at else ""
    print(f"token {issued.token.id} for {args.host!r}{expiry}; it is shown only now:",
          file=sys.stderr)  # fmt: skip
    print(issued.secret)
    return 0


def _list_tokens(args: argparse.Namespace) -> int:
    from app.accounts import hosts
    from app.accounts.tokens import list_tokens

    with _database() as db:
        try:
            only = hosts.get_host(db, args.host) if args.host else None
        except ValueError as error:
            raise SystemExit(str(error)) from error
        names = {h.id: h.username for h in hosts.list_hosts(db)}
        rows = [_token_row(t, names[t.host_id]) for t in list_tokens(db, only)]
    print_table(rows, ["id", "host", "name", "prefix", "created", "last_used", "expires",
                       "revoked"])  # fmt: skip
    return 0


def _token_row(token: ApiToken, host: str) -> dict[str, object]:
    return {"id": token.id, "host": host, "name": token.name, "prefix": token.prefix + "…",
            "created": _when(token.created_at), "last_used": _when(token.last_used_at),
            "expires": _when(token.expires_at), "revoked": _when(token.revoked_at)}  # fmt: skip


def _revoke_token(args: argparse.Namespace) -> int:
    from app.accounts.tokens import revoke_token

    with _database() as db:
        token = db.get(ApiToken, args.id)
        if token is None:
            raise SystemExit(f"no token with id {args.id}")
        revoke_token(db, token, datetime.now(UTC))
        db.commit()
    print(f"revoked token {args.id}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"
