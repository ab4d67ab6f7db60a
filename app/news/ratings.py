"""1-5 star ratings: one vote per listener per article; voting again replaces the vote.
A listener is the station's listener cookie; one client address may add at most
NEW_PER_ADDRESS listeners' votes to an article within NEW_WINDOW_SECONDS, so one machine
cannot stuff a story's rating by making up identities (the API layer keeps that count)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Rating

MIN_STARS = 1
MAX_STARS = 5
NEW_PER_ADDRESS = 5  # new votes for one article from one client address ...
NEW_WINDOW_SECONDS = 3600  # ... within this sliding window; changing one's vote is free


@dataclass(frozen=True)
class RatingSummary:
    average: float | None  # None until someone votes
    count: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"average": self.average, "count": self.count}


def parse_stars(value: object) -> int:
    """The stars as an int, or ValueError with a message a listener can act on."""
    try:
        stars = int(str(value).strip())
    except ValueError:
        raise ValueError(f"stars must be a whole number from {MIN_STARS} to {MAX_STARS}") from None
    if not MIN_STARS <= stars <= MAX_STARS:
        raise ValueError(f"stars must be from {MIN_STARS} to {MAX_STARS}, not {stars}")
    return stars


def rate(session: Session, article_id: int, listener: str, stars: int) -> Rating:
    """Record `listener`'s vote (a hash), replacing any earlier vote of theirs."""
    stars = parse_stars(stars)
    rating = session.scalar(
        select(Rating).where(Rating.article_id == article_id, Rating.listener == listener)
    )
    if rating is None:
        rating = Rating(article_id=article_id, listener=listener, stars=stars)
        session.add(rating)
    else:
        rating.stars = stars
    session.flush()
    return rating


def summary(session: Session, article_id: int) -> RatingSummary:
    average, count = session.execute(
        select(func.avg(Rating.stars), func.count(Rating.id)).where(Rating.article_id == article_id)
    ).one()
    return RatingSummary(round(float(average), 2) if count else None, int(count))


def stars_of(session: Session, article_id: int, listener: str | None) -> int | None:
    """The listener's own vote, so the page can show it."""
    if listener is None:
        return None
    return session.scalar(
        select(Rating.stars).where(Rating.article_id == article_id, Rating.listener == listener)
    )
