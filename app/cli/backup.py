"""`radio backup PATH` and `radio restore PATH`: the database and the state folder (and, when
asked, media/ and playlists/) in one archive, and back. See app/backup.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup", help="write the database and the state folder to one archive (safe while "
                       "the station runs)")  # fmt: skip
    backup.add_argument("path", type=Path, help="the archive to write (a tar file)")
    backup.add_argument("--media", action="store_true",
                        help="also media/ (music, uploads, speech) and playlists/")  # fmt: skip
    backup.set_defaults(run=_backup)
    restore = commands.add_parser(
        "restore", help="put the state of an archive back (the station must be stopped)"
    )
    restore.add_argument("path", type=Path, help="an archive written by `radio backup`")
    restore.set_defaults(run=_restore)


def _backup(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.backup import BackupError, backup

    settings = Settings()
    try:
        with tqdm(unit="B", unit_scale=True, desc="backup", file=sys.stderr) as bar:
            manifest = backup(settings, args.path, media=args.media, progress=bar.update)
    except (BackupError, OSError) as error:
        print(f"radio backup: {error}", file=sys.stderr)
        return 1
    size = sum(entry["size"] for entry in manifest["files"])
    print(f"wrote {args.path}: {len(manifest['files'])} files, {size} bytes "
          f"(database at migration {manifest['migration']})", file=sys.stderr)  # fmt: skip
    return 0


def _restore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.backup import BackupError, database_path, read_manifest, restore
    from app.statelock import StateInUse, StateLock

    settings = Settings()
    try:
        database_path(settings)  # a SQLite database, or a clear refusal
        manifest = read_manifest(args.path)
        lock = StateLock.acquire(settings.state_dir, settings.sqlalchemy_url)
    except (BackupError, StateInUse) as error:
        print(f"radio restore: {error}", file=sys.stderr)
        return 1
    with lock:
        lock.record(restoring=str(args.path))
        total = sum(entry["size"] for entry in manifest["files"])
        try:
            with tqdm(total=total, unit="B", unit_scale=True, desc="restore",
                      file=sys.stderr) as bar:  # fmt: skip
                restore(settings, args.path, progress=bar.update)
        except BackupError as error:
            print(f"radio restore: {error}; nothing was changed", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"radio restore: {error}", file=sys.stderr)
            return 1
    print(f"restored {args.path} (backed up {manifest['created_at']})", file=sys.stderr)
    return 0
