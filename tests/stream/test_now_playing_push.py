"""What the push channel tells players about skip votes, item by item."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from app.core.item import Item, ItemKind
from app.listeners.skipvotes import SkipVotes
from app.stream.nowplaying import NowPlaying

SONG = Item(ItemKind.music, "Song", "Artist")
JINGLE = Item(ItemKind.jingle, "Station ID")
NEXT_SONG = Item(ItemKind.music, "Next Song", "Artist")
LISTENERS = 4


def on_air() -> tuple[NowPlaying, SkipVotes]:
    """Now-playing and the votes wired as the station wires them: votes reset first."""
    votes = SkipVotes(share=0.5, minimum=1, cooldown_seconds=0, kinds={ItemKind.music},
                      listen_seconds=0, per_address=1, clock=lambda: 0.0)  # fmt: skip
    now_playing = NowPlaying(upcoming=lambda: None, listener_count=lambda: LISTENERS,
                             history=[], clock=lambda: 100.0,
                             skip_votes=lambda: asdict(votes.tally(LISTENERS)))  # fmt: skip
    return now_playing, votes


def go_live(now_playing: NowPlaying, votes: SkipVotes, item: Item) -> None:
    votes.on_item(item)
    now_playing.on_item_live(item)


def pushed(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def test_votes_are_pushed_and_start_over_with_each_item_a_jingle_too() -> None:
    async def run() -> list[dict[str, Any]]:
        now_playing, votes = on_air()
        async with now_playing.subscribe() as queue:
            go_live(now_playing, votes, SONG)
            votes.vote("ann", heard=0.0, address="ann-home", listeners=LISTENERS)
            now_playing.announce()
            go_live(now_playing, votes, JINGLE)
            go_live(now_playing, votes, NEXT_SONG)
            return pushed(queue)

    events = asyncio.run(run())
    seen = [(e["current"]["title"], e["skip"]) for e in events]
    assert seen == [
        ("Song", {"votes": 0, "needed": 2, "votable": True}),
        ("Song", {"votes": 1, "needed": 2, "votable": True}),
        ("Song", {"votes": 0, "needed": 2, "votable": False}),  # a jingle keeps the title
        ("Next Song", {"votes": 0, "needed": 2, "votable": True}),
    ]
    assert [e["title"] for e in events[-1]["history"]] == ["Song"]  # the jingle is no entry
