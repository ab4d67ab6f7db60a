"""Going live from the browser: the dashboard's "Go live" panel (web/static/webdj.js) sends
its microphone, with a library track mixed under it if the host likes, as MediaRecorder
chunks (WebM/Opus) over this WebSocket; the station takes them as a live source, as it takes
an Icecast source client on `/live` (`station.live`, app/live/).

The conversation, JSON text frames for control and binary frames for audio:

    browser -> {"type": "start", "csrf": "<the session's CSRF token>"}   first, within 10 s
    station -> {"type": "accepted"}            binary chunks may follow, the first holding
                                               the WebM header
    station -> {"type": "on_air"}              once the station says the takeover happened
    station -> {"type": "news", "title": "…"}  the hourly news has the air (the host waits;
                                               "on_air" again when it is theirs again)
    browser -> {"type": "title", "text": "…"}  now playing, while live
    browser -> {"type": "stop"}                (or just closing) hands back to the programme
    station -> {"type": "refused", "status": 409, "message": "…"}, then closes (code
               4000 + status): whatever the station will not take, said as a sentence

Hosts only: the session cookie with the session's CSRF token in the start message (a page
cannot set headers on a WebSocket, and another site's page cannot know the token), or a
personal token as `Authorization: Bearer` (no CSRF token needed, as on every route). A
handshake whose Origin is another site's is refused before it is accepted (HTTP 403).
Messages are bounded in size (the server refuses larger frames too, see app/cli/station.py)
and in rate: more audio than any live source needs is refused, as is a flood of messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from app.accounts.sessions import COOKIE_NAME, csrf_matches
from app.api.auth import Authenticated, identify
from app.api.hosts import from_this_site
from app.live import LiveRefused

log = logging.getLogger(__name__)

router = APIRouter()

PATH = "/api/live/ws"
CONTENT_TYPE = "audio/webm"  # what MediaRecorder records here: WebM with Opus in it
# One message at most: a chunk is 250 ms of audio (about 4 KB at 128 kbps); this takes a
# whole second at Opus's highest bitrate (510 kbps) with room to spare.
MAX_MESSAGE_BYTES = 128 * 1024
MAX_TEXT_BYTES = 4096  # a control message
MAX_TITLE_CHARS = 200
START_SECONDS = 10.0  # from the handshake to the start message
# The audio's rate is bounded where every live input's is (app/live/, RADIO_LIVE_MAX_KBPS);
# here the number of messages, with a burst of BURST_SECONDS.
MAX_MESSAGES_PER_SECOND = 20
BURST_SECONDS = 10.0
ON_AIR_POLL_SECONDS = 0.2  # how soon the browser hears that the takeover happened
REFUSED_CODE_BASE = 4000  # close codes 4000 + an HTTP status: what a refusal was


class Refusal(Exception):  # what this route will not take: a sentence for the host
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Budget:
    """A token bucket: `rate` a second on average, `rate * burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.capacity = rate, rate * burst
        self.level = self.capacity
        self.at = time.monotonic()

    def spend(self, amount: float) -> bool:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        self.level -= amount
        return self.level >= 0


@router.websocket(PATH)
async def live_socket(websocket: WebSocket) -> None:
    """A host's browser on air (see the module's docstring for the conversation)."""
    if not from_this_site(websocket, websocket.state.settings):  # type: ignore[arg-type]
        log.warning("refused a live WebSocket from another site: %s",
                    websocket.headers.get("origin"))  # fmt: skip
        await websocket.close(code=1008)  # before accepting: the handshake gets 403
        return
    await websocket.accept()
    feed: Any = None
    watcher: asyncio.Task[None] | None = None
    host_name = "?"
    try:
        auth = await _identify(websocket)
        host_name = auth.host.display_name or auth.host.username
        start = await _start_message(websocket)
        if auth.session is not None and not csrf_matches(auth.session, start.get("csrf")):
            raise Refusal(403, "The page's security token is missing or out of date: "
                               "reload the dashboard and go live again.")  # fmt: skip
        feed = websocket.state.station.live.begin(auth.host.id, host_name, CONTENT_TYPE,
                                                  via="browser")  # fmt: skip
        log.info("%s is live from the browser", host_name)
        await _send(websocket, {"type": "accepted"})
        watcher = asyncio.create_task(_tell_on_air(websocket, feed))
        await _relay(websocket, feed)
    except (LiveRefused, Refusal) as refusal:
        log.warning("refused going live from the browser (%s): %d %s",
                    host_name, refusal.status, refusal.message)  # fmt: skip
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await _send(websocket, {"type": "refused", "status": refusal.status,
                                    "message": refusal.message})  # fmt: skip
            await websocket.close(code=REFUSED_CODE_BASE + refusal.status)
    except WebSocketDisconnect:
        pass
    finally:
        if watcher is not None:
            watcher.cancel()
        if feed is not None:
            feed.end()
            log.info("%s is no longer live from the browser", host_name)


async def _identify(websocket: WebSocket) -> Authenticated:
    authorization = websocket.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    try:
        return await run_in_threadpool(identify, websocket.state.station.sessions, bearer,
                                       websocket.cookies.get(COOKIE_NAME))  # fmt: skip
    except HTTPException as refused:
        raise Refusal(refused.status_code, str(refused.detail)) from None


async def _start_message(websocket: WebSocket) -> dict[str, Any]:
    try:
        message = await asyncio.wait_for(websocket.receive(), START_SECONDS)
    except TimeoutError:
        raise Refusal(408, "No start message came: the dashboard sends one at once.") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    start = _control(message)
    if start.get("type") != "start":
        raise Refusal(400, 'The first message must be {"type": "start", …}.')
    return start


def _control(message: dict[str, Any]) -> dict[str, Any]:
    """A text message's JSON object, or a Refusal saying what is wrong with it."""
    text = message.get("text")
    if text is None:
        raise Refusal(400, "Audio came before the start message was answered.")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise Refusal(413, f"A control message may be at most {MAX_TEXT_BYTES} bytes.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise Refusal(400, "A control message must be a JSON object.") from None
    if not isinstance(data, dict):
        raise Refusal(400, "A control message must be a JSON object.")
    return data


async def _relay(websocket: WebSocket, feed: Any) -> None:
    """Hand every audio message to the feed until the browser stops or goes away."""
    messages = Budget(MAX_MESSAGES_PER_SECOND, BURST_SECONDS)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if not messages.spend(1):
            raise Refusal(429, "The browser sent more messages than a live show needs: "
                               "the station stopped taking them.")  # fmt: skip
        data = message.get("bytes")
        if data is None:
            control = _control(message)
            kind = control.get("type")
            if kind == "stop":
                await websocket.close(code=1000)
                return
            if kind == "title" and isinstance(control.get("text"), str):
                feed.title(control["text"].strip()[:MAX_TITLE_CHARS])
                continue
            raise Refusal(400, f"Unknown control message {str(kind)[:40]!r}: "
                               "send start, title or stop.")  # fmt: skip
        if len(data) > MAX_MESSAGE_BYTES:
            raise Refusal(413, f"An audio message may be at most {MAX_MESSAGE_BYTES} bytes.")
        feed.feed(data)  # raises LiveRefused: over the bitrate limit, or the show has ended


async def _tell_on_air(websocket: WebSocket, feed: Any) -> None:
    """Tell the browser when the station has taken over the air (and if it gives it back),
    and while the news has the air from the live show."""
    said = "off_air"
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            news = feed.news if feed.on_air else None
            state = "news" if news is not None else "on_air" if feed.on_air else "off_air"
            if state != said:
                await _send(websocket, {"type": state, **({"title": news} if news else {})})
                said = state
            await asyncio.sleep(ON_AIR_POLL_SECONDS)


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps(message))
