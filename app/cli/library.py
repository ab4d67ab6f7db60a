"""`radio tracks ...`: the music library of a running station, through its HTTP API."""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.client import ApiError, add_connection_arguments, api, print_table

if TYPE_CHECKING:  # imported where used: `radio serve` imports this module too
    from tqdm import tqdm

COLUMNS = ["id", "kind", "status", "artist", "title", "album", "duration"]
POLL_SECONDS = 0.25
JOB_TIMEOUT_SECONDS = 900.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tracks = commands.add_parser("tracks", help="list, search, edit, upload and delete tracks")
    actions = tracks.add_subparsers(dest="action", required=True)

    listing = _action(actions, "list", "list or search the library", _list)
    listing.add_argument("--search", "-q", help="in artist, title or album, any case")
    listing.add_argument("--artist", help="exactly this artist (any case)")
    listing.add_argument("--album", help="exactly this album (any case)")
    listing.add_argument("--playlist", type=int, help="tracks of this playlist id, in order")
    listing.add_argument("--kind", choices=["music", "jingle", "recording"])
    listing.add_argument("--status", choices=["new", "ready", "unplayable"])
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)

    show = _action(actions, "show", "everything known about one track", _show)
    show.add_argument("id", type=int)

    edit = _action(actions, "edit", "change tags; they are written into the file", _edit)
    edit.add_argument("id", type=int)
    edit.add_argument("--artist")
    edit.add_argument("--title")
    edit.add_argument("--album")

    upload = _action(actions, "upload", "upload audio files and wait for their analysis",
                     _upload)  # fmt: skip
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upload.add_argument("--jingle", action="store_true", help="store as jingles")

    remove = _action(actions, "delete", "delete a track and its file", _delete)
    remove.add_argument("id", type=int)


def _action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    run: Any,
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help)
    add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def _list(args: argparse.Namespace) -> int:
    params = {"q": args.search, "artist": args.artist, "album": args.album,
              "playlist": args.playlist, "kind": args.kind, "status": args.status,
              "limit": args.limit, "offset": args.offset}  # fmt: skip
    page = api(args, "GET", "/api/tracks",
               params={k: v for k, v in params.items() if v is not None})  # fmt: skip
    print_table([_row(track) for track in page["items"]], COLUMNS)
    shown = len(page["items"])
    if shown < page["total"]:
        print(f"({shown} of {page['total']}; use --offset {args.offset + shown} for more)")
    return 0


def _row(track: dict[str, Any]) -> dict[str, Any]:
    duration = track.get("duration")
    return {**track, "duration": f"{duration:.1f}" if duration else ""}


def _show(args: argparse.Namespace) -> int:
    track = api(args, "GET", f"/api/tracks/{args.id}")
    for key, value in track.items():
        print(f"{key:>15}: {'' if value is None else value}")
    return 0


def _edit(args: argparse.Namespace) -> int:
    changes = {key: getattr(args, key) for key in ("artist", "title", "album")}
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise ApiError("nothing to change: give --artist, --title or --album")
    track = api(args, "PATCH", f"/api/tracks/{args.id}", json=changes)
    print_table([_row(track)], COLUMNS)
    return 0


def _delete(args: argparse.Namespace) -> int:
    api(args, "DELETE", f"/api/tracks/{args.id}")
    print(f"deleted track {args.id}")
    return 0


def _upload(args: argparse.Namespace) -> int:
    failures = 0
    for path in args.files:
        try:
            track = _upload_one(args, path)
        except ApiError as error:
            print(f"{path}: {error}", file=sys.stderr)
            failures += 1
            continue
        if track is None or track["status"] != "ready":
            failures += 1
        if track is not None:
            print_table([_row(track)], COLUMNS)
    return 1 if failures else 0


def _upload_one(args: argparse.Namespace, path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        raise ApiError(f"no such file: {path}")
    from tqdm import tqdm

    params = {"kind": "jingle"} if args.jingle else {}
    with (
        tqdm(
            total=path.stat().st_size,
            desc=f"upload {path.name}",
            unit="B",
            unit_scale=True,
            file=sys.stderr,
        ) as bar,  # fmt: skip
        path.open("rb", buffering=0) as raw,
    ):
        reader = _ProgressReader(raw, bar)
        accepted = api(args, "POST", "/api/tracks/upload", params=params,
                       files={"file": (path.name, reader)})  # fmt: skip
    print(f"{path}: stored as {accepted['path']}", file=sys.stderr)
    job = _follow(args, accepted["job"]["id"])
    if job["state"] == "failed":
        print(f"{path}: analysis failed: {job['message']}", file=sys.stderr)
    elif job["message"] != "ready":
        print(f"{path}: {job['message']}", file=sys.stderr)
    if job.get("track_id") is None:
        return None
    return api(args, "GET", f"/api/tracks/{job['track_id']}")  # type: ignore[no-any-return]


def _follow(args: argparse.Namespace, job_id: str) -> dict[str, Any]:
    """Poll the analysis job, showing its progress, until it is done or failed."""
    from tqdm import tqdm

    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    with tqdm(total=100, desc="analysis", unit="%", file=sys.stderr) as bar:
        while True:
            job: dict[str, Any] = api(args, "GET", f"/api/jobs/{job_id}")
            bar.n = round(100 * job["progress"])
            bar.set_postfix_str(job["message"], refresh=False)
            bar.refresh()
            if job["state"] in ("done", "failed"):
                return job
            if time.monotonic() > deadline:
                raise ApiError(f"the analysis job {job_id} is taking too long; check it later")
            time.sleep(POLL_SECONDS)


class _ProgressReader(io.BufferedReader):
    """A file that moves a progress bar as httpx reads it for the request body."""

    def __init__(self, raw: io.RawIOBase, bar: tqdm) -> None:  # type: ignore[type-arg]
        super().__init__(raw)
        self._bar = bar

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._bar.update(len(data))
        return data
