"""`radio shows`: shows, their hosts and weekly slots, through the station's HTTP API
(admins add and remove; any host lists)."""

from __future__ import annotations

import argparse
import re

from app.cli.client import api, command_group, print_table

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SLOT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)\s+(\d{2}:\d{2})\s+(\d+)$", re.IGNORECASE)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    action = command_group(commands, "shows", "shows: hosts and weekly slots")

    action("list", "the shows, their hosts and slots", _list)
    add = action("add", "add a show", _add)
    add.add_argument("name")
    add.add_argument("--description", default="")
    add.add_argument("--host", type=int, action="append", default=[], dest="hosts",
                     metavar="HOST_ID", help="a host of the show (repeat for more)")  # fmt: skip
    add.add_argument("--slot", type=_slot, action="append", default=[], dest="slots",
                     metavar='"DAY HH:MM MINUTES"',
                     help='a weekly slot in the station\'s time zone, e.g. "mon 07:00 120" '
                          "(repeat for more)")  # fmt: skip
    add.add_argument("--no-news", action="store_true",
                     help="the hourly news does not interrupt it")  # fmt: skip
    add.add_argument("--record", action="store_true", help="record it when a host is live")
    remove = action("remove", "delete a show and its slots", _remove)
    remove.add_argument("id", type=int)


def _slot(text: str) -> dict[str, object]:
    match = SLOT.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f'not "DAY HH:MM MINUTES" (e.g. "mon 07:00 120"): {text!r}'
        )
    day, start, minutes = match.groups()
    return {"weekday": DAYS.index(day.lower()), "start": start, "minutes": int(minutes)}


def _slots(show: dict[str, object]) -> str:
    slots = show["slots"]
    assert isinstance(slots, list)
    return ", ".join(f"{DAYS[s['weekday']]} {s['start']}-{s['end']}" for s in slots)


def _list(args: argparse.Namespace) -> int:
    shows = api(args, "GET", "/api/shows")
    rows = [{**show, "hosts": ", ".join(h["username"] for h in show["hosts"]),
             "slots": _slots(show), "news": "yes" if show["interrupt_news"] else "no",
             "record": "yes" if show["record"] else "no"} for show in shows]  # fmt: skip
    print_table(rows, ["id", "name", "hosts", "slots", "news", "record"])
    return 0


def _add(args: argparse.Namespace) -> int:
    show = api(args, "POST", "/api/shows", json={
        "name": args.name, "description": args.description, "host_ids": args.hosts,
        "slots": args.slots, "interrupt_news": not args.no_news, "record": args.record,
    })  # fmt: skip
    print(f"added show {show['id']}: {show['name']} ({_slots(show) or 'no slots'})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    api(args, "DELETE", f"/api/shows/{args.id}")
    print(f"removed show {args.id}")
    return 0
