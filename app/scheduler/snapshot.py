"""Loads the library and the playlists from the database into a Scheduler.

Bulk column queries only (no ORM objects per track), so 10 000 tracks load in a few tens of
milliseconds. With no enabled playlists at all, implicit ones keep a fresh station playing
as before: a shuffle of every ready music track and, when there are ready jingles and
`jingle_every` > 0, a jingle after every `jingle_every` songs. With playlists but none
for general rotation, the implicit rotation still fills the time between their items.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.models import (
    Playlist,
    PlaylistEntry,
    PlaylistOrder,
    PlaylistRule,
    Track,
    TrackKind,
    TrackStatus,
)
from app.scheduler.dayparts import Daypart, parse_dayparts
from app.scheduler.engine import Scheduler
from app.scheduler.rules import Rule
from app.scheduler.types import PlaylistInfo, Rules, TrackInfo

log = logging.getLogger(__name__)

IMPLICIT_ROTATION_ID = -1
IMPLICIT_JINGLES_ID = -2


def load_scheduler(
    sessions: SessionFactory, settings: Settings, seed: int = 0, extra_rules: Sequence[Rule] = ()
) -> Scheduler:
    with sessions() as session:
        rows = session.execute(
            select(
                Track.id, Track.kind, Track.artist, Track.title,
                Track.duration, Track.cue_in, Track.cue_out,
            ).where(Track.status == TrackStatus.ready,
                    Track.kind != TrackKind.recording)  # a show as it aired: never rotation
        ).all()  # fmt: skip
        playlists = session.scalars(
            select(Playlist).where(Playlist.enabled).order_by(Playlist.id)
        ).all()
        entries = session.execute(
            select(PlaylistEntry.playlist_id, PlaylistEntry.track_id)
            .join(Playlist, Playlist.id == PlaylistEntry.playlist_id)
            .where(Playlist.enabled)
            .order_by(PlaylistEntry.playlist_id, PlaylistEntry.position, PlaylistEntry.id)
        ).all()
        infos = [_playlist_info(playlist) for playlist in playlists]

    tracks: dict[int, TrackInfo] = {}
    music: list[int] = []
    jingles: list[int] = []
    for id_, kind, artist, title, duration, cue_in, cue_out in rows:
        end = cue_out if cue_out is not None else duration
        on_air = max((end or 0.0) - (cue_in or 0.0), 0.0)
        is_jingle = kind == TrackKind.jingle
        tracks[id_] = TrackInfo(id_, artist or "", title or "", on_air, is_jingle)
        (jingles if is_jingle else music).append(id_)

    by_playlist: dict[int, list[int]] = defaultdict(list)
    for playlist_id, track_id in entries:
        if track_id in tracks:  # not ready (new, unplayable) tracks never air
            by_playlist[playlist_id].append(track_id)
    infos = [_with_tracks(info, by_playlist.get(info.id, [])) for info in infos]
    infos += _implicit(infos, music, jingles, settings)
    return Scheduler(tracks, infos, rules_from(settings), seed=seed, extra_rules=extra_rules)


def rules_from(settings: Settings) -> Rules:
    return Rules(
        timezone=ZoneInfo(settings.timezone),
        track_separation=timedelta(hours=settings.track_separation_hours),
        artist_separation=timedelta(minutes=settings.artist_separation_minutes),
    )


def _playlist_info(playlist: Playlist) -> PlaylistInfo:
    return PlaylistInfo(
        id=playlist.id,
        name=playlist.name,
        rule=PlaylistRule(playlist.rule),
        order=PlaylistOrder(playlist.order),
        weight=playlist.weight,
        every=playlist.every,
        minute=playlist.minute,
        window_minutes=playlist.window_minutes,
        dayparts=_dayparts(playlist),
        is_jingle=playlist.is_jingle,
    )


def _dayparts(playlist: Playlist) -> tuple[Daypart, ...]:
    try:
        return parse_dayparts(playlist.schedule)
    except ValueError as error:
        # The API validates schedules; a bad one written around it must not stop the music.
        log.warning("playlist %r: schedule ignored: %s", playlist.name, error)
        return ()


def _with_tracks(info: PlaylistInfo, track_ids: list[int]) -> PlaylistInfo:
    return dataclasses.replace(info, track_ids=tuple(track_ids))


def _implicit(
    infos: list[PlaylistInfo], music: list[int], jingles: list[int], settings: Settings
) -> list[PlaylistInfo]:
    implicit: list[PlaylistInfo] = []
    has_rotation = any(i.rule is PlaylistRule.rotation and i.track_ids for i in infos)
    if not has_rotation and music:
        implicit.append(
            PlaylistInfo(
                id=IMPLICIT_ROTATION_ID,
                name="All music",
                rule=PlaylistRule.rotation,
                order=PlaylistOrder.shuffle,
                track_ids=tuple(music),
            )
        )
    if not infos and jingles and settings.jingle_every > 0:
        implicit.append(
            PlaylistInfo(
                id=IMPLICIT_JINGLES_ID,
                name="Jingles",
                rule=PlaylistRule.every_songs,
                order=PlaylistOrder.shuffle,
                every=settings.jingle_every,
                track_ids=tuple(jingles),
                is_jingle=True,
            )
        )
    return implicit
