"""The one wiring point: library -> scheduler -> playout -> stream hub -> listeners."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.core.item import Item, ItemKind, safety_item
from app.core.jobs import JobRegistry
from app.db import SessionFactory
from app.ffmpeg import ffmpeg_path
from app.files import sweep_temp_files
from app.identity import Identity, IdentityStore
from app.library import ScanReport, scan
from app.library.encode import synthesize_in_child
from app.library.scanner import Progress, add_file, has_music_files
from app.library.uploads import format_size, sweep_stale_uploads
from app.listeners.identity import COOKIE_NAME, ListenerKeys, listener_hash
from app.listeners.sessions import SessionRecorder
from app.listeners.skipvotes import SkipVotes, VoteResult
from app.live import Live
from app.live.recording import Recorder
from app.models import Play, Track, TrackKind, TrackStatus
from app.news.bulletins import Bulletins
from app.news.desk import NewsDesk
from app.outputs import DEFAULT_MOUNT, MountSpec, mount_path
from app.problems import Problems
from app.scheduler.planner import Planner, PlannerBusy
from app.scheduler.playlists import sync_playlists_at_startup
from app.shows import Shows
from app.shows.segment import LiveShow
from app.stream.archive import Archive
from app.stream.hls import Hls
from app.stream.hub import Listener, StreamHub
from app.stream.mounts import Mount
from app.stream.mp3 import HEARD_DELAY_FRAMES, LAME_HELD_FRAMES
from app.stream.nowplaying import HISTORY_SIZE, Aired, NowPlaying
from app.stream.ogg import OPUS_RATE
from app.stream.playout_process import PlayoutProcess
from app.stream.relay import Relays
from app.stream.response import StreamInfo
from app.stream.timeshift import TimeShift

log = logging.getLogger(__name__)

NEWS_TICK_SECONDS = 30.0  # scheduled articles go live within this
NEXT_UP_REFRESH_SECONDS = 10.0  # "next" on the player follows playlist edits within this
# The first item waits this long for music in the library (a fresh station makes its demo
# library and scans it first, so it starts with music); then the safety source covers.
FIRST_ITEM_WAIT_SECONDS = 60.0
# The playout's question for its next item gives up after this long waiting on a locked
# database or a busy queue: the playout's lead (4 s) must outlast it. The safety source
# covers, and the playout asks again every second.
NEXT_ITEM_WAIT_SECONDS = 2.0
RECORDING_FINISH_SECONDS = 30.0  # a recording's file is finished within this as the station stops
SHOW_CHECK_SECONDS = 60.0  # a show's start or end is announced within this of a change
# Listeners leaving while votes stand are counted again together this soon after: a crowd
# leaving costs one recount and one push, not one each.
RECOUNT_SECONDS = 0.2
UPCOMING_WAIT_SECONDS = 0.5  # refreshing "next" gives up on a locked database this soon
TRACK_PROBLEM = "track:"  # + the track's id: a track that failed on air
BEHIND_LIVE = "You are listening behind live: go back to live to vote on the song on air."


class Station:
    def __init__(self, settings: Settings, sessions: SessionFactory) -> None:
        self.settings = settings
        self.sessions = sessions
        self.problems = Problems()  # faults the station lives with, for hosts
        self.ffmpeg = ffmpeg_path(settings.ffmpeg)
        # Name, tagline, logo, accent and public URL: read once, kept here, replaced on change.
        self.identity = IdentityStore(sessions, settings)
        self.identity.on_change.append(self._identity_changed)
        # Shows and their weekly slots (app/shows/), kept in memory: station.shows.
        self.shows = Shows(sessions, settings)
        # The programme's segments besides the library's tracks: news bulletins (held while a
        # show the news does not interrupt is on) and the shows' slots.
        bulletins = Bulletins(settings, identity=lambda: self.identity.current,
                              holds_news=self.shows.holds_news)  # fmt: skip
        segments = [bulletins, LiveShow(self.shows.current)]
        self.planner = Planner(sessions, settings, segments=segments)
        self.shows.on_change.append(self._shows_changed)
        self.planner.on_air_until = self._on_air_until
        self.listener_keys = ListenerKeys.load(settings.state_dir)  # signs listener cookies
        self._library_ready = threading.Event()  # the first scan is done
        # The mounts (app/outputs.py): the default one, then RADIO_MOUNTS, a hub each.
        default = MountSpec(DEFAULT_MOUNT, "mp3", settings.bitrate_kbps)
        self.mounts: dict[str, Mount] = {
            spec.path: Mount(spec, self._make_hub(spec))
            for spec in [default, *settings.mount_specs]
        }
        self.hub = self.mounts[DEFAULT_MOUNT].hub
        self._child_base = (0, 0.0)  # (playout generation, its sample 0 in stream seconds)
        # The time-shift archive: written on a thread of its own, never by the event loop.
        self.archive = Archive(
            settings.state_dir / "archive",
            hours=settings.archive_hours,
            max_bytes=round(settings.archive_max_mb * 1024 * 1024),
            segment_seconds=settings.archive_segment_seconds,
            bitrate_kbps=settings.bitrate_kbps,
            sample_rate=settings.sample_rate,
            station_name=settings.station_name,
            on_problem=self._report_problem,
            drill_dir=settings.fault_drill_dir,
        )
        self.skip_votes = SkipVotes(
            share=settings.skip_vote_share,
            minimum=settings.skip_vote_minimum,
            cooldown_seconds=settings.skip_vote_cooldown_seconds,
            kinds=settings.skip_votable_kinds,
            listen_seconds=settings.skip_vote_listen_seconds,
            per_address=settings.skip_vote_per_address,
        )
        self.now_playing = NowPlaying(
            upcoming=self.upcoming,
            listener_count=self.listeners_now,
            history=self._load_history(),
            record=self._record_in_background,
            skip_votes=self._skip_tally,
            mount_listeners=lambda: {p: m.hub.listeners_now() for p, m in self.mounts.items()},
            show=self._show_on_air,
        )
        # The votes start over before now-playing announces the new item with their tally.
        self.hub.on_item_live.append(lambda item, _stream_at: self.skip_votes.on_item(item))
        for mount in self.mounts.values():  # every mount's listeners vote and count
            mount.hub.on_listener.append(self._recount_votes)
        self.hub.on_item_live.append(self.now_playing.on_item_live)
        # Listening time and its running totals, for the board and the hosts' statistics.
        self.listening = SessionRecorder(sessions, settings.timezone, settings.listener_min_seconds)
        for mount in self.mounts.values():
            mount.hub.on_listener.append(self.listening.on_listener)
        # Time-shifted listeners are told to the same callbacks: they count as listening.
        self.timeshift = TimeShift(self.archive, lambda: self.hub.info, settings.burst_bytes,
                                   self.hub.on_listener, COOKIE_NAME,
                                   self.listener_keys.verify)  # fmt: skip
        # HLS, cut from one mount on start; its sessions count as listeners (app/stream/hls).
        self.hls = None if settings.hls == "off" else Hls(
            settings.state_dir / "hls", settings.hls_window_seconds, settings.hls_segment_seconds,
            self.hub.on_listener, settings.hls_sessions_per_address)  # fmt: skip
        self.playout = PlayoutProcess(
            _playout_config(settings, self.ffmpeg),
            next_item=self._next_item,
            publish=self._publish,
            on_failure=self._mark_unplayable,
            safety_item=safety_item(settings.station_name),
            on_problem=self._report_problem,
            publish_mount=self._publish_mount,
            on_live=lambda state, reason: self.live.on_playout(state, reason),
            break_item=self._news_over_live,
        )
        # Live shows: a host's live input through one door (app/live), Icecast or browser.
        self.live = Live(self.playout, self.problems, silence_seconds=settings.live_silence_seconds,
                         max_kbps=settings.live_max_kbps,
                         shows=self.shows)  # fmt: skip
        # Live shows recorded as they aired, from the default mount (app/live/recording.py).
        self.recorder = Recorder(
            self.hub, settings.media_dir, self.problems, current_show=self.shows.current,
            live_host=lambda: self.live.feed.host_name if self.live.feed else None,
            record_outside_shows=settings.live_record, byte_rate=settings.bitrate_kbps * 125,
            max_seconds=settings.recording_max_minutes * 60, timezone=settings.timezone,
            station_name=lambda: self.identity.current.name,
            on_saved=self._add_recording)  # fmt: skip
        self.hub.on_item_live.append(self.recorder.on_item_live)
        self._scan_lock = threading.Lock()
        self.jobs = JobRegistry()  # long work (analysis of uploads, ...) with progress
        self.news = NewsDesk(settings, sessions, self.ffmpeg, self.jobs, self.problems)
        self.speech = self.news.speech
        # Relay outputs: each mount named in RADIO_RELAYS pushed to Icecast servers.
        self.relays = Relays(settings.relay_targets, public=settings.station_public,
                             queue_seconds=settings.relay_queue_seconds,
                             retry_max_seconds=settings.relay_retry_max_seconds)  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at = datetime.now(UTC)
        self._library_task: asyncio.Task[None] | None = None
        self._news_task: asyncio.Task[None] | None = None
        self._next_up_task: asyncio.Task[None] | None = None
        self._shows_task: asyncio.Task[None] | None = None
        self._recount: asyncio.TimerHandle | None = None
        self._stopping = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.started_at = datetime.now(UTC)
        await asyncio.to_thread(self.identity.load)  # the name the relays give Icecast
        await asyncio.to_thread(self.shows.load)
        # Before the rest: an output naming a mount the station lacks stops the start-up.
        self.relays.start(self.mount_hub, list(self.mounts))
        await asyncio.to_thread(self.listening.close_open_sessions)  # left open by a crash
        await asyncio.to_thread(self._sweep_temp_files)  # left by a crash mid-write
        if await asyncio.to_thread(self._has_music):
            self._library_ready.set()  # a restart: play what the last scan found at once
        self.archive.start()  # loads what an earlier run kept, on its own thread
        if self.hls is not None:
            hub = self.mount_hub(self.settings.hls)
            assert hub is not None  # Settings checked that the mount exists
            self.hls.start(hub)
        self._library_task = asyncio.create_task(self._keep_library_fresh())
        await self.playout.start()  # its first item waits for the library (see _next_item)
        self._news_task = asyncio.create_task(self._run_news_desk())
        self._next_up_task = asyncio.create_task(self._keep_next_up_fresh())
        self._shows_task = asyncio.create_task(self._announce_shows())

    async def stop(self) -> None:
        self._stopping = True  # listeners leaving from now on change no vote
        if self._recount is not None:
            self._recount.cancel()
        for task in (self._library_task, self._news_task, self._next_up_task, self._shows_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.relays.stop()
        await self.playout.stop()
        self.recorder.stop()  # a live show on air as the station stops: its file is kept
        await asyncio.to_thread(self.recorder.join, RECORDING_FINISH_SECONDS)
        await asyncio.to_thread(self.speech.stop)  # renders under way end, leaving no file
        self.jobs.shutdown(wait=False)
        for mount in self.mounts.values():
            mount.hub.close()
        self.timeshift.close()
        if self.hls is not None:
            self.hls.stop()
            await asyncio.to_thread(self.hls.finish)
        await asyncio.to_thread(self.archive.stop)
        await asyncio.to_thread(self.listening.shutdown)

    def _make_hub(self, spec: MountSpec) -> StreamHub:
        settings = self.settings
        return StreamHub(
            _stream_info(settings, spec),
            buffer_bytes=round(settings.buffer_seconds * spec.bitrate_kbps * 1000 / 8),
            burst_bytes=round(settings.burst_bytes * spec.bitrate_kbps / settings.bitrate_kbps),
            sndbuf_bytes=settings.listener_sndbuf_bytes,
            listener_cookie=COOKIE_NAME,
            verify_listener=self.listener_keys.verify,
        )

    def _publish(self, data: bytes, starts: list[tuple[int, Item]]) -> None:
        """A block of the programme at its air time: into the archive's queue, then live."""
        self._stream_base()
        self.archive.record(data, starts)
        self.hub.publish(data, starts)

    def mount_hub(self, path: str) -> StreamHub | None:
        """The hub of the mount at `path` (`/stream.mp3` is `/stream`); None: no such mount."""
        mount = self.mounts.get(mount_path(path))
        return None if mount is None else mount.hub

    def _publish_mount(self, path: str, data: bytes, starts: list[tuple[int, Item]],
                       headers: bytes | None, sample: int) -> None:  # fmt: skip
        """An extra mount's audio, with where it is heard in the default mount's stream
        seconds (so the player's `?sync=` works the same on every mount)."""
        mount = self.mounts.get(path)
        if mount is not None:
            # The default mount's item at programme sample P is heard at stream_at =
            # base + (P + 1105) / rate (app/stream/mp3.py: the delay LAME does not hold back).
            at = (
                self._stream_base()
                + (sample + HEARD_DELAY_FRAMES - LAME_HELD_FRAMES) / self.settings.sample_rate
            )
            mount.hub.publish(data, starts, headers, at)

    def _stream_base(self) -> float:
        """Where the current playout process's programme sample 0 is, in stream seconds."""
        generation = self.playout.generation
        if self._child_base[0] != generation:
            self._child_base = (generation, self.hub.stream_seconds(self.hub.end))
        return self._child_base[1]

    @property
    def hubs(self) -> list[StreamHub]:
        return [mount.hub for mount in self.mounts.values()]

    def live_listeners_now(self) -> int:
        """Live listeners on every mount: a browser with two tabs (or on two mounts) once,
        every cookieless client once."""
        hubs = self.hubs
        if len(hubs) == 1:
            return hubs[0].listeners_now()
        ids = set().union(*(hub.listener_ids() for hub in hubs))
        return len(ids) + sum(hub.anonymous for hub in hubs)

    def is_listening(self, listener_id: str) -> bool:
        """Whether this listener has a live stream connection open, on any mount."""
        return any(hub.is_listening(listener_id) for hub in self.hubs)

    def listeners_now(self) -> int:
        """Who listens now, live on any mount, time-shifted or by HLS: a browser with two tabs
        once, every cookieless client once. (The skip votes count the live ones only.)"""
        live = self.live_listeners_now() + self.timeshift.listeners_now(self.is_listening)
        if self.hls is None:
            return live
        return live + self.hls.sessions.listeners_now(
            lambda id_: self.is_listening(id_) or self.timeshift.is_listening(id_)
        )

    def skip(self) -> None:
        """Skip what listeners hear (from any thread)."""
        self.playout.skip()

    def vote_skip(self, listener_id: str | None, address: str) -> VoteResult:
        """A listener's vote to skip the item on air; skips it when the votes are enough.

        `listener_id` is the id in the listener's signed cookie (None without one): only a
        listener whose stream connection carries it, and has received enough of the stream,
        may vote. `address` is the machine the vote comes from (app.listeners.identity's
        client_network). Call on the event loop, where the hub and the votes live."""
        heard = None
        if listener_id is not None:
            heard = max((h for hub in self.hubs if (h := hub.heard_seconds(listener_id))
                         is not None), default=None)  # fmt: skip
        voter = listener_hash(listener_id) if listener_id is not None else ""
        voted_on = self.skip_votes.item
        if heard is None and listener_id is not None and self.timeshift.is_listening(listener_id):
            # Behind live they hear another item than the one on air: no say in skipping it.
            tally = self.skip_votes.tally(self.live_listeners_now())
            return VoteResult(tally.votes, tally.needed, refused=BEHIND_LIVE)
        result = self.skip_votes.vote(voter, heard=heard, address=address,
                                      listeners=self.live_listeners_now())  # fmt: skip
        if result.skip:
            self._skip_voted(voted_on)
        if result.accepted:
            self.now_playing.announce()
        return result

    def _recount_votes(self, listener: Listener, event: str) -> None:
        """The hub's callback: a listener who leaves takes their vote along (unless another
        tab of theirs still listens), and with fewer listeners fewer votes may be enough."""
        if event != "left" or not self.skip_votes.has_votes or self._stopping:
            return
        gone = listener.listener_id
        if gone and not self.is_listening(gone):
            self.skip_votes.withdraw(listener_hash(gone))
        if self._recount is None:
            loop = asyncio.get_running_loop()
            self._recount = loop.call_later(RECOUNT_SECONDS, self._recount_now)

    def _recount_now(self) -> None:
        self._recount = None
        voted_on = self.skip_votes.item
        if self.skip_votes.recheck(self.live_listeners_now()):
            self._skip_voted(voted_on)
        self.now_playing.announce()

    def _skip_voted(self, voted_on: Item | None) -> None:
        # The playout reads ahead of the live point: it skips `voted_on` only while it is
        # what listeners hear, never the item after.
        if voted_on is not None:
            self.playout.skip(voted_on)

    def _identity_changed(self, identity: Identity) -> None:
        """A new name, tagline or URL: in the head of every stream connection from now on.
        Called on the thread that changed it; the hub lives on the event loop."""
        for hub in self.hubs:
            info = replace(hub.info, name=identity.name, description=identity.tagline,
                           url=identity.website)  # fmt: skip
            if self._loop is None or self._loop.is_closed():
                hub.info = info
            else:
                self._loop.call_soon_threadsafe(setattr, hub, "info", info)

    def _skip_tally(self) -> dict[str, Any]:
        return asdict(self.skip_votes.tally(self.live_listeners_now()))

    def _show_on_air(self) -> dict[str, Any] | None:
        """The show whose slot is on (for now-playing; from memory)."""
        slot = self.shows.current(datetime.now(UTC))
        return slot.to_json() if slot is not None else None

    def upcoming(self) -> Item | None:
        """What follows the item on air. Read on the event loop (now-playing), so it never
        waits for the planner or the database: the playout's prepared item, else the
        planner's last plan, which _keep_next_up_fresh keeps current."""
        return self.playout.upcoming or self.planner.next_up

    def _next_item(self) -> Item | None:
        """The playout's question, on its own thread. On a station whose database had no
        music yet (a fresh one makes its demo library and scans it), the first question
        waits for the first scan, so the station starts with music, not the safety source."""
        if not self._library_ready.wait(FIRST_ITEM_WAIT_SECONDS):
            log.warning("no scanned library after %.0f s; the safety source covers",
                        FIRST_ITEM_WAIT_SECONDS)  # fmt: skip
            self._library_ready.set()
        try:
            item = self.planner.next_item(wait=NEXT_ITEM_WAIT_SECONDS)
        except (OperationalError, PlannerBusy) as error:
            cause = str(error.orig) if isinstance(error, OperationalError) else str(error)
            cause = (cause.strip().splitlines() or [""])[0]  # PostgreSQL adds the SQL's line
            what = (
                "The scheduler cannot take the next item from the queue: the safety "
                "source covers until it can"
            )
            self.problems.report("scheduler", what, cause)
            return None
        self.problems.clear("scheduler", "the queue answers again")
        return item

    def _news_over_live(self, by: float) -> Item | None:
        """While a host is live (the playout's question, on its own thread): the hourly news
        due by `by` (POSIX seconds) takes the air, or its next part; none while a show the
        news does not interrupt is on (the bulletin's rules hold it)."""
        at = datetime.fromtimestamp(by, UTC)
        try:
            return self.planner.take_clock_item(at, {Bulletins.kind}, wait=NEXT_ITEM_WAIT_SECONDS)
        except (OperationalError, PlannerBusy) as error:
            log.warning("the news due during a live show could not be taken: %s", error)
            return None

    def _report_problem(self, key: str, what: str, cause: str | None) -> None:
        """Faults of the playout process (a decoder, the encoder) and the archive's writer,
        and their end (from any thread)."""
        if cause is None:
            self.problems.clear(key)
        else:
            self.problems.report(key, what, cause)

    def _has_music(self) -> bool:
        with self.sessions() as session:
            ready = select(Track.id).where(Track.status == TrackStatus.ready,
                                           Track.kind == TrackKind.music).limit(1)  # fmt: skip
            return session.scalar(ready) is not None

    def _on_air_until(self) -> datetime:
        """When the item on air is expected to hand over to the next one."""
        now = datetime.now(UTC)
        current = self.now_playing.airing
        if current is None or current.item.duration is None:
            return now
        crossfade = self.settings.crossfade_seconds
        end = current.started_at + timedelta(seconds=current.item.duration - crossfade)
        # The playout takes the next item while it decodes ahead: that one airs first.
        prepared = self.playout.upcoming
        if prepared is not None and prepared is not current.item and prepared.duration is not None:
            end += timedelta(seconds=max(prepared.duration - crossfade, 0.0))
        return max(now, end)

    def _shows_changed(self) -> None:
        """A show changed (on the thread that changed it): plan the programme with the new
        slots, and tell listeners at once if the show on air is another now."""
        self.planner.library_changed()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.now_playing.announce)

    async def _announce_shows(self) -> None:
        """Now-playing names the show on air: announce it when a slot begins or ends."""
        while True:
            now = datetime.now(UTC)
            change = self.shows.timetable.next_change(now)
            wait = SHOW_CHECK_SECONDS if change is None else (change - now).total_seconds()
            await asyncio.sleep(min(max(wait, 0.0), SHOW_CHECK_SECONDS))
            if change is not None and datetime.now(UTC) >= change:
                self.now_playing.announce()

    async def _keep_next_up_fresh(self) -> None:
        """Hosts' playlist edits can change what follows the item on air without a new item
        or a look at the queue: plan again now and then, off the event loop."""
        while True:
            # Never kept waiting by a locked database (nor keeping the playout waiting).
            await asyncio.to_thread(self.planner.peek, UPCOMING_WAIT_SECONDS)
            await asyncio.sleep(NEXT_UP_REFRESH_SECONDS)

    async def _keep_library_fresh(self) -> None:
        settings = self.settings
        if settings.demo_library and not await asyncio.to_thread(
            has_music_files, settings.media_dir
        ):
            created = await asyncio.to_thread(synthesize_in_child, "app.library.demo",
                                              settings.media_dir, self.ffmpeg)  # fmt: skip
            if created:
                log.info("media/ had no music: created a demo library of %d files", created)
        first_scan = True
        while True:
            try:
                await asyncio.to_thread(self.scan_library)
            except Exception:
                log.exception("library scan failed; trying again later")
            self._library_ready.set()
            if first_scan:  # playlists/ once the tracks its files name are known
                first_scan = False
                await sync_playlists_at_startup(settings, self.sessions)
            await asyncio.sleep(settings.scan_interval_seconds)

    async def _run_news_desk(self) -> None:
        try:
            await asyncio.to_thread(self.news.prepare)
        except Exception:
            log.exception("the news desk could not get ready; bulletins may lack parts")
        while True:
            await asyncio.sleep(NEWS_TICK_SECONDS)
            try:
                await asyncio.to_thread(self.news.tick)
            except Exception:
                log.exception("news desk tick failed; trying again later")

    def scan_library(self, progress: Progress | None = None) -> ScanReport:
        """Scan media/ (one scan at a time) and let the scheduler know what changed."""
        with self._scan_lock:
            report = scan(self.settings.media_dir, self.sessions, self.ffmpeg,
                          self.settings.silence_threshold_db, progress=progress)  # fmt: skip
        # `ready` too: tracks a crashed station left unanalysed are new to the planner;
        # `cleaned`: names an older version stored uncleaned.
        if report.added or report.changed or report.removed or report.ready or report.cleaned:
            log.info("library: %s", report)
            self.planner.library_changed()
        self._clear_mended_tracks()
        return report

    def _add_recording(self, path: Path) -> None:
        """A live show's recording is finished (on its writer's thread): into the library."""
        with self._scan_lock:
            add_file(self.settings.media_dir, path, self.sessions, self.ffmpeg,
                     self.settings.silence_threshold_db)  # fmt: skip
        self.planner.library_changed()  # (the scheduler leaves recordings out of rotation)

    def _clear_mended_tracks(self) -> None:
        """Tracks that failed on air and are playable again (their file was put right and
        scanned anew), or gone from the library: their problems are over."""
        keys = self.problems.open_keys(TRACK_PROBLEM)
        if not keys:
            return
        with self.sessions() as session:
            for key in keys:
                track = session.get(Track, int(key.removeprefix(TRACK_PROBLEM)))
                if track is None:
                    self.problems.clear(key, "removed from the library")
                elif track.status is TrackStatus.ready:
                    self.problems.clear(key, "playable again")

    def _sweep_temp_files(self) -> None:
        """Temp files a crash left: uploads (directly in media/), and every other file the
        station writes (app.files) in the folders it writes to."""
        for path, size in sweep_stale_uploads(self.settings.media_dir):
            log.info("removed %s, left by an upload that never finished (%s)", path.name,
                     format_size(size))  # fmt: skip
        folders = (self.settings.media_dir, self.settings.playlists_dir, self.settings.state_dir)
        for folder in dict.fromkeys(folders):
            for path, size in sweep_temp_files(folder):
                log.info("removed %s, left by a write that never finished (%s)", path,
                         format_size(size))  # fmt: skip

    def _mark_unplayable(self, item: Item, reason: str) -> None:
        """An item the playout could not play (passed over, never aired)."""
        if item.track_id is None:
            # Nothing to mend in the library: an event for hosts to see, over at once.
            key = f"item:{item.kind.value}:{item.display_title}"
            self.problems.report(key, f"{item.display_title!r} could not play: passed over",
                                 reason)  # fmt: skip
            self.problems.clear(key, "passed over")
            return
        with self.sessions.begin() as session:
            track = session.get(Track, item.track_id)
            if track is not None:
                track.status, track.error = TrackStatus.unplayable, f"on air: {reason}"
            name = track.path if track is not None else item.display_title
        what = f"{name} could not play: passed over, and off air until a scan finds it playable"
        self.problems.report(f"{TRACK_PROBLEM}{item.track_id}", what, reason)

    def _record_in_background(self, aired: Aired) -> None:
        if aired.item.kind is ItemKind.safety or self._loop is None:
            return
        self._loop.run_in_executor(None, self._record_play, aired)

    def _record_play(self, aired: Aired) -> None:
        item = aired.item
        with self.sessions.begin() as session:
            play = Play(track_id=item.track_id, kind=item.kind.value, artist=item.artist,
                        title=item.title, album=item.album, duration=item.duration,
                        started_at=aired.started_at)  # fmt: skip
            session.add(play)
            track = session.get(Track, item.track_id) if item.track_id is not None else None
            if track is not None:
                track.last_played_at = aired.started_at
            session.flush()
            play_id = play.id
        self.archive.play_recorded(item, play_id)

    def _load_history(self) -> list[Aired]:
        with self.sessions() as session:
            plays = session.scalars(
                select(Play).order_by(Play.started_at.desc()).limit(HISTORY_SIZE)
            ).all()
        return [
            Aired(
                Item(
                    kind=ItemKind(p.kind),
                    title=p.title,
                    artist=p.artist,
                    album=p.album,
                    duration=p.duration,
                    track_id=p.track_id,
                ),
                p.started_at,
            )
            for p in plays
        ]


def _playout_config(settings: Settings, ffmpeg: str) -> dict[str, Any]:
    """What the playout process needs to know (it does not read the settings itself)."""
    return {
        "sample_rate": settings.sample_rate,
        "block_seconds": settings.block_seconds,
        "crossfade_seconds": settings.crossfade_seconds,
        "loudness_target_lufs": settings.loudness_target_lufs,
        "skip_fade_seconds": settings.skip_fade_seconds,
        "bitrate_kbps": settings.bitrate_kbps,
        "mp3_quality": settings.mp3_quality,
        "station_name": settings.station_name,
        "ffmpeg": ffmpeg,
        "nice": settings.playout_nice,
        "log_format": settings.log_format,
        # Beyond half the hub's buffer, the backlog would drop the listeners it is for.
        "max_lag_seconds": settings.buffer_seconds / 2,
        "fault_drill_dir": str(settings.fault_drill_dir) if settings.fault_drill_dir else None,
        "mounts": [spec.to_json() for spec in settings.mount_specs],
    }


def _stream_info(settings: Settings, spec: MountSpec) -> StreamInfo:
    return StreamInfo(
        name=settings.station_name,
        description=settings.station_description,
        genre=settings.station_genre,
        url=settings.station_url or settings.public_base(),
        public=settings.station_public,
        bitrate_kbps=spec.bitrate_kbps,
        sample_rate=OPUS_RATE if spec.codec == "opus" else settings.sample_rate,
        metaint=settings.icy_metaint,
        content_type=spec.content_type,
        channels=spec.channels,
        in_band_titles=spec.in_band_titles,
    )
