"""`radio feeds`: the RSS/Atom feeds the news desk imports stories from, through the
station's HTTP API."""

from __future__ import annotations

import argparse

from app.cli.client import api, command_group, print_table


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    action = command_group(commands, "feeds", "news feeds to import stories from")

    action("list", "the feeds, when each was last fetched and its last error", _list)
    add = action("add", "import stories from an RSS or Atom feed", _add)
    add.add_argument("location", metavar="URL",
                     help="an http(s) URL")  # fmt: skip
    add.add_argument("--publish", action="store_true",
                     help="publish new stories at once (default: drafts)")  # fmt: skip
    add.add_argument("--category", default="News", help="category of its stories")
    add.add_argument("--title", default="", help="default: the feed's own title")
    update = action("update", "pause or resume a feed, or change what its items become",
                    _update)  # fmt: skip
    update.add_argument("id", type=int)
    update.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None,
                        help="fetched on the schedule")  # fmt: skip
    update.add_argument("--publish", action=argparse.BooleanOptionalAction, default=None,
                        help="new stories published at once, else drafts")  # fmt: skip
    update.add_argument("--category")
    update.add_argument("--title")
    remove = action("remove", "stop importing a feed (its stories stay)", _remove)
    remove.add_argument("id", type=int)
    fetch = action("fetch", "fetch a feed now and import its new stories", _fetch)
    fetch.add_argument("id", type=int)


def _list(args: argparse.Namespace) -> int:
    feeds = api(args, "GET", "/api/feeds")
    rows = [{**feed, "publish": "yes" if feed["publish"] else "draft",
             "last_fetched_at": feed["last_fetched_at"] or "never",
             "last_error": feed["last_error"] or ""} for feed in feeds]  # fmt: skip
    print_table(rows, ["id", "title", "url", "category", "publish", "last_fetched_at",
                       "last_error"])  # fmt: skip
    return 0


def _add(args: argparse.Namespace) -> int:
    url = args.location  # (args.url is the station's)
    feed = api(args, "POST", "/api/feeds", json={"url": url, "publish": args.publish,
                                                 "category": args.category,
                                                 "title": args.title})  # fmt: skip
    print(f"added feed {feed['id']}: {feed['url']}")
    return 0


def _update(args: argparse.Namespace) -> int:
    fields = {name: getattr(args, name) for name in ("enabled", "publish", "category", "title")}
    feed = api(args, "PATCH", f"/api/feeds/{args.id}",
               json={k: v for k, v in fields.items() if v is not None})  # fmt: skip
    state = "enabled" if feed["enabled"] else "paused"
    kind = "published" if feed["publish"] else "drafts"
    print(f"feed {feed['id']}: {state}, new stories as {kind} in {feed['category']}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    api(args, "DELETE", f"/api/feeds/{args.id}")
    print(f"removed feed {args.id}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    report = api(args, "POST", f"/api/feeds/{args.id}/fetch")
    print(f"{report['added']} new, {report['duplicates']} already imported")
    for problem in report["problems"]:
        print(f"left out: {problem}")
    return 0
