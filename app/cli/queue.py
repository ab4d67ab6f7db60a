"""`radio queue`: see and change what plays next on a running station."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from app.cli.client import add_connection_arguments, api, print_table


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("queue", help="the upcoming items: list, skip, add, move, remove")
    actions = parser.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help)
        add_connection_arguments(sub)
        return sub

    action("list", "the upcoming items and when each is expected to start").set_defaults(run=_list)
    action("skip", "skip what is on air").set_defaults(run=_skip)
    add = action("add", "put a track, a playlist, a story or a bulletin in the queue")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--track", type=int, help="track id")
    what.add_argument("--playlist", type=int, help="playlist id")
    what.add_argument("--article", type=int, help="a published story, read on its own")
    what.add_argument("--bulletin", action="store_true", help="a news bulletin")
    where = add.add_mutually_exclusive_group()
    where.add_argument("--next", action="store_true", help="play next")
    where.add_argument("--position", type=int, help="0 is next")
    add.set_defaults(run=_add)
    move = action("move", "move an entry to a position (0 is next)")
    move.add_argument("entry", type=int)
    move.add_argument("position", type=int)
    move.set_defaults(run=_move)
    remove = action("remove", "take an entry out of the queue")
    remove.add_argument("entry", type=int)
    remove.set_defaults(run=_remove)
    action("clear", "empty the queue (the scheduler plans it anew)").set_defaults(run=_clear)
    preview = action("preview", "the coming programme, simulated")
    preview.add_argument("--hours", type=float, default=24)
    preview.set_defaults(run=_preview)


def _show(view: dict[str, Any]) -> int:
    rows = [{**item, "starts": _clock(item["expected_start"])} for item in view["items"]]
    print_table(rows, ["id", "position", "starts", "artist", "title", "reason"])
    return 0


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%a %H:%M:%S")


def _list(args: argparse.Namespace) -> int:
    return _show(api(args, "GET", "/api/queue"))


def _skip(args: argparse.Namespace) -> int:
    api(args, "POST", "/api/queue/skip")
    print("skipping")
    return 0


def _add(args: argparse.Namespace) -> int:
    position: int | str = (
        "next" if args.next else args.position if args.position is not None else "end"
    )
    body = {"track_id": args.track, "playlist_id": args.playlist, "article_id": args.article,
            "bulletin": args.bulletin, "position": position}  # fmt: skip
    return _show(api(args, "POST", "/api/queue", json=body))


def _move(args: argparse.Namespace) -> int:
    return _show(
        api(args, "POST", f"/api/queue/{args.entry}/move", json={"position": args.position})
    )


def _remove(args: argparse.Namespace) -> int:
    return _show(api(args, "DELETE", f"/api/queue/{args.entry}"))


def _clear(args: argparse.Namespace) -> int:
    return _show(api(args, "DELETE", "/api/queue"))


def _preview(args: argparse.Namespace) -> int:
    return _show(api(args, "GET", "/api/schedule/preview", params={"hours": args.hours}))
