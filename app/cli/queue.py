"""`radio queue`: see and change what plays next on a running station."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from app.cli.client import api, command_group, print_table


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    action = command_group(commands, "queue", "the upcoming items: list, skip, add, move, remove")
    action("list", "the upcoming items and when each is expected to start", _list)
    action("skip", "skip what is on air", _skip)
    add = action("add", "put a track, a playlist, a story or a bulletin in the queue", _add)
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--track", type=int, help="track id")
    what.add_argument("--playlist", type=int, help="playlist id")
    what.add_argument("--article", type=int, help="a published story, read on its own")
    what.add_argument("--bulletin", action="store_true", help="a news bulletin")
    where = add.add_mutually_exclusive_group()
    where.add_argument("--next", action="store_true", help="play next")
    where.add_argument("--position", type=int, help="0 is next")
    move = action("move", "move an entry to a position (0 is next)", _move)
    move.add_argument("entry", type=int)
    move.add_argument("position", type=int)
    remove = action("remove", "take an entry out of the queue", _remove)
    remove.add_argument("entry", type=int)
    action("clear", "empty the queue (the scheduler plans it anew)", _clear)
    preview = action("preview", "the coming programme, simulated", _preview)
    preview.add_argument("--hours", type=float, default=24)


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
    view = api(args, "POST", "/api/queue", json=body)
    if view.get("warning"):  # queued all the same: a host may mean it
        print(f"Warning: {view['warning']}", file=sys.stderr)
    return _show(view)


def _move(args: argparse.Namespace) -> int:
    return _show(
        api(args, "POST", f"/api/queue/{args.entry}/move", json={"position": args.position})
    )


def _remove(args: argparse.Namespace) -> int:
    return _show(api(args, "DELETE", f"/api/queue/{args.entry}"))


def _clear(args: argparse.Namespace) -> int:
    return _show(api(args, "DELETE", "/api/queue"))


def _preview(args: argparse.Namespace) -> int:
    forecast = api(args, "GET", "/api/schedule/preview", params={"hours": args.hours})
    _show(forecast)
    if forecast["cut_short"]:
        print(f"(the forecast stops after {len(forecast['items'])} items, "
              f"before the {args.hours:g} hours asked for)")  # fmt: skip
    return 0
