"""Talking to a running station's HTTP API from the CLI, as a host with a personal token.

The station's URL comes from --url or RADIO_URL (default http://127.0.0.1:8000), the token
from --token or RADIO_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(SystemExit):
    """Ends the command with the API's own message and a non-zero exit status."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("RADIO_URL", DEFAULT_URL),
                        help="the station (default: RADIO_URL or %(default)s)")  # fmt: skip
    parser.add_argument("--token", default=os.environ.get("RADIO_TOKEN", ""),
                        help="a personal API token (default: RADIO_TOKEN)")  # fmt: skip


def api(args: argparse.Namespace, method: str, path: str, *, raw: bool = False,
        **kwargs: Any) -> Any:  # fmt: skip
    """Call the API; print the error and exit 1 when it refuses. `raw`: the body as text
    (a file to save), else the decoded JSON."""
    import httpx  # here: `radio serve` imports this module but never calls the API

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, headers=headers,
                                 timeout=60, **kwargs)  # fmt: skip
    except httpx.TransportError as error:
        raise ApiError(f"cannot reach the station at {args.url}: {error}") from error
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ApiError(f"{response.status_code}: {detail}")
    if raw:
        return response.text
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table, readable in a terminal and easy to grep."""
    widths = {c: max([len(c)] + [len(str(row.get(c, ""))) for row in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))
    sys.stdout.flush()


Run = Callable[[argparse.Namespace], int]
Commands = argparse._SubParsersAction  # type: ignore[type-arg]


def command_group(commands: Commands, name: str, help: str
                  ) -> Callable[[str, str, Run], argparse.ArgumentParser]:  # fmt: skip
    """Start `radio NAME ACTION ...`; returns a function that adds one ACTION whose `run`
    talks to the station's API (so each action takes --url and --token)."""
    group = commands.add_parser(name, help=help)
    actions = group.add_subparsers(dest="action", required=True)

    def action(action_name: str, action_help: str, run: Run) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            action_name, help=action_help, description=action_help
        )
        add_connection_arguments(sub)
        sub.set_defaults(run=run)
        return sub

    return action
