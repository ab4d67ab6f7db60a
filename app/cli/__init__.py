"""The `radio` command: run the station and manage it from a shell.

Each module below adds its subcommands; host actions on a running station go through its
HTTP API (see app/cli/client.py), so the CLI can do nothing the API cannot.
"""

from __future__ import annotations

import argparse
import logging
import sys

from app.cli import backup, feeds, hosts, library, news, playlists, queue, shows, station
from app.logs import configure as configure_logging
from app.logs import log_format_from_env

COMMAND_MODULES = [station, queue, playlists, library, hosts, news, feeds, shows, backup]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radio", description="Run and manage the station.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    args = parser.parse_args(argv)
    configure_logging(log_format_from_env())  # `radio serve` again once its settings are read
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
    # Commands that open the database migrate it first: Alembic's INFO lines (its plugins,
    # "Context impl SQLiteImpl.", each migration run) are not what anyone ran the command for.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
