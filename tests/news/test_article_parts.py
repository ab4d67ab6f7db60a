"""Item 6 and 7 of the article pages through the real app: one level of replies to comments,
hosts' public profiles and the "Written by" box, and past bulletins to listen again on the
pages and in the podcast feed."""

from __future__ import annotations

import re
import subprocess
import xml.dom.minidom
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.config import Settings
from app.db import SessionFactory
from app.ffmpeg import ffmpeg_path
from app.models import Bulletin, BulletinStory, Comment, CommentStatus
from app.news import bulletins, listen_again
from app.news.comments import RATE_LIMIT
from app.news.speakable import opening_text
from app.news.stings import ensure_stings
from app.scheduler.planner import Planner
from tests.accounts.harness import bearer, running_app, token_for
from tests.audio import write_tone
from tests.news.test_bulletins import START, run
from tests.news.test_pages import NOW, add_article, add_comment, comment_form
from tests.scheduler.test_planner import add_playlist, add_track

JSON = {"Accept": "application/json"}
# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def decoded_seconds(path: Path) -> float:
    """How long ffmpeg hears the file (decoded to PCM and counted): not mutagen's reading."""
    pcm = subprocess.run(
        [ffmpeg_path(), "-nostdin", "-loglevel", "error", "-i", str(path),
         "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return len(pcm) / 2 / 8000


# --- replies ---------------------------------------------------------------------------------


def test_a_reply_answers_a_comment_one_level_deep_moderated_escaped_and_rate_limited(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    story = add_article(sessions, "harbour-plan")
    other = add_article(sessions, "other-story")
    top = add_comment(sessions, story, "Sam Sailor", "Will the ferry stop here?")
    elsewhere = add_comment(sessions, other, "Elsewhere", "Not this story.")
    with running_app(tmp_path) as client:
        page = client.get("/news/harbour-plan").text
        posted = client.post(
            "/news/harbour-plan/comments",
            follow_redirects=False,
            data=comment_form(reply_to=str(top), comment="<b>Yes</b>, from May."),
        )
        waiting = client.get("/news/harbour-plan").text
        with sessions() as session:
            reply = session.scalars(select(Comment).where(Comment.parent_id == top)).one()
        approved = client.post(f"/api/comments/{reply.id}/approve", headers=bearer())
        shown = client.get("/news/harbour-plan").text
        api = client.get("/api/news/harbour-plan").json()
        deeper = client.post(
            "/news/harbour-plan/comments",
            data=comment_form(reply_to=str(reply.id), comment="And back?"),
        )
        deeper_json = client.post(
            "/news/harbour-plan/comments", headers=JSON,
            json=comment_form(reply_to=str(reply.id), comment="And back?"),
        )  # fmt: skip
        wrong_story = client.post(
            "/news/harbour-plan/comments", headers=JSON,
            json=comment_form(reply_to=str(elsewhere), comment="Hm"),
        )  # fmt: skip
        not_a_number = client.post("/news/harbour-plan/comments", headers=JSON,
                                   json=comment_form(reply_to="1e3", comment="Hm"))  # fmt: skip
        # Replies and comments share one limit per connection (RATE_LIMIT in the window).
        more = [
            client.post("/news/harbour-plan/comments", headers=JSON,
                        json=comment_form(reply_to=str(top), comment=f"reply {n}"))
            for n in range(RATE_LIMIT)
        ]  # fmt: skip
        # A comment taken down takes its replies off the page and the count; deleted, with them.
        client.post(f"/api/comments/{top}/reject", headers=bearer()).raise_for_status()
        rejected = client.get("/news/harbour-plan").text
        client.delete(f"/api/comments/{top}", headers=bearer()).raise_for_status()

    # Every top-level comment has its own reply form, which posts a reply_to.
    assert f'<input type="hidden" name="reply_to" value="{top}">' in page
    assert "<summary>Reply to Sam Sailor</summary>" in page
    assert posted.status_code == 303
    assert posted.headers["location"] == "/news/harbour-plan?comment=pending#comments"
    assert "Yes</b>, from May." not in waiting  # pending: not public yet
    assert approved.status_code == 200
    assert approved.json()["reply_to"] == top
    # Shown under its comment, escaped, and counted.
    thread = shown[shown.index(f'id="comment-{top}"') : shown.index('id="leave-a-comment"')]
    assert 'class="replies" aria-label="Replies to Sam Sailor"' in thread
    assert f'<li class="comment reply" id="comment-{reply.id}">' in thread
    assert "&lt;b&gt;Yes&lt;/b&gt;, from May." in thread
    assert "Post comments (2)" in shown
    assert [(c["id"], c["reply_to"]) for c in api["comments"]] == [(top, None), (reply.id, top)]
    # A reply has no reply form, and a reply to it is refused with the reason.
    assert f'name="reply_to" value="{reply.id}"' not in shown
    assert deeper.status_code == 422
    assert "Replies go one level deep" in deeper.text
    assert ">And back?</textarea>" in deeper.text  # what they typed is kept
    assert deeper_json.status_code == 422
    assert "you cannot reply to a reply" in deeper_json.json()["detail"]
    assert wrong_story.status_code == 422
    assert "not on this story" in wrong_story.json()["detail"]
    assert not_a_number.status_code == 422
    with sessions() as session:
        kept = session.scalars(select(Comment.body).where(Comment.parent_id.is_not(None))).all()
    assert "Hm" not in kept
    assert "And back?" not in kept
    # One posted before, RATE_LIMIT - 1 more accepted, then 429 with Retry-After.
    assert [r.status_code for r in more] == [202] * (RATE_LIMIT - 1) + [429]
    assert int(more[-1].headers["retry-after"]) > 0
    assert "Post comments (0)" in rejected
    assert "from May." not in rejected
    with sessions() as session:
        left = session.scalars(select(Comment.id).where(Comment.article_id == story)).all()
    assert left == []


def test_a_page_of_comments_is_bounded(tmp_path: Path, sessions: SessionFactory) -> None:
    from app.news import comments

    story = add_article(sessions, "busy-thread")
    with sessions() as session:
        tops = [
            Comment(article_id=story, name=f"Top {n}", email="t@example.org", body=f"top {n}",
                    status=CommentStatus.approved, client="x",
                    created_at=NOW - timedelta(hours=2) + timedelta(seconds=n))
            for n in range(comments.TOP_LEVEL_PER_PAGE + 1)
        ]  # fmt: skip
        session.add_all(tops)
        session.flush()
        session.add_all(
            Comment(article_id=story, parent_id=tops[0].id, name=f"R{n}", email="r@example.org",
                    body=f"reply {n}", status=CommentStatus.approved, client="y",
                    created_at=NOW - timedelta(hours=1) + timedelta(seconds=n))
            for n in range(comments.REPLIES_SHOWN + 2)
        )  # fmt: skip
        session.commit()
    with running_app(tmp_path, admin=False) as client:
        first = client.get("/news/busy-thread").text
        second = client.get("/news/busy-thread?cpage=2").text
        beyond = client.get("/news/busy-thread?cpage=3")
    last = comments.TOP_LEVEL_PER_PAGE
    assert first.count('class="comment" id="comment-') == comments.TOP_LEVEL_PER_PAGE
    assert first.count('class="comment reply"') == comments.REPLIES_SHOWN
    assert "2 more replies not shown." in first
    assert f"top {last}<" not in first
    assert f"top {last}<" in second
    assert '<a rel="next" href="?cpage=2#comments">' in first
    assert beyond.status_code == 404


# --- hosts' profiles -------------------------------------------------------------------------


def test_a_host_profile_shows_in_written_by_and_on_its_own_page(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    with running_app(tmp_path) as client:
        token = token_for(client, "mara")
        me = bearer(token)
        empty = client.get("/api/profile", headers=me).json()
        set_profile = client.put("/api/profile", headers=me, json={
            "display_name": "  Mara\tLindqvist ", "bio": "Covers the harbour.\n\nSails on Sundays."
        })  # fmt: skip
        too_long = client.put("/api/profile", headers=me,
                              json={"display_name": "M" * 101, "bio": ""})  # fmt: skip
        fake = client.put("/api/profile/picture", headers={**me, "Content-Type": "image/png"},
                          content=b"<svg onload=alert(1)>not a png</svg>")  # fmt: skip
        huge = client.put("/api/profile/picture", headers={**me, "Content-Type": "image/png"},
                          content=PNG + b"\0" * (2 * 1024 * 1024))  # fmt: skip
        picture = client.put("/api/profile/picture",
                             headers={**me, "Content-Type": "image/png"}, content=PNG)  # fmt: skip
        written = client.post("/api/articles", headers=me,
                              json={"title": "Harbour opens", "body": "Boats."}).json()  # fmt: skip
        client.post(f"/api/articles/{written['id']}/publish", headers=me).raise_for_status()
        imported = client.post("/api/articles", headers=me, json={
            "title": "Wire story", "body": "From the wire.", "author": "Wire Desk",
            "host_id": None})  # fmt: skip
        client.post(f"/api/articles/{imported.json()['id']}/publish",
                    headers=me).raise_for_status()  # fmt: skip
        no_such_host = client.post("/api/articles", headers=me,
                                   json={"title": "X", "host_id": 999})  # fmt: skip
        page = client.get("/news/harbour-opens").text
        wire = client.get("/news/wire-story").text
        api = client.get("/api/news/harbour-opens").json()
        profile_url = set_profile.json()["url"]
        profile = client.get(profile_url).text
        renamed = client.get(f"/hosts/{profile_url.split('/')[-1].split('-')[0]}-old-name",
                             follow_redirects=False)  # fmt: skip
        served = client.get(picture.json()["picture_url"])
        # The admin has no display name: no public profile.
        admin_id = client.get("/api/session", headers=bearer()).json()["host"]["id"]
        hidden = client.get(f"/hosts/{admin_id}")
        stored = [path.read_bytes() for path in (tmp_path / "media" / "hosts").iterdir()]
        removed = client.delete(f"/api/hosts/{written['host_id']}", headers=bearer())
        after_removal = client.get("/news/harbour-opens").text
        gone = client.get(profile_url)

    assert empty == {"display_name": "", "bio": "", "picture_url": None, "url": None}
    assert set_profile.status_code == 200, set_profile.text
    assert set_profile.json()["display_name"] == "Mara Lindqvist"
    assert re.fullmatch(r"/hosts/[0-9]+-mara-lindqvist", profile_url)
    assert too_long.status_code == 422
    assert "too long" in too_long.json()["detail"]
    assert fake.status_code == 422
    assert "PNG, JPEG or WebP" in fake.json()["detail"]
    assert huge.status_code == 413
    assert picture.status_code == 200, picture.text
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == PNG
    assert stored == [PNG]  # the refused ones left nothing
    assert written["host_id"] is not None
    assert no_such_host.status_code == 422
    # "Written by": name linking the profile, bio, picture.
    box = page[page.index('class="written-by"') :]
    box = box[: box.index("</section>")]
    assert f'<a href="{profile_url}">Mara Lindqvist</a>' in box
    assert "<p>Covers the harbour.</p><p>Sails on Sundays.</p>" in box
    assert f'src="{picture.json()["picture_url"]}"' in box
    assert f'By <a class="author" href="{profile_url}">Mara Lindqvist</a>' in page
    assert api["written_by"]["name"] == "Mara Lindqvist"
    # An imported story keeps its free-text author, with no profile link.
    assert 'By <span class="author">Wire Desk</span>' in wire
    assert '<p class="written-by-name">Wire Desk</p>' in wire
    # The profile page lists the host's stories only.
    assert '<h1 id="host-name">Mara Lindqvist</h1>' in profile
    assert '<a href="/news/harbour-opens">Harbour opens</a>' in profile
    assert "Wire story" not in profile
    assert renamed.status_code == 301
    assert renamed.headers["location"] == profile_url
    assert hidden.status_code == 404
    # A host removed: their picture goes, their stories stay without the link.
    assert removed.status_code == 204
    assert list((tmp_path / "media" / "hosts").iterdir()) == []
    assert "Harbour opens" in after_removal
    assert profile_url not in after_removal
    assert gone.status_code == 404


def test_the_profile_page_lists_stories_a_page_at_a_time(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    from app.api.news_pages import PAGE_SIZE
    from app.models import Host, HostRole

    with sessions() as session:
        host = Host(username="ed", password_hash="x", role=HostRole.host, display_name="Ed Itor")
        session.add(host)
        session.commit()
        host_id = host.id
    for n in range(PAGE_SIZE + 1):
        add_article(sessions, f"ed-{n}", title=f"Ed story {n}", host_id=host_id,
                    publish_at=NOW - timedelta(hours=30 - n))  # fmt: skip
    with running_app(tmp_path, admin=False) as client:
        first = client.get(f"/hosts/{host_id}-ed-itor").text
        second = client.get(f"/hosts/{host_id}-ed-itor?page=2").text
        beyond = client.get(f"/hosts/{host_id}-ed-itor?page=3")
    assert first.count('<li class="story">') == PAGE_SIZE
    assert f"Ed story {PAGE_SIZE}<" in first  # newest first
    assert second.count('<li class="story">') == 1
    assert "Ed story 0<" in second
    assert beyond.status_code == 404


# --- listen again ----------------------------------------------------------------------------


def test_a_bulletin_is_kept_as_it_aired_with_the_stories_it_carried(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    """Through the planner, as on air: the parts' real files joined into one MP3."""
    media = tmp_path / "media"
    ensure_stings(media, ffmpeg_path())
    settings = Settings(media_dir=media, state_dir=tmp_path, crossfade_seconds=0,
                        jingle_every=0, bulletin_minute=0, bulletin_stories=2,
                        station_name="Test FM")  # fmt: skip
    opening = media / bulletins.opening_path(
        opening_text(START.replace(hour=11, minute=0), __import__("zoneinfo").ZoneInfo("UTC"))
    )
    opening.parent.mkdir(parents=True, exist_ok=True)
    write_tone(opening, 1.5, 300)
    from tests.news.test_bulletins import add_story

    stories = [add_story(sessions, "Tide high", 10), add_story(sessions, "Gulls loud", 20)]
    speech = media / "news" / "x.mp3"  # add_story's speech path
    write_tone(speech, 3.0, 500)
    songs = [add_track(sessions, f"Song {i}", 3.5, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    planner = Planner(sessions, settings, segments=[bulletins.Bulletins(settings)])
    run(planner, START + timedelta(minutes=40))
    with sessions() as session:
        bulletin = session.scalars(select(Bulletin)).one()
        carried = session.scalars(
            select(BulletinStory.article_id).where(BulletinStory.bulletin_id == bulletin.id)
        ).all()
    aired = bulletin.started_at
    assert START.replace(hour=11, minute=0) <= aired < START.replace(hour=11, minute=10)
    assert bulletin.title == f"News at {aired:%H:%M}, 2 March 2026"  # when it really aired
    assert sorted(carried) == sorted(stories)
    kept = media / (bulletin.audio_path or "")
    parts = [media / "news/stings/intro.mp3", opening, speech, speech,
             media / "news/stings/outro.mp3"]  # fmt: skip
    expected = sum(decoded_seconds(part) for part in parts)
    assert abs(decoded_seconds(kept) - expected) < 0.2
    assert abs((bulletin.duration or 0) - expected) < 0.2
    # No temp file of the join is left beside it.
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]


def keep_a_bulletin(sessions: SessionFactory, media: Path, article_ids: list[int],
                    at: datetime) -> int:  # fmt: skip
    """A bulletin kept as record_bulletin keeps one, with a real joined MP3."""
    part = write_tone(media / "parts" / f"{at:%H%M}.mp3", 2.0, 440)
    kept = listen_again.keep_audio([part, part], media, ffmpeg_path(), at)
    assert kept is not None
    with sessions() as session:
        story = [bulletins.Story(i, 1, "t", "s", "p", 1.0) for i in article_ids]
        bulletin = bulletins.record_bulletin(
            session, at, story, kept, listen_again.bulletin_title(at, "UTC")
        )
        session.commit()
        return bulletin.id


def test_past_bulletins_play_on_the_news_and_story_pages_and_in_the_podcast(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    media = tmp_path / "media"
    carried = add_article(sessions, "storm-warning", title="Storm warning")
    add_article(sessions, "quiet-day", title="Quiet day")
    at = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    first = keep_a_bulletin(sessions, media, [carried], at)
    second = keep_a_bulletin(sessions, media, [], at + timedelta(hours=1))
    extra = [keep_a_bulletin(sessions, media, [], at - timedelta(hours=n)) for n in range(1, 11)]
    with running_app(tmp_path, admin=False, public_url="https://radio.example") as client:
        index = client.get("/news").text
        story = client.get("/news/storm-warning").text
        quiet = client.get("/news/quiet-day").text
        whole = client.get(f"/news/bulletins/{first}.mp3")
        head = client.head(f"/news/bulletins/{first}.mp3")
        part = client.get(f"/news/bulletins/{first}.mp3", headers={"Range": "bytes=100-199"})
        missing = client.get("/news/bulletins/9999.mp3")
        feed = client.get("/news/podcast.xml")

    # The news page: the newest RECENT_LIMIT, newest first, each playable.
    listed = [int(n) for n in re.findall(r'<li class="bulletin" id="bulletin-(\d+)"', index)]
    assert listed[:2] == [second, first]
    assert len(listed) == listen_again.RECENT_LIMIT
    assert extra[-1] not in listed
    assert f'<audio controls preload="none" src="/news/bulletins/{first}.mp3"' in index
    assert "News at 05:00, 30 November 2026" in index
    # The story's page: the bulletins that carried it, only those.
    assert "Heard in the news" in story
    assert f'src="/news/bulletins/{first}.mp3"' in story
    assert f'src="/news/bulletins/{second}.mp3"' not in story
    assert "Heard in the news" not in quiet
    # Served as podcast apps fetch it: HEAD, Range.
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/mpeg"
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(whole.content)
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert missing.status_code == 404
    # The podcast feed, read with another parser than the one that wrote it.
    assert feed.status_code == 200
    document = xml.dom.minidom.parseString(feed.content)
    items = document.getElementsByTagName("item")
    enclosures = {
        item.getElementsByTagName("enclosure")[0].getAttribute("url"): item
        for item in items
        if item.getElementsByTagName("enclosure")
    }
    url = f"https://radio.example/news/bulletins/{first}.mp3"
    assert url in enclosures
    item = enclosures[url]
    enclosure = item.getElementsByTagName("enclosure")[0]
    assert enclosure.getAttribute("type") == "audio/mpeg"
    assert int(enclosure.getAttribute("length")) == len(whole.content)
    title = item.getElementsByTagName("title")[0].firstChild.data  # type: ignore[union-attr]
    assert title == "News at 05:00, 30 November 2026"
    description = item.getElementsByTagName("description")[0].firstChild.data  # type: ignore[union-attr]
    assert description == "Storm warning"
    duration = item.getElementsByTagName("itunes:duration")[0].firstChild.data  # type: ignore[union-attr]
    assert duration == "00:00:04"
    pub_dates = [
        datetime.strptime(i.getElementsByTagName("pubDate")[0].firstChild.data,  # type: ignore[union-attr]
                          "%a, %d %b %Y %H:%M:%S GMT")
        for i in items
    ]  # fmt: skip
    assert pub_dates == sorted(pub_dates, reverse=True)  # newest first, stories and bulletins


def test_a_join_that_fails_leaves_no_file_and_no_audio(tmp_path: Path) -> None:
    media = tmp_path / "media"
    broken = media / "parts" / "broken.mp3"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(np.random.default_rng(1).bytes(4000))
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert listen_again.keep_audio([broken], media, ffmpeg_path(), at) is None
    assert list((media / listen_again.BULLETINS_DIR).iterdir()) == []


def test_bulletins_older_than_the_keep_days_let_go_of_their_audio(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    """The kept MP3s do not pile up: when a bulletin airs (through the planner, as on air),
    those older than RADIO_BULLETIN_KEEP_DAYS lose their file; younger ones stay."""
    media = tmp_path / "media"
    ensure_stings(media, ffmpeg_path())
    settings = Settings(media_dir=media, state_dir=tmp_path, crossfade_seconds=0,
                        jingle_every=0, bulletin_minute=0, bulletin_stories=1,
                        bulletin_keep_days=30)  # fmt: skip
    from tests.news.test_bulletins import add_story

    add_story(sessions, "Tide high", 10)
    write_tone(media / "news" / "x.mp3", 3.0, 500)  # add_story's speech path
    # Earlier bulletins carried another story: the next one reads "Tide high" (a story is
    # not read again in the bulletin after the one that carried it).
    before = add_story(sessions, "Gulls loud", 20)
    old = keep_a_bulletin(sessions, media, [before], START - timedelta(days=31))
    young = keep_a_bulletin(sessions, media, [before], START - timedelta(days=29))
    with sessions() as session:
        old_file = media / (session.get(Bulletin, old).audio_path or "")
        young_file = media / (session.get(Bulletin, young).audio_path or "")
    assert old_file.is_file()
    assert young_file.is_file()
    songs = [add_track(sessions, f"Song {i}", 3.5, artist=f"A{i}") for i in range(30)]
    add_playlist(sessions, "Music", songs)
    planner = Planner(sessions, settings, segments=[bulletins.Bulletins(settings)])
    run(planner, START + timedelta(minutes=40))

    with sessions() as session:
        aired = session.scalars(select(Bulletin).where(Bulletin.started_at >= START)).one()
        assert session.get(Bulletin, old).audio_path is None  # on record, not to listen to
        assert session.get(Bulletin, young).audio_path is not None
        listed = [bulletin.id for bulletin in listen_again.recent(session)]
    assert not old_file.exists()
    assert young_file.is_file()
    assert listed == [aired.id, young]
