"""Item 8 of issue 11: the same song aired three times in a row (a fresh upload aired on its
own, a host's "play next" replayed it, then a one-track "every 3 songs" playlist queued it
again). Separation holds for every automatic pick; a host's own pick is warned about."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import Settings
from app.db import SessionFactory
from app.models import Playlist, PlaylistOrder, PlaylistRule
from app.scheduler.engine import Scheduler, SchedulerState
from app.scheduler.planner import Planner
from app.scheduler.types import PlaylistInfo, Rules, TrackInfo
from tests.scheduler.test_planner import add_playlist, add_track

START = datetime(2026, 3, 2, 10, 37, tzinfo=UTC)
TRACK_GAP = timedelta(hours=3)


class OnAir:
    """The playout on a fake clock: takes item after item, each when the one before ends."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.end = START
        planner._now = lambda: self.end  # type: ignore[method-assign]
        planner.on_air_until = lambda: self.end
        self.aired: list[tuple[datetime, int | None, str]] = []  # start, track, reason

    def play(self, count: int = 1, until: Callable[[int | None], bool] | None = None) -> None:
        for _ in range(count):
            upcoming = self.planner.upcoming(limit=1)
            item = self.planner.next_item()
            assert item is not None
            self.aired.append((self.end, item.track_id, upcoming[0].reason))
            self.end += timedelta(seconds=item.duration or 0)
            if until is not None and until(item.track_id):
                return

    def plays_of(self, track_id: int) -> list[tuple[datetime, str]]:
        return [(at, reason) for at, t, reason in self.aired if t == track_id]


def station(tmp_path: Path, sessions: SessionFactory) -> tuple[OnAir, list[int]]:
    # Enough music for 3 hours without a repeat: separation can hold.
    songs = [add_track(sessions, f"Song {i}", 3.5, artist=f"Artist {i}") for i in range(60)]
    settings = Settings(media_dir=tmp_path, state_dir=tmp_path, crossfade_seconds=0,
                        jingle_every=0, bulletin_minute=-1, track_separation_hours=3,
                        artist_separation_minutes=30)  # fmt: skip
    return OnAir(Planner(sessions, settings)), songs


def test_a_fresh_upload_a_play_next_and_a_one_track_interval_playlist_never_air_it_thrice(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    on_air, _ = station(tmp_path, sessions)
    on_air.play(3)
    fresh = add_track(sessions, "Fresh Upload", 3, artist="New Band")
    on_air.planner.library_changed()  # what the upload route does
    on_air.play(200, until=lambda track: track == fresh)
    [(aired_alone, reason)] = on_air.plays_of(fresh)
    assert reason == "rotation"
    warning = on_air.planner.add_track(fresh, 0)  # the host's "play next"
    assert warning is not None
    assert "Fresh Upload" in warning
    assert "3 h" in warning
    on_air.play(1)
    assert on_air.aired[-1][1:] == (fresh, "host")
    host_play = on_air.aired[-1][0]
    add_playlist(sessions, "Fresh every 3 songs", [fresh], rule=PlaylistRule.every_songs,
                 every=3)  # fmt: skip
    on_air.planner.library_changed()  # the playlist routes say so as well
    on_air.play(80)  # about 4.5 hours

    automatic = [(at, why) for at, why in on_air.plays_of(fresh) if why != "host"]
    assert automatic[0] == (aired_alone, "rotation")
    again = automatic[1:]
    assert again, "the interval playlist never played its track once separation allowed"
    assert all(at - host_play >= TRACK_GAP for at, _ in again), again
    assert again[0][1] == "interval"  # it waited for separation, then fired
    pairs = zip(on_air.aired, on_air.aired[1:], strict=False)
    assert not any(a[1] == b[1] and b[2] != "host" for a, b in pairs)


def test_a_host_pick_outside_the_window_gets_no_warning(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    on_air, songs = station(tmp_path, sessions)
    on_air.play(2)
    played = {t for _, t, _ in on_air.aired}
    never = next(s for s in songs if s not in played)
    assert on_air.planner.add_track(never, 0) is None
    on_air.play(1)
    on_air.end += TRACK_GAP  # the station was off the air for a while
    warning = on_air.planner.add_track(never, None)
    assert warning is None


def tracks(count: int, artist: str = "") -> dict[int, TrackInfo]:
    return {
        i: TrackInfo(i, artist or f"Artist {i}", f"Song {i}", 200.0) for i in range(1, count + 1)
    }


def scheduler(library: dict[int, TrackInfo], *playlists: PlaylistInfo) -> Scheduler:
    rules = Rules(UTC, track_separation=TRACK_GAP, artist_separation=timedelta(minutes=30))
    return Scheduler(library, playlists, rules)


def test_rotation_looks_past_its_sample_before_breaking_separation() -> None:
    """A big playlist whose next candidates all played recently: another track plays, not
    the least recently played of the sample."""
    library = tracks(200)
    rotation = PlaylistInfo(1, "All", PlaylistRule.rotation, PlaylistOrder.sequential,
                            track_ids=tuple(library))  # fmt: skip
    engine = scheduler(library, rotation)
    state = SchedulerState()
    for track in range(1, 41):  # the sequential window starts at track 1
        engine.record(START - timedelta(minutes=track), track, state)
    pick = engine.next(START, state)
    assert pick is not None
    assert pick.track_id > 40
    assert pick.reason == "rotation"


def test_when_no_track_can_keep_separation_the_least_recently_played_plays() -> None:
    library = tracks(3)
    rotation = PlaylistInfo(1, "All", PlaylistRule.rotation, PlaylistOrder.shuffle,
                            track_ids=(1, 2, 3))  # fmt: skip
    engine = scheduler(library, rotation)
    state = SchedulerState()
    at = START
    picks = []
    for _ in range(9):  # 30 minutes: every track played within the 3 hours
        pick = engine.next(at, state)
        assert pick is not None
        picks.append(pick)
        at += timedelta(seconds=200)
    assert [p.reason for p in picks[3:]] == ["fallback"] * 6
    ids = [p.track_id for p in picks]
    assert ids[3:] == ids[:3] * 2  # the least recently played, so in the same order again


def test_a_small_library_plays_every_track_before_one_comes_back() -> None:
    """Four songs by one artist and a fresh upload by another (the dashboard's demo): when
    nothing keeps separation, the upload does not come back every other song because its
    artist is the one heard least recently; each track plays once before any repeats."""
    library = tracks(4, artist="Tones")
    library[5] = TrackInfo(5, "Uploader", "Uploaded Tone", 8.0)
    rotation = PlaylistInfo(1, "All", PlaylistRule.rotation, PlaylistOrder.shuffle,
                            track_ids=(1, 2, 3, 4, 5))  # fmt: skip
    engine = scheduler(library, rotation)
    state = SchedulerState()
    at = START
    ids = []
    for _ in range(15):
        pick = engine.next(at, state)
        assert pick is not None
        ids.append(pick.track_id)
        at += timedelta(seconds=library[pick.track_id].duration)
    for cycle in range(3):
        assert sorted(ids[cycle * 5 : cycle * 5 + 5]) == [1, 2, 3, 4, 5], ids


def test_an_interval_playlist_waits_while_its_tracks_break_separation_jingles_do_not() -> None:
    library = tracks(6)
    library[7] = TrackInfo(7, "", "Station ID", 10.0, is_jingle=True)
    rotation = PlaylistInfo(1, "All", PlaylistRule.rotation, PlaylistOrder.shuffle,
                            track_ids=(1, 2, 3, 4, 5))  # fmt: skip
    every_two = PlaylistInfo(2, "Six", PlaylistRule.every_songs, PlaylistOrder.shuffle,
                             every=2, track_ids=(6,))  # fmt: skip
    ids = PlaylistInfo(3, "IDs", PlaylistRule.every_songs, PlaylistOrder.shuffle, every=2,
                       track_ids=(7,), is_jingle=True)  # fmt: skip
    engine = scheduler(library, rotation, every_two, ids)
    plan = engine.simulate(START, START + timedelta(hours=4), SchedulerState())
    sixes = [at for at, pick in plan if pick.track_id == 6]
    assert len(sixes) == 2
    assert sixes[1] - sixes[0] >= TRACK_GAP
    jingles = [pick for _, pick in plan if pick.track_id == 7]
    assert len(jingles) > 20  # the station ID repeats as often as it is due


def test_planned_picks_keep_away_from_a_track_a_host_queued_later_on(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    """A host queues the track a sequential playlist would deal next, at the end of the
    queue: the picks planned meanwhile pass over it."""
    on_air, songs = station(tmp_path, sessions)
    with sessions.begin() as session:
        session.query(Playlist).delete()
    add_playlist(sessions, "In order", songs, order=PlaylistOrder.sequential)
    on_air.planner.library_changed()
    on_air.play(1)
    queued = [u.item.track_id for u in on_air.planner.upcoming()]
    following = songs[songs.index(queued[-1]) + 1]  # what the playlist deals next
    on_air.planner.add_track(following, None)
    on_air.play(5)
    planned = [u.item.track_id for u in on_air.planner.upcoming()]
    assert planned.count(following) == 1, planned
