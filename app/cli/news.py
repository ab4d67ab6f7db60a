"""`radio news`: write, edit, publish, schedule and retract articles; `radio comments`:
moderate listeners' comments. All through the station's HTTP API.

A body comes from `--body-file FILE` (`-` for standard input); `create` also reads standard
input when it is piped and no file is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.client import ApiError, api, command_group, print_table

STATUSES = ["draft", "scheduled", "published", "retracted"]
COMMENT_STATUSES = ["pending", "approved", "rejected", "all"]
TEXT_FIELDS = ["title", "category", "author", "summary", "slug"]

Actions = argparse._SubParsersAction  # type: ignore[type-arg]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_news(commands)
    _register_comments(commands)


def _register_news(commands: Actions) -> None:
    action = command_group(commands, "news", "news articles: write, publish, schedule, retract")
    listing = action("list", "articles, newest first", _list)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--category")
    listing.add_argument("-q", "--query", help="words in the title, summary or body")
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--limit", type=int, default=50)
    action("show", "an article, its speech and related stories", _show).add_argument("id", type=int)
    create = action("create", "a new draft article", _create)
    _add_fields(create, title_required=True)
    edit = action("edit", "change an article's fields", _edit)
    edit.add_argument("id", type=int)
    _add_fields(edit, title_required=False)
    publish = action("publish", "publish an article now (or with a past date)", _publish)
    publish.add_argument("id", type=int)
    publish.add_argument("--at", help="a past publication time, ISO 8601 with a time zone")
    schedule = action("schedule", "publish an article automatically later", _schedule)
    schedule.add_argument("id", type=int)
    schedule.add_argument("at", help="ISO 8601 with a time zone, e.g. 2026-01-01T09:00:00Z")
    action("retract", "take a published article down", _retract).add_argument("id", type=int)
    action("delete", "delete an article for good", _delete).add_argument("id", type=int)
    related = action("related", "set an article's related stories, in order", _related)
    related.add_argument("id", type=int)
    related.add_argument("related_ids", type=int, nargs="*", metavar="RELATED_ID",
                         help="none: remove the explicit links")  # fmt: skip
    action("play-next", "put a published story on air next", _play_next).add_argument(
        "id", type=int
    )


def _register_comments(commands: Actions) -> None:
    action = command_group(commands, "comments", "moderate listeners' comments")
    listing = action("list", "comments waiting for a host (or others)", _comments)
    listing.add_argument("--status", choices=COMMENT_STATUSES, default="pending")
    listing.add_argument("--article", type=int, help="only this article's comments")
    for name, help in [("approve", "show a comment on the article page"),
                       ("reject", "keep a comment off the page"),
                       ("delete", "delete a comment for good")]:  # fmt: skip
        action(name, help, _moderate).add_argument("id", type=int)


def _add_fields(parser: argparse.ArgumentParser, title_required: bool) -> None:
    parser.add_argument("--title", required=title_required)
    parser.add_argument("--category")
    parser.add_argument("--author")
    parser.add_argument("--summary")
    parser.add_argument("--slug", help="the page's URL name (default: from the title)")
    parser.add_argument("--tags", help="comma-separated; an empty string clears them")
    parser.add_argument("--source", action="append", dest="sources", metavar="LABEL=URL",
                        help="repeatable; replaces the sources (a bare URL takes its host "
                             "name as the label)")  # fmt: skip
    parser.add_argument("--body-file", help="Markdown or plain text; - for standard input")


# --- Building requests ----------------------------------------------------------------------


def parse_source(value: str) -> dict[str, str]:
    """LABEL=URL, or a bare URL. The label ends at the first '=' before the URL's scheme."""
    label, sep, url = value.partition("=")
    if not sep or "://" in label or ":" in label:
        return {"label": "", "url": value.strip()}
    return {"label": label.strip(), "url": url.strip()}


def _read_body(args: argparse.Namespace, piped_stdin: bool) -> str | None:
    if args.body_file == "-" or (args.body_file is None and piped_stdin):
        return sys.stdin.read()
    if args.body_file is None:
        return None
    try:
        return Path(args.body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ApiError(f"cannot read {args.body_file}: {error}") from error


def _stdin_is_piped() -> bool:
    try:
        return not sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _fields(args: argparse.Namespace, piped_stdin: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        name: getattr(args, name) for name in TEXT_FIELDS if getattr(args, name) is not None
    }
    if args.tags is not None:
        body["tags"] = [tag.strip() for tag in args.tags.split(",") if tag.strip()]
    if args.sources is not None:
        body["sources"] = [parse_source(value) for value in args.sources]
    text = _read_body(args, piped_stdin)
    if text is not None:
        body["body"] = text
    return body


# --- Printing -------------------------------------------------------------------------------


def _speech_line(speech: dict[str, Any]) -> str:
    if speech["status"] is None:
        return "not rendered"
    line = str(speech["status"])
    if speech.get("duration"):
        line += f", {speech['duration']:.1f} s"
    if speech.get("error"):
        line += f": {speech['error']}"
    return line


def _print_article(article: dict[str, Any]) -> None:
    for key in ["id", "slug", "title", "status", "publish_at", "category", "author", "summary",
                "version"]:  # fmt: skip
        print(f"{key}: {article[key]}")
    print(f"tags: {', '.join(article['tags'])}")
    for source in article["sources"]:
        print(f"source: {source['label']} <{source['url']}>")
    print(f"speech: {_speech_line(article['speech'])}")
    for related in article.get("related", []):
        print(f"related: {related['id']} {related['title']}")
    print()
    print(article["body"])


# --- Commands -------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    params = {"offset": args.offset, "limit": args.limit}
    params |= {key: value for key, value in
               [("status", args.status), ("category", args.category), ("q", args.query)]
               if value}  # fmt: skip
    page = api(args, "GET", "/api/articles", params=params)
    rows = [a | {"speech": _speech_line(a["speech"]).split(":")[0]} for a in page["items"]]
    print_table(rows, ["id", "status", "publish_at", "category", "title", "speech"])
    shown = len(rows)
    if page["total"] > shown:
        print(f"({shown} of {page['total']}; --offset for more)")
    return 0


def _show(args: argparse.Namespace) -> int:
    _print_article(api(args, "GET", f"/api/articles/{args.id}"))
    return 0


def _create(args: argparse.Namespace) -> int:
    body = _fields(args, _stdin_is_piped())
    _print_article(api(args, "POST", "/api/articles", json=body))
    return 0


def _edit(args: argparse.Namespace) -> int:
    body = _fields(args, piped_stdin=False)
    if not body:
        raise ApiError("nothing to change: give at least one option")
    _print_article(api(args, "PATCH", f"/api/articles/{args.id}", json=body))
    return 0


def _publish(args: argparse.Namespace) -> int:
    body = {"at": args.at} if args.at else None
    _print_article(api(args, "POST", f"/api/articles/{args.id}/publish", json=body))
    return 0


def _schedule(args: argparse.Namespace) -> int:
    path = f"/api/articles/{args.id}/schedule"
    _print_article(api(args, "POST", path, json={"at": args.at}))
    return 0


def _retract(args: argparse.Namespace) -> int:
    _print_article(api(args, "POST", f"/api/articles/{args.id}/retract"))
    return 0


def _delete(args: argparse.Namespace) -> int:
    api(args, "DELETE", f"/api/articles/{args.id}")
    print(f"deleted article {args.id}")
    return 0


def _related(args: argparse.Namespace) -> int:
    path = f"/api/articles/{args.id}/related"
    _print_article(api(args, "PUT", path, json=args.related_ids))
    return 0


def _play_next(args: argparse.Namespace) -> int:
    api(args, "POST", f"/api/articles/{args.id}/play-next")
    print(f"article {args.id} plays next")
    return 0


def _comments(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {} if args.status == "all" else {"status": args.status}
    if args.article is not None:
        params["article_id"] = args.article
    rows = api(args, "GET", "/api/comments", params=params)
    for row in rows:
        row["body"] = json.dumps(row["body"][:60], ensure_ascii=False)
    print_table(rows, ["id", "status", "article_id", "name", "email", "created_at", "body"])
    return 0


def _moderate(args: argparse.Namespace) -> int:
    if args.action == "delete":
        api(args, "DELETE", f"/api/comments/{args.id}")
        print(f"deleted comment {args.id}")
        return 0
    comment = api(args, "POST", f"/api/comments/{args.id}/{args.action}")
    print(f"comment {comment['id']}: {comment['status']}")
    return 0
