"""The playout process: decoders, the sequencer, the clock and the MP3 encoder, on their own.

    python -m app.stream.playout_child '<config JSON>'   (app/stream/playout_process.py runs it)

Nothing the web side does (requests, queries, speech, scans, exports) can take CPU time or
the GIL from the audio: this process imports only numpy, lameenc and the playout modules.
The extra mounts (RADIO_MOUNTS) are encoded here too, from the very blocks that air
(app/stream/mount_encoders.py): MP3 with LAME, AAC and Opus by an ffmpeg encoder each.

The contract with the station (messages in app/stream/playout_wire.py, on stdin/stdout):
- Audio: MP3 chunks of whole frames, each sent when it airs (see app/playout/clock.py: a
  lead of LEAD_SECONDS is read ahead as PCM, released and encoded at air time, and a lag is
  caught up by sending the backlog, never by skipping ahead), with the tokens of the items
  that begin in it. The station publishes each chunk to the hub as it arrives. Each extra
  mount's audio comes as MOUNT_AUDIO, its items placed where they begin in that mount's
  frames or pages; an extra mount's encoder that fails never holds up the default mount.
- Items: the process asks the station for the next item (NEXT) when ASK_AHEAD_SECONDS of
  the item being read remain, i.e. about ASK_AHEAD + LEAD (8 s) before it ends on air. It
  needs the answer one crossfade (plus half a second) before the end of reading, and the
  lead airs meanwhile: so a station busy for about 5 s cannot starve it, and host edits to
  the queue made up to about 8 s before the item on air ends still apply to the next item.
  The very first item is waited for (the station answers once the library is ready), so
  the station starts with music; later, while the safety source covers, it asks every
  second without waiting.
- It reports an item that fails to play (FAILED) and what follows the item listeners hear
  (STATE), and skips on SKIP: what listeners hear, or nothing if the skip names an item
  that is no longer on air.
- It reports faults it lives with (PROBLEM): a decoder that died and was started again, an
  encoder that fails (then the safety source, encoded in advance, airs from memory, and a
  fresh encoder is tried at every block until one works), and their end.
- It ends when the station does: on EOF of stdin, and by PR_SET_PDEATHSIG where Linux has
  it. Its log lines go to stderr, the station's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import sys
import threading
import time
from typing import Any

from app import drills
from app.core.item import Item, ItemKind
from app.logs import configure as configure_logging
from app.outputs import MountSpec
from app.playout.clock import PlayoutClock
from app.playout.decoder import DECODER_PROBLEM, DecoderSource
from app.playout.live import LiveSource
from app.playout.safety import SafetySource
from app.playout.sequencer import Sequencer
from app.playout.source import Pcm
from app.stream import playout_wire as wire
from app.stream.encoder import EncodedLoop, Mp3Encoder
from app.stream.mount_encoders import FfmpegMount, Mp3Mount

log = logging.getLogger("app.playout")

LEAD_SECONDS = 4.0  # read ahead of air time: a process starved for less costs nothing
ASK_AHEAD_SECONDS = 4.0  # ask for the next item when the one being read has this much left
KEEP_ITEMS = 64  # tokens remembered
# An answer to NEXT is waited for while the lead holds more than this; below, the safety
# source covers until the answer comes (a station that cannot answer: its database locked).
LOW_LEAD_SECONDS = 1.0
# ...but an answer is always waited for this long: after a skip the lead is gone on purpose,
# and the next song, a few milliseconds away, beats a flash of the safety source.
ANSWER_GRACE_SECONDS = 1.5
FALLBACK_SECONDS = 16.0  # of the safety source, encoded in advance (its chords' cycle)
ENCODER_PROBLEM = "encoder"
STATS_SECONDS = 1.0  # how often the station is sent the playout's counters
# A live input takes over once this much of its audio is decoded (it absorbs the jitter of
# its arrival), and is refused if that takes longer than LIVE_DECODE_SECONDS.
LIVE_PRIME_SECONDS = 0.4
LIVE_DECODE_SECONDS = 5.0
LIVE_FADE_SECONDS = 1.0  # the crossfade into a live input, and its fade-out at the end
# How long the reading thread waits for the answer to BREAK (a clock item due during a live
# input); the lead airs meanwhile, and an answer that comes later is taken at the next ask.
BREAK_WAIT_SECONDS = 1.0
# While a live input is on the clock reads ahead no further than this (the live input keeps
# about LIVE_PRIME_SECONDS ahead itself; the news it makes way for is read this far ahead, so
# the live input comes back at most this much later than its live point).
LIVE_LEAD_SECONDS = 1.5


class ParentGone(Exception):
    pass


class Link:
    """This end of the pipes to the station."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self._in = in_fd
        self._out = out_fd
        self._reader = wire.Reader()
        self._sending = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def send(self, message: bytes) -> None:
        """Send a whole message (from either thread)."""
        with self._sending:
            view = memoryview(message)
            while view:
                try:
                    written = os.write(self._out, view)
                except BrokenPipeError as error:
                    raise ParentGone from error
                view = view[written:]

    def wake(self) -> None:
        """End a `poll` early (from the other thread)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"!")

    def poll(self, timeout: float) -> list[tuple[bytes, bytes]]:
        """The station's messages that arrive within `timeout` (or until `wake()`)."""
        readable, _, _ = select.select([self._in, self._wake_r], [], [], max(0.0, timeout))
        if self._wake_r in readable:
            os.read(self._wake_r, 4096)
        if self._in not in readable:
            return []
        data = os.read(self._in, 65536)
        if not data:
            raise ParentGone
        return self._reader.feed(data)


class PlayoutChild:
    def __init__(self, config: dict[str, Any], link: Link) -> None:
        rate = int(config["sample_rate"])
        ffmpeg = str(config["ffmpeg"])
        self._link = link
        safety = SafetySource(rate, str(config["station_name"]))
        self._items: dict[int, Item] = {wire.SAFETY_TOKEN: safety.item}
        self._tokens: dict[int, int] = {id(safety.item): wire.SAFETY_TOKEN}
        self._answers: list[Item | None] = []
        self._answered = threading.Condition()
        self._asked = False
        self._asked_at = 0.0  # monotonic time of the open question
        self._closing = False
        self._told_next: int | None = -1
        self._drills = config.get("fault_drill_dir")
        self._open_problems: set[str] = set()
        self._problems_lock = threading.Lock()
        self._stats_due = 0.0
        self._ffmpeg, self._rate = ffmpeg, rate
        self._lead_seconds = float(config.get("lead_seconds", LEAD_SECONDS))
        self._loudness_target = float(config.get("loudness_target_lufs", -16.0))
        self._live: LiveSource | None = None
        self._live_since = 0.0  # monotonic time the live input began
        self._live_on_air = False
        self._live_asked = False  # the next item was asked for as the live input ends
        self._live_news = False  # a clock item (the news) has the air from the live input
        self._break_answers: list[Item | None] = []  # answers to BREAK (under _answered)
        self._break_asked = False
        self.sequencer = Sequencer(
            next_item=self._next_item,
            open_source=lambda item: DecoderSource(item, ffmpeg, rate, self._problem),
            safety=safety,
            sample_rate=rate,
            crossfade_seconds=float(config["crossfade_seconds"]),
            skip_fade_seconds=float(config["skip_fade_seconds"]),
            on_failure=self._failed,
            break_item=self._break_item,
        )
        self._encoding = (int(config["bitrate_kbps"]), rate, int(config["mp3_quality"]))
        self._encoder: Mp3Encoder | None = Mp3Encoder(*self._encoding)
        self._fallback = EncodedLoop(SafetySource(rate, "").read(round(FALLBACK_SECONDS * rate)),
                                     *self._encoding)  # fmt: skip
        self._on_fallback = False
        self._fallback_changed = False
        self._safety_item = safety.item
        self.clock = PlayoutClock(
            self.sequencer,
            self._encode,
            self._publish,
            rate,
            float(config["block_seconds"]),
            lead_seconds=self._lead_seconds,
            skip_fade_seconds=float(config["skip_fade_seconds"]),
            max_lag_seconds=float(config["max_lag_seconds"]),
            wait=self._serve,
        )
        self.clock.on_produced = link.wake
        # The extra mounts (app/outputs.py), each encoded once from the same blocks.
        self._aired = 0  # programme samples aired so far
        self._block: Pcm | None = None  # the block being aired (_encode, then _publish)
        self.mounts: list[Mp3Mount | FfmpegMount] = []
        for fields in config.get("mounts", []):
            spec = MountSpec(**fields)
            if spec.codec == "mp3":
                self.mounts.append(Mp3Mount(spec, rate, int(config["mp3_quality"]),
                                            self._send_mount))  # fmt: skip
            else:
                self.mounts.append(FfmpegMount(spec, ffmpeg, rate, self._send_mount,
                                               self._problem))  # fmt: skip

    def run(self) -> None:
        try:
            self.clock.run()
        finally:
            self._close_answers()
            self.sequencer.close()
            for mount in self.mounts:
                mount.close()

    # -- what the sequencer and the clock call -------------------------------------------------

    def _close_answers(self) -> None:
        """No answer will come: a question being waited for ends now, with none."""
        with self._answered:
            self._closing = True
            self._answered.notify_all()

    def _next_item(self) -> Item | None:
        """The sequencer's question, on the reading thread (the lead airs meanwhile). The
        first is waited for; later ones while the lead lasts, then the safety source covers
        (it asks again every second, and takes the answer when it comes)."""
        with self._answered:
            if not self._answers:
                self._ask()
                if self.sequencer.on_safety and self.clock.heard is not None:
                    return None  # the safety source covers; it asks again in a second
                while not self._answers and not self._closing:
                    if (
                        self.clock.heard is not None
                        and self.clock.lead < LOW_LEAD_SECONDS
                        and time.monotonic() - self._asked_at > ANSWER_GRACE_SECONDS
                    ):
                        return None
                    self._answered.wait(0.1)
            return self._answers.pop(0) if self._answers else None

    def _break_item(self) -> Item | None:
        """The sequencer's question while a live input is on air (on the reading thread): the
        clock item due by the air time of what is being read, or the next part of the one
        airing. Waited for BREAK_WAIT_SECONDS; an answer that comes later is the next one's."""
        with self._answered:
            if not self._break_answers and not self._break_asked:
                self._break_asked = True
                by = time.time() + self.clock.lead
                self._link.send(wire.pack_json(wire.BREAK, {"by": by}))
            deadline = time.monotonic() + BREAK_WAIT_SECONDS
            while not self._break_answers and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._answered.wait(left)
            return self._break_answers.pop(0) if self._break_answers else None

    def _encode(self, pcm: Pcm) -> bytes:
        """MP3 for a block at its air time. An encoder that fails is reported once and
        dropped; the safety source, encoded in advance, stands in until a fresh one works."""
        self._block = pcm  # for the extra mounts, fed in _publish with the block's items
        try:
            drills.check(self._drills, "encoder")
            if self._encoder is None:
                self._encoder = Mp3Encoder(*self._encoding)
            mp3 = self._encoder.encode(pcm)
        except Exception as error:
            self._encoder = None
            if not self._on_fallback:
                self._on_fallback = self._fallback_changed = True
                self._fallback.restart()
                self._problem(ENCODER_PROBLEM, "The MP3 encoder failed: the safety source, "
                              "encoded in advance, is on air until it works again",
                              str(error) or type(error).__name__)  # fmt: skip
            return self._fallback.frames_for(len(pcm))
        if self._on_fallback:
            self._on_fallback = False
            self._fallback_changed = True
            self._problem(ENCODER_PROBLEM, "", None)
        return mp3

    def _publish(self, mp3: bytes, starts: list[tuple[int, Item]]) -> None:
        pcm, self._block = self._block, None
        if pcm is not None:
            for mount in self.mounts:  # before the default mount's starts are rewritten
                try:
                    mount.feed(pcm, starts, self._aired)
                except Exception as error:  # never the default mount's problem
                    path = mount.spec.path
                    self._problem(f"mount:{path}", f"The encoder of mount {path} failed",
                                  str(error) or type(error).__name__)  # fmt: skip
            self._aired += len(pcm)
        if self._fallback_changed:  # listeners hear the safety source, or the programme again
            self._fallback_changed = False
            if self._on_fallback:
                starts = [(0, self._safety_item)]
            elif self.clock.heard is not None and not starts:
                starts = [(0, self.clock.heard)]
        elif self._on_fallback:
            starts = []
        if self._live_on_air:
            self._tell_news(starts)
        if DECODER_PROBLEM in self._open_problems and any(
            item.kind is not ItemKind.safety for _, item in starts
        ):
            self._problem(DECODER_PROBLEM, "", None)  # the next item plays
        with self._answered:
            tokens = [(frame, self._tokens.get(id(item), wire.SAFETY_TOKEN))
                      for frame, item in starts]  # fmt: skip
        self._link.send(wire.pack_audio(tokens, mp3))
        self._tell_next()
        now = time.monotonic()
        if now >= self._stats_due:
            self._stats_due = now + STATS_SECONDS
            self._link.send(wire.pack_json(wire.STATS, self.stats()))

    def _tell_news(self, starts: list[tuple[int, Item]]) -> None:
        """Tell the station when a clock item takes the air from the live input, and when
        the live input has it back (as listeners hear it)."""
        for _, item in starts:
            if item.kind in (ItemKind.news, ItemKind.jingle) and not self._live_news:
                self._live_news = True
                self._send_live("news", item.display_title)
            elif item.kind is ItemKind.live and self._live_news:
                self._live_news = False
                self._send_live("on_air", "")

    def _send_mount(self, path: str, data: bytes, starts: list[tuple[int, Item]],
                    headers: bytes | None, sample: int) -> None:  # fmt: skip
        """An extra mount's encoded audio (from the air thread or an encoder's reader)."""
        with self._answered:
            tokens = [(frame, self._tokens.get(id(item), wire.SAFETY_TOKEN))
                      for frame, item in starts]  # fmt: skip
        length = len(headers) if headers is not None else None
        self._link.send(wire.pack_mount_audio(path, tokens, length, sample, data))

    def stats(self) -> dict[str, float]:
        """The clock's counters and how the playout stands (wire.PLAYOUT_COUNTERS, _GAUGES)."""
        clock = self.clock
        return {
            "blocks_aired": clock.blocks_aired,
            "late_blocks": clock.late_blocks,
            "catch_ups": clock.catch_ups,
            "skips_ahead": clock.skips_ahead,
            "skipped_seconds": round(clock.skipped_seconds, 3),
            "lead_seconds": round(clock.lead, 3),
            "lag_seconds": round(clock.lag, 3),
            "on_safety": int(self.sequencer.on_safety),
        }

    def _failed(self, item: Item, reason: str) -> None:
        with self._answered:
            token = self._tokens.get(id(item))
        self._link.send(wire.pack_json(wire.FAILED, {"token": token, "reason": reason}))

    def _serve(self, timeout: float) -> None:
        """Wait up to `timeout` for the station's messages, and act on them."""
        remaining = self.sequencer.remaining_seconds
        # (During a live input the next item is asked for as it ends: not while the news
        # has the air from it.)
        if remaining is not None and remaining < ASK_AHEAD_SECONDS and not self._live_on_air:
            with self._answered:
                if not self._answers:
                    self._ask()
        self._check_live()
        try:
            messages = self._link.poll(timeout)
        except ParentGone:  # the reading thread may be waiting for an answer: end that
            self._close_answers()  # first, or the clock waits for it as it stops
            raise
        for kind, payload in messages:
            if kind == wire.LIVE_DATA:
                if self._live is not None:
                    self._live.feed(payload)
                continue
            message = json.loads(payload)
            if kind in (wire.LIVE_BEGIN, wire.LIVE_TITLE, wire.LIVE_END):
                self._live_message(kind, message)
            elif kind == wire.ITEM:
                item = wire.item_from_json(message["item"]) if message["item"] else None
                with self._answered:
                    self._asked = False
                    if item is not None:
                        self._remember(message["token"], item)
                    self._answers.append(item)
                    self._answered.notify_all()
                self._tell_next()
            elif kind == wire.BREAK_ITEM:
                item = wire.item_from_json(message["item"]) if message["item"] else None
                with self._answered:
                    self._break_asked = False
                    if item is not None:
                        self._remember(message["token"], item)
                    self._break_answers.append(item)
                    self._answered.notify_all()
            elif kind == wire.SKIP:
                if self._live_on_air:
                    continue  # a live input ends by LIVE_END, not by a skip
                token = message["token"]
                self.clock.skip(self._items.get(token) if token is not None else None)
            else:
                log.warning("unknown message %r from the station", kind)

    def _live_message(self, kind: bytes, message: dict[str, Any]) -> None:
        if kind == wire.LIVE_BEGIN:
            if self._live is not None:  # the station allows one: an old one is abandoned
                self._end_live("replaced by another live input", tell=False)
            item = wire.item_from_json(message["item"])
            with self._answered:
                self._remember(int(message["token"]), item)
            self._live = LiveSource(item, self._ffmpeg, self._rate, str(message["content_type"]),
                                    self._loudness_target, float(message["silence_seconds"]),
                                    LIVE_FADE_SECONDS)  # fmt: skip
            self._live_since, self._live_on_air = time.monotonic(), False
            self._live_news = False
        elif kind == wire.LIVE_TITLE and self._live is not None:
            item = wire.item_from_json(message["item"])
            with self._answered:
                self._remember(int(message["token"]), item)
            if self._live_on_air:
                self.sequencer.retitle(item)
            else:
                self._live.item = item
        elif kind == wire.LIVE_END and self._live is not None:
            self._end_live(str(message.get("reason") or "ended"))

    def _end_live(self, reason: str, tell: bool = True) -> None:
        live = self._live
        assert live is not None
        if self._live_on_air:
            live.end(reason)  # it fades out; _check_live reports when the programme is back
            return
        live.close()  # never aired
        self._live = None
        if tell:
            self._send_live("ended", reason)

    def _check_live(self) -> None:
        """Take over once the live input's audio decodes; refuse it if it does not; report
        when it has ended and the programme is back."""
        live = self._live
        if live is None:
            return
        if not self._live_on_air:
            if live.buffered_seconds >= LIVE_PRIME_SECONDS:
                self._live_on_air = True
                self.clock.set_lead(min(self._lead_seconds, LIVE_LEAD_SECONDS))
                self.sequencer.go_live(live)
                self.clock.interrupt(LIVE_FADE_SECONDS)
                self._send_live("on_air", "")
            elif live.decoder_ended or time.monotonic() - self._live_since > LIVE_DECODE_SECONDS:
                reason = (
                    live.error()
                    if live.decoder_ended
                    else f"no audio could be decoded within {LIVE_DECODE_SECONDS:.0f} s"
                )
                live.close()
                self._live = None
                self._send_live("refused", reason)
            return
        if live.closed:  # the sequencer has moved on from it: the programme is back
            self._live, self._live_on_air, self._live_asked = None, False, False
            self._live_news = False
            self.clock.set_lead(self._lead_seconds)
            self._send_live("ended", live.end_reason or "ended")
        elif live.end_reason is not None and not self._live_asked:
            self._live_asked = True
            with self._answered:  # what was planned before the live input is asked afresh,
                self._answers.clear()  # while the live input fades out
                self._asked = False
                self._ask()

    def _send_live(self, state: str, reason: str) -> None:
        self._link.send(wire.pack_json(wire.LIVE_STATE, {"state": state, "reason": reason}))

    def _problem(self, key: str, what: str, cause: str | None) -> None:
        """Report a fault to the station (once while it lasts), or its end (cause None)."""
        with self._problems_lock:
            if key not in (ENCODER_PROBLEM, DECODER_PROBLEM) and not key.startswith("mount:"):
                pass  # an item's own problem: the station keeps track of it
            elif (cause is not None) == (key in self._open_problems):
                return
            if cause is None:
                self._open_problems.discard(key)
            else:
                self._open_problems.add(key)
        self._link.send(wire.pack_json(wire.PROBLEM, {"key": key, "what": what, "cause": cause}))

    # -- inside -------------------------------------------------------------------------------

    def _ask(self) -> None:
        """Ask the station for the next item, unless a question is open (hold _answered)."""
        if not self._asked:
            self._asked = True
            self._asked_at = time.monotonic()
            self._link.send(wire.pack(wire.NEXT))

    def _remember(self, token: int, item: Item) -> None:
        self._items[token] = item
        self._tokens[id(item)] = token
        for old in [t for t in self._items if wire.SAFETY_TOKEN < t <= token - KEEP_ITEMS]:
            self._tokens.pop(id(self._items.pop(old)), None)

    def _tell_next(self) -> None:
        """Tell the station what follows the item listeners hear, when that changes."""
        heard = self.clock.heard
        following = None
        with self._answered:
            answers = list(self._answers)
        for item in (*self.clock.lead_items(), self.sequencer.current, self.sequencer.upcoming,
                     *answers):  # fmt: skip
            if item is not None and item is not heard and item.kind is not ItemKind.safety:
                following = item
                break
        token = self._tokens.get(id(following)) if following is not None else None
        if token != self._told_next:
            self._told_next = token
            self._link.send(wire.pack_json(wire.STATE, {"next": token}))


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the station's process ends, however it ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # elsewhere, EOF on stdin still ends it


def _run_at_priority(nice: int) -> None:
    """Ahead of the machine's other work (before any thread starts: threads and the ffmpeg
    decoders inherit it). Without the right to raise it, say so once and run as started."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as error:
        log.info("playout priority stays at nice %d (nice %d: %s)",
                 os.getpriority(os.PRIO_PROCESS, 0), nice, error.strerror)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(args[0])
    _die_with_parent()
    if os.getppid() != int(config.get("parent_pid", os.getppid())):
        return 0  # the station died before we could ask to die with it
    out_fd = os.dup(1)  # the pipe to the station carries messages only: a stray print
    os.dup2(2, 1)  # goes to the log instead of corrupting the stream
    configure_logging(str(config.get("log_format", "plain")))
    _run_at_priority(int(config.get("nice", 0)))
    log.info("playout process %d started at nice %d", os.getpid(),
             os.getpriority(os.PRIO_PROCESS, 0))  # fmt: skip
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    child = PlayoutChild(config, Link(0, out_fd))
    with contextlib.suppress(ParentGone):  # the station ended: so does its playout
        child.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
