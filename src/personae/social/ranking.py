"""The "for you" feed: recent candidates scored by a small, pluggable formula.

Default score (the `balanced` ranker), for a post of age `h` hours:

    score = 0.5 ** (h / 12) * (1 + 0.6 * ln(1 + likes + 2 * reposts + replies)
                               + 1.5 * affinity)

where affinity (0..~3) is 1 when the viewer follows the author, plus ln(1 + n) for the n
of the viewer's latest 500 likes that went to this author. Recency halves the score
every 12 hours; engagement and affinity lift it. `chronological` ranks by time alone.
A ranker is any object with a `name` and a `score(signals, now)`; register new ones in
RANKERS and pick one with the `feed_ranker` setting.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import Invalid
from personae.social.access import Viewer, timeline_filters, visible_posts
from personae.social.models import Like, Post
from personae.social.timelines import clamp_limit, followee_ids, id_at

CANDIDATES_PER_SOURCE = 400
CANDIDATE_WINDOW_DAYS = 3
RECENT_LIKES = 500


@dataclass(frozen=True)
class Signals:
    """What a ranker may look at for one candidate post."""

    post_id: str
    created_at: float
    likes: int
    reposts: int
    replies: int
    affinity: float
    subject: str = ""  # whose words these are: the author, or a repost's original author


class Ranker(Protocol):
    """Scores a candidate; higher comes first."""

    @property
    def name(self) -> str:
        """The name the `feed_ranker` setting uses."""
        ...

    def score(self, signals: Signals, now: float) -> float:
        """The candidate's score at time `now` (Unix seconds)."""
        ...


@dataclass(frozen=True)
class BalancedRanker:
    """Recency decay times (engagement + affinity); see the module docstring."""

    name: str = "balanced"
    half_life_hours: float = 12.0
    engagement_weight: float = 0.6
    affinity_weight: float = 1.5

    def score(self, signals: Signals, now: float) -> float:
        """Decayed engagement-and-affinity score."""
        age_hours = max(0.0, now - signals.created_at) / 3600
        decay = 0.5 ** (age_hours / self.half_life_hours)
        engagement = math.log1p(signals.likes + 2 * signals.reposts + signals.replies)
        return float(decay) * (
            1 + self.engagement_weight * engagement + self.affinity_weight * signals.affinity
        )


@dataclass(frozen=True)
class ChronologicalRanker:
    """Newest first: the score is the creation time."""

    name: str = "chronological"

    def score(self, signals: Signals, now: float) -> float:
        """The post's creation time."""
        return signals.created_at


RANKERS: Mapping[str, Ranker] = {
    "balanced": BalancedRanker(),
    "chronological": ChronologicalRanker(),
}


def get_ranker(name: str) -> Ranker:
    """A registered ranker by name."""
    try:
        return RANKERS[name]
    except KeyError:
        raise Invalid(f"unknown feed ranker '{name}'; one of {', '.join(RANKERS)}") from None


@dataclass(frozen=True)
class RankedPage:
    """A page of the ranked feed."""

    items: list[Post]
    next_cursor: str | None


def _encode_cursor(now: float, score: float, post_id: str) -> str:
    raw = json.dumps({"t": now, "s": score, "i": post_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment, score = float(data["t"]), float(data["s"])
        if not (math.isfinite(moment) and math.isfinite(score)):
            raise ValueError("not a finite number")  # NaN or infinity would break id_at
        return moment, score, str(data["i"])[:32]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Invalid("cursor must be a value returned as next_cursor", "bad_cursor") from None


async def _affinities(session: AsyncSession, actor_id: str, followed: set[str]) -> dict[str, float]:
    recent = (
        select(Like.post_id)
        .where(Like.actor_id == actor_id)
        .order_by(Like.id.desc())
        .limit(RECENT_LIKES)
        .subquery()
    )
    rows = await session.execute(
        select(Post.author_id, func.count())
        .where(Post.id.in_(select(recent.c.post_id)))
        .group_by(Post.author_id)
    )
    scores = {author: math.log1p(int(n)) for author, n in rows}
    for author in followed:
        scores[author] = scores.get(author, 0.0) + 1.0
    return scores


async def for_you(
    session: AsyncSession,
    viewer: Viewer,
    ranker: Ranker,
    cursor: str | None = None,
    limit: int = 20,
) -> RankedPage:
    """Recent posts from followed actors and the public timeline, best first.

    Candidates are the newest few hundred of each source from the last few days; the
    cursor pins the moment of the first page, so later pages rank the same snapshot.
    """
    limit = clamp_limit(limit)
    now = time.time()
    after: tuple[float, str] | None = None
    if cursor:
        now, last_score, last_id = _decode_cursor(cursor)
        after = (last_score, last_id)
    since = id_at(now - CANDIDATE_WINDOW_DAYS * 86400)
    until = id_at(now + 1)
    followed: set[str] = set()
    if viewer.actor is not None:
        followed = set(await followee_ids(session, viewer.actor.id))
    # Two sources: what followed actors posted (any audience the viewer is in) and the
    # public timeline; replies are left to threads.
    sources = [Post.visibility == "public"]
    if followed:
        sources.append(Post.author_id.in_(sorted(followed)))
    # Candidates carry only what ranking needs; the page's full posts are loaded after.
    candidates: dict[str, Signals] = {}
    for source in sources:
        query = (
            select(
                Post.id,
                Post.created_at,
                Post.likes_count,
                Post.reposts_count,
                Post.replies_count,
                Post.author_id,
                Post.origin_author_id,
            )
            .where(
                source,
                Post.is_reply.is_(False),
                Post.id >= since,
                Post.id < until,
                Post.author_id != (viewer.actor_id or ""),
                visible_posts(viewer),
                timeline_filters(viewer),
            )
            .order_by(Post.id.desc())
            .limit(CANDIDATES_PER_SOURCE)
        )
        for row in await session.execute(query):
            post_id, created, likes, reposts, replies, author_id, origin_id = row
            candidates[post_id] = Signals(
                post_id=post_id,
                created_at=created.timestamp(),
                likes=likes,
                reposts=reposts,
                replies=replies,
                # For a repost, affinity is with the original's author (origin); for
                # anything else the origin is the author.
                affinity=0.0,
                subject=origin_id or author_id,
            )
    affinity = (
        await _affinities(session, viewer.actor.id, followed) if viewer.actor is not None else {}
    )
    scored: list[tuple[float, str]] = []
    for signals in candidates.values():
        signals = replace(signals, affinity=affinity.get(signals.subject, 0.0))
        scored.append((round(ranker.score(signals, now), 9), signals.post_id))
    scored.sort(reverse=True)
    if after is not None:
        scored = [s for s in scored if s < after]
    page = scored[:limit]
    next_cursor = None
    if len(scored) > limit and page:
        next_cursor = _encode_cursor(now, page[-1][0], page[-1][1])
    wanted = [post_id for _, post_id in page]
    loaded = {p.id: p for p in await session.scalars(select(Post).where(Post.id.in_(wanted)))}
    return RankedPage([loaded[i] for i in wanted if i in loaded], next_cursor)
