"""`radio playlists`: list, show, create, update and delete playlists, set their tracks,
import and export playlist files, sync playlists/. All through the station's HTTP API, except
`sync --offline`, which works on the database while the station is down."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app import files
from app.cli.client import ApiError, api, command_group, print_table

RULES = ["rotation", "every_songs", "every_minutes", "hourly"]
ORDERS = ["shuffle", "random", "sequential"]
FORMATS = ["m3u8", "pls", "m3u"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    action = command_group(commands, "playlists", "playlists: edit, import, export, sync")

    action("list", "all playlists", _list)
    action("show", "a playlist and its tracks", _show).add_argument("id", type=int)
    create = action("create", "a new playlist", _create)
    create.add_argument("name")
    _add_fields(create)
    create.add_argument("--tracks", type=int, nargs="+", default=[], metavar="TRACK_ID")
    update = action("update", "change a playlist's fields", _update)
    update.add_argument("id", type=int)
    update.add_argument("--name")
    _add_fields(update)
    delete = action("delete", "delete a playlist (and its file in playlists/)", _delete)
    delete.add_argument("id", type=int)
    add = action("add-tracks", "append tracks to a playlist", _add_tracks)
    add.add_argument("id", type=int)
    add.add_argument("track_ids", type=int, nargs="+", metavar="TRACK_ID")
    put = action("set-tracks", "replace a playlist's tracks (in this order)", _set_tracks)
    put.add_argument("id", type=int)
    put.add_argument("track_ids", type=int, nargs="*", metavar="TRACK_ID")
    for sub in (create, update, delete, add, put):
        sub.add_argument(
            "--write-back",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="also write playlists/ (default: when the playlist has a file)",
        )
    imp = action("import", "make a playlist from an M3U, M3U8 or PLS file", _import)
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="default: the file's name without extension")
    imp.add_argument("--replace", action="store_true", help="refill the playlist if it exists")
    export = action("export", "a playlist as an M3U8 or PLS file", _export)
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=FORMATS, default="m3u8")
    export.add_argument("-o", "--output", type=Path, help="default: standard output")
    sync = action("sync", "import every playlist file in playlists/", _sync)
    sync.add_argument(
        "--offline", action="store_true", help="work on the database, with the station stopped"
    )


def _add_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--description")
    parser.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--rule", choices=RULES)
    parser.add_argument("--order", choices=ORDERS)
    parser.add_argument("--weight", type=int, help="1-25, against other rotation playlists")
    parser.add_argument("--every", type=int, help="songs or minutes, for the every_* rules")
    parser.add_argument("--minute", type=int, help="minute of the hour, for hourly")
    parser.add_argument("--window", type=int, dest="window_minutes", help="minutes, for hourly")
    parser.add_argument("--schedule", type=json.loads, metavar="JSON",
                        help='dayparts: [{"days": [0,1,2,3,4], "start": "06:00", '
                             '"end": "10:00"}]; [] for always')  # fmt: skip
    parser.add_argument("--jingle", dest="is_jingle", action=argparse.BooleanOptionalAction,
                        default=None, help="items keep the now-playing title")  # fmt: skip


FIELDS = ["name", "description", "enabled", "rule", "order", "weight", "every", "minute",
          "window_minutes", "schedule", "is_jingle"]  # fmt: skip


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in FIELDS if getattr(args, key, None) is not None}


def _params(args: argparse.Namespace) -> dict[str, str]:
    if args.write_back is None:
        return {}
    return {"write_back": "true" if args.write_back else "false"}


def _list(args: argparse.Namespace) -> int:
    rows = api(args, "GET", "/api/playlists")
    print_table(rows, ["id", "name", "rule", "order", "weight", "entry_count", "enabled",
                       "source_file"])  # fmt: skip
    return 0


def _print_playlist(playlist: dict[str, Any]) -> None:
    for key in ["id", *FIELDS, "source_file"]:
        value = playlist[key]
        print(f"{key}: {json.dumps(value) if isinstance(value, list) else value}")
    print()
    print_table(playlist["entries"], ["position", "track_id", "artist", "title", "path"])


def _show(args: argparse.Namespace) -> int:
    _print_playlist(api(args, "GET", f"/api/playlists/{args.id}"))
    return 0


def _create(args: argparse.Namespace) -> int:
    body = _fields(args) | {"track_ids": args.tracks}
    _print_playlist(api(args, "POST", "/api/playlists", json=body, params=_params(args)))
    return 0


def _update(args: argparse.Namespace) -> int:
    body = _fields(args)
    if not body:
        raise ApiError("nothing to change: give at least one option")
    path = f"/api/playlists/{args.id}"
    _print_playlist(api(args, "PATCH", path, json=body, params=_params(args)))
    return 0


def _delete(args: argparse.Namespace) -> int:
    api(args, "DELETE", f"/api/playlists/{args.id}", params=_params(args))
    print(f"deleted playlist {args.id}")
    return 0


def _add_tracks(args: argparse.Namespace) -> int:
    path = f"/api/playlists/{args.id}/entries"
    body = {"track_ids": args.track_ids}
    _print_playlist(api(args, "POST", path, json=body, params=_params(args)))
    return 0


def _set_tracks(args: argparse.Namespace) -> int:
    path = f"/api/playlists/{args.id}/entries"
    body = {"track_ids": args.track_ids}
    _print_playlist(api(args, "PUT", path, json=body, params=_params(args)))
    return 0


def _import(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise ApiError(f"cannot read {args.file}: {error}") from error
    params: dict[str, str] = {"replace": "true"} if args.replace else {}
    if args.name:
        params["name"] = args.name
    files = {"file": (args.file.name, data, "application/octet-stream")}
    result = api(args, "POST", "/api/playlists/import", files=files, params=params)
    _print_playlist(result["playlist"])
    _print_problems(args.file.name, result["problems"])
    return 0


def _print_problems(filename: str, problems: list[dict[str, Any]]) -> None:
    for problem in problems:
        entry = f" {problem['entry']!r}" if problem["entry"] else ""
        print(f"{filename}:{problem['line']}:{entry} {problem['reason']}", file=sys.stderr)


def _export(args: argparse.Namespace) -> int:
    text = api(args, "GET", f"/api/playlists/{args.id}/export", raw=True,
               params={"format": args.format})  # fmt: skip
    if args.output is None:
        sys.stdout.write(text)
    else:
        files.write_text(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _sync(args: argparse.Namespace) -> int:
    report = _sync_offline() if args.offline else api(args, "POST", "/api/playlists/sync")
    for key in ("created", "updated", "unchanged", "missing"):
        if report[key]:
            print(f"{key}: {', '.join(report[key])}")
    for failed in report["failed"]:
        print(f"failed: {failed['file']}: {failed['reason']}", file=sys.stderr)
    for filename, problems in report["problems"].items():
        _print_problems(filename, problems)
    return 1 if report["failed"] else 0


def _sync_offline() -> dict[str, Any]:
    from app.config import Settings
    from app.db import make_engine, make_sessions, upgrade
    from app.scheduler.playlists import sync_playlists

    settings = Settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        upgrade(engine)
        report = sync_playlists(settings, make_sessions(engine))
    finally:
        engine.dispose()
    problems = {
        name: [{"line": p.line, "entry": p.entry, "reason": p.reason} for p in found]
        for name, found in report.problems.items()
    }
    return {"created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "missing": report.missing,
            "failed": [{"file": f, "reason": r} for f, r in report.failed],
            "problems": problems}  # fmt: skip
