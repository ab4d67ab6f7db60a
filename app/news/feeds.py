"""The station's own feeds: RSS 2.0 of published articles, and a podcast feed (RSS with the
iTunes tags and an `<enclosure>` per story) so the spoken news can be followed in a podcast
app. The builders are pure; ElementTree does all the escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.library.scanner import RECORDINGS_DIR
from app.models import Article, ArticleStatus, Speech, SpeechStatus, Track, TrackKind, TrackStatus
from app.news import listen_again

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
FEED_LIMIT = 50  # the freshest stories; podcast apps and readers keep their own history
SUMMARY_CHARS = 600  # a description made from the body when an article has no summary


@dataclass(frozen=True)
class Episode:
    """A published story with ready speech: what its enclosure needs to say."""

    article: Article
    duration: float  # seconds
    length: int  # bytes of the MP3 served at /news/<slug>.mp3


@dataclass(frozen=True)
class BulletinEpisode:
    """A news bulletin as it aired (listen again): its MP3 at /news/bulletins/<id>.mp3."""

    bulletin_id: int
    audio_path: str  # the MP3's path on the site
    title: str
    started_at: datetime
    stories: tuple[str, ...]  # the titles of the published stories it carried
    duration: float  # seconds
    length: int  # bytes of the MP3 served


@dataclass(frozen=True)
class RecordingEpisode:
    """A live show as it aired (app/live/recording.py): a library track of kind recording,
    its MP3 at /recordings/<track id>.mp3."""

    track_id: int
    title: str  # "<show> – <date>"
    show: str
    host: str
    recorded_at: datetime  # when it was added to the library, as the show ended
    duration: float  # seconds
    length: int  # bytes of the MP3 served


AnyEpisode = Episode | BulletinEpisode | RecordingEpisode


def recording_url(track_id: int) -> str:
    return f"/recordings/{track_id}.mp3"


def _episode_date(episode: AnyEpisode) -> datetime:
    if isinstance(episode, BulletinEpisode):
        return episode.started_at.astimezone(UTC)
    if isinstance(episode, RecordingEpisode):
        when = episode.recorded_at
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return _published(episode.article)


def article_url(site_url: str, slug: str) -> str:
    return f"{site_url.rstrip('/')}/news/{slug}"


def rss_feed(articles: Sequence[Article], site_url: str, station_name: str,
             description: str = "", image_url: str | None = None) -> bytes:  # fmt: skip
    """RSS 2.0 of the given (published) articles, in the order given."""
    rss, channel = _channel(site_url, station_name, description, "/news/feed.xml", image_url)
    for article in articles:
        _item(channel, article, site_url)
    return _serialise(rss)


def podcast_feed(episodes: Sequence[AnyEpisode], site_url: str,
                 station_name: str, description: str = "",
                 image_url: str | None = None) -> bytes:  # fmt: skip
    """RSS 2.0 with the iTunes namespace: one episode per story with ready speech, one per
    bulletin kept as it aired, and one per live show recorded."""
    ET.register_namespace("itunes", ITUNES)  # so the tags read itunes:..., not ns0:...
    rss, channel = _channel(site_url, f"{station_name} News", description, "/news/podcast.xml",
                            image_url)  # fmt: skip
    _sub(channel, f"{{{ITUNES}}}author", station_name)
    _sub(channel, f"{{{ITUNES}}}summary", description or f"The news from {station_name}.")
    _sub(channel, f"{{{ITUNES}}}explicit", "false")
    ET.SubElement(channel, f"{{{ITUNES}}}category", text="News")
    if image_url:
        ET.SubElement(channel, f"{{{ITUNES}}}image", href=image_url)
    for episode in episodes:
        if isinstance(episode, BulletinEpisode):
            _bulletin_item(channel, episode, site_url, station_name)
            continue
        if isinstance(episode, RecordingEpisode):
            _recording_item(channel, episode, site_url)
            continue
        item = _item(channel, episode.article, site_url)
        url = f"{article_url(site_url, episode.article.slug)}.mp3"
        ET.SubElement(item, "enclosure", url=url, length=str(episode.length), type="audio/mpeg")
        _sub(item, f"{{{ITUNES}}}author", episode.article.author or station_name)
        _sub(item, f"{{{ITUNES}}}summary", _description(episode.article))
        _sub(item, f"{{{ITUNES}}}explicit", "false")
        _sub(item, f"{{{ITUNES}}}duration", _duration(episode.duration))
    return _serialise(rss)


def _bulletin_item(channel: ET.Element, episode: BulletinEpisode, site_url: str,
                   station_name: str) -> None:  # fmt: skip
    item = ET.SubElement(channel, "item")
    url = f"{site_url.rstrip('/')}{episode.audio_path}"
    summary = "; ".join(episode.stories) or f"The news on {station_name}."
    _sub(item, "title", episode.title)
    _sub(item, "link", f"{site_url.rstrip('/')}/news#bulletin-{episode.bulletin_id}")
    ET.SubElement(item, "guid", isPermaLink="true").text = url
    _sub(item, "pubDate", format_datetime(_episode_date(episode), usegmt=True))
    _sub(item, "description", summary)
    _sub(item, "category", "Bulletins")
    ET.SubElement(item, "enclosure", url=url, length=str(episode.length), type="audio/mpeg")
    _sub(item, f"{{{ITUNES}}}author", station_name)
    _sub(item, f"{{{ITUNES}}}summary", summary)
    _sub(item, f"{{{ITUNES}}}explicit", "false")
    _sub(item, f"{{{ITUNES}}}duration", _duration(episode.duration))


def _recording_item(channel: ET.Element, episode: RecordingEpisode, site_url: str) -> None:
    item = ET.SubElement(channel, "item")
    url = f"{site_url.rstrip('/')}{recording_url(episode.track_id)}"
    summary = f"{episode.show} with {episode.host}, recorded live."
    _sub(item, "title", episode.title)
    ET.SubElement(item, "guid", isPermaLink="true").text = url
    _sub(item, "pubDate", format_datetime(_episode_date(episode), usegmt=True))
    _sub(item, "description", summary)
    _sub(item, "category", "Shows")
    ET.SubElement(item, "enclosure", url=url, length=str(episode.length), type="audio/mpeg")
    _sub(item, f"{{{ITUNES}}}author", episode.host)
    _sub(item, f"{{{ITUNES}}}summary", summary)
    _sub(item, f"{{{ITUNES}}}explicit", "false")
    _sub(item, f"{{{ITUNES}}}duration", _duration(episode.duration))


def _channel(site_url: str, title: str, description: str, self_path: str,
             image_url: str | None = None) -> tuple[ET.Element, ET.Element]:  # fmt: skip
    ET.register_namespace("atom", ATOM)
    ET.register_namespace("dc", DC)
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    _sub(channel, "title", title)
    _sub(channel, "link", f"{site_url.rstrip('/')}/news")
    _sub(channel, "description", description or f"The news from {title}.")
    _sub(channel, "language", "en")
    _sub(channel, "generator", "radio station news desk")
    href = f"{site_url.rstrip('/')}{self_path}"
    ET.SubElement(channel, f"{{{ATOM}}}link", href=href, rel="self", type="application/rss+xml")
    if image_url:  # the station's logo, as feed readers show it beside the channel
        image = ET.SubElement(channel, "image")
        _sub(image, "url", image_url)
        _sub(image, "title", title)
        _sub(image, "link", f"{site_url.rstrip('/')}/news")
    return rss, channel


def _item(channel: ET.Element, article: Article, site_url: str) -> ET.Element:
    item = ET.SubElement(channel, "item")
    link = article_url(site_url, article.slug)
    _sub(item, "title", article.title)
    _sub(item, "link", link)
    ET.SubElement(item, "guid", isPermaLink="true").text = link
    _sub(item, "pubDate", format_datetime(_published(article), usegmt=True))
    _sub(item, "description", _description(article))
    if article.author:  # RSS's own <author> must be an email address; a name goes here
        _sub(item, f"{{{DC}}}creator", article.author)
    if article.category:
        _sub(item, "category", article.category)
    return item


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _published(article: Article) -> datetime:
    when = article.publish_at or article.created_at or datetime.now(UTC)
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _description(article: Article) -> str:
    if article.summary.strip():
        return article.summary.strip()
    body = " ".join(article.body.split())
    return body if len(body) <= SUMMARY_CHARS else body[:SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"


def _duration(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _serialise(rss: ET.Element) -> bytes:
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)


# --- What the feeds carry --------------------------------------------------------------------


def _published_query(now: datetime) -> Select[tuple[Article]]:
    return (
        select(Article)
        .where(Article.status == ArticleStatus.published)
        .where(or_(Article.publish_at.is_(None), Article.publish_at <= now))
        .order_by(func.coalesce(Article.publish_at, Article.created_at).desc(), Article.id.desc())
    )


def published_articles(session: Session, now: datetime, limit: int = FEED_LIMIT) -> list[Article]:
    """The freshest published stories; drafts, scheduled and retracted ones never appear."""
    return list(session.scalars(_published_query(now).limit(limit)))


def podcast_episodes(session: Session, media_dir: Path, now: datetime,
                     limit: int = FEED_LIMIT) -> list[AnyEpisode]:  # fmt: skip
    """Published stories whose speech is ready as an MP3 file on disk, the bulletins kept
    as they aired, and the recorded live shows: the newest `limit` of them together, newest
    first."""
    query = (
        _published_query(now)
        .add_columns(Speech)
        .join(Speech, Speech.article_id == Article.id)
        .where(Speech.status == SpeechStatus.ready, Speech.path.is_not(None))
        .limit(limit)
    )
    episodes = []
    for article, speech in session.execute(query):
        path = media_dir / (speech.path or "")
        if path.suffix.lower() != ".mp3" or not path.is_file():
            continue  # the enclosure's length must be the bytes really served
        episodes.append(Episode(article, speech.duration or 0.0, path.stat().st_size))
    every: list[AnyEpisode] = [*episodes, *bulletin_episodes(session, media_dir, limit),
                               *recording_episodes(session, media_dir, limit)]  # fmt: skip
    return sorted(every, key=_episode_date, reverse=True)[:limit]


def bulletin_episodes(session: Session, media_dir: Path,
                      limit: int = FEED_LIMIT) -> list[BulletinEpisode]:  # fmt: skip
    """The newest bulletins kept for listening again whose MP3 is on disk."""
    kept = listen_again.recent(session, limit)
    carried = listen_again.stories_of(session, [bulletin.id for bulletin in kept])
    episodes = []
    for bulletin in kept:
        path = listen_again.audio_file(bulletin, media_dir)
        if path is None:
            continue
        titles = tuple(article.title for article in carried.get(bulletin.id, []))
        episodes.append(BulletinEpisode(bulletin.id, listen_again.audio_url(bulletin),
                                        bulletin.title or "News", bulletin.started_at,
                                        titles, bulletin.duration or 0.0,
                                        path.stat().st_size))  # fmt: skip
    return episodes


def recording_file(track: Track, media_dir: Path) -> Path | None:
    """A recording's MP3, only inside media/recordings/ (the path comes from the database)."""
    if track.kind is not TrackKind.recording or track.status is TrackStatus.unplayable:
        return None
    folder = (media_dir / RECORDINGS_DIR).resolve()
    path = (media_dir / track.path).resolve()
    if path.suffix.lower() != ".mp3" or not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def recording_episodes(session: Session, media_dir: Path,
                       limit: int = FEED_LIMIT) -> list[RecordingEpisode]:  # fmt: skip
    """The newest recorded live shows whose MP3 is on disk (not the unplayable)."""
    tracks = session.scalars(
        select(Track)
        .where(Track.kind == TrackKind.recording, Track.status != TrackStatus.unplayable)
        .order_by(Track.added_at.desc(), Track.id.desc())
        .limit(limit)
    )
    episodes = []
    for track in tracks:
        path = recording_file(track, media_dir)
        if path is None:
            continue
        episodes.append(RecordingEpisode(track.id, track.title, track.album or track.title,
                                         track.artist, track.added_at, track.duration or 0.0,
                                         path.stat().st_size))  # fmt: skip
    return episodes
