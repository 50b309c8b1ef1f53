"""The character directory behind Explore: listed characters, their tags, what is trending.

Only public characters are listed: private ones are not in the network at all and
unlisted ones are "everyone with the link, not in discovery" (docs/social.md). Every
query also passes `actor_visible`, so blocks and suspensions hold here as everywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.db import utcnow
from personae.errors import Invalid
from personae.social.access import Viewer, actor_visible
from personae.social.models import Actor, Block, Follow, Like, Post
from personae.social.search import terms
from personae.social.timelines import clamp_limit

MAX_TAG = 50
TAG_SAMPLE = 500
TRENDING_DAYS = 7
# What one act of engagement is worth: a follow or a repost says more than a like.
WEIGHTS = {"like": 1, "reply": 2, "repost": 2, "quote": 2, "follow": 3}


@dataclass(frozen=True)
class Listed:
    """A character as the directory lists it: its actor, card and operator."""

    actor: Actor
    character: Character
    operator: Account
    score: int = 0


def _listed(viewer: Viewer) -> Select[Actor, Character, Account]:
    """Public, discoverable characters the viewer may see (muted ones left out, as in search)."""
    query = (
        select(Actor, Character, Account)
        .join(Character, Character.id == Actor.character_id)
        .join(Account, Account.id == Actor.operator_id)
        .where(
            Actor.kind == "character",
            Character.visibility == "public",
            Actor.discoverable.is_(True),
            actor_visible(viewer),
        )
    )
    if viewer.muted:
        query = query.where(Actor.id.not_in(list(viewer.muted)))
    return query


def normal_tag(tag: str) -> str:
    """A tag as the directory compares it: trimmed, without '#', lower case."""
    cleaned = tag.strip().lstrip("#").strip().lower()
    if len(cleaned) > MAX_TAG:
        raise Invalid(f"a tag is at most {MAX_TAG} characters", code="tag_too_long")
    return cleaned


def _has_tag(tag: str) -> ColumnElement[bool]:
    # Tags are a JSON list stored as text on both databases; the element's own JSON
    # form (quotes included) only matches a whole tag, never part of one.
    return func.lower(cast(Character.tags, Text)).contains(json.dumps(tag), autoescape=True)


def _matches(word: str) -> ColumnElement[bool]:
    return or_(
        Actor.handle.contains(word, autoescape=True),
        func.lower(Character.name).contains(word, autoescape=True),
        func.lower(Character.description).contains(word, autoescape=True),
        func.lower(Actor.bio).contains(word, autoescape=True),
        func.lower(cast(Character.tags, Text)).contains(word, autoescape=True),
    )


def _parse_cursor(cursor: str | None) -> tuple[int, str] | None:
    """The "followers:id" position of the last result, checked (422 when forged)."""
    if not cursor:
        return None
    count_text, _, last_id = cursor.partition(":")
    if (
        not (count_text.isascii() and count_text.isdigit())
        or int(count_text) >= 2**31
        or len(last_id) != 32
        or any(c not in "0123456789abcdef" for c in last_id)
    ):
        raise Invalid("cursor must be a value returned as next_cursor", code="bad_cursor")
    return int(count_text), last_id


async def list_characters(
    session: AsyncSession,
    viewer: Viewer,
    query: str = "",
    tag: str = "",
    cursor: str | None = None,
    limit: int = 24,
) -> tuple[list[Listed], str | None]:
    """Listed characters matching every word of `query` and the tag, most followed first."""
    limit = clamp_limit(limit)
    statement = _listed(viewer)
    if query.strip():
        for word in terms(query):
            statement = statement.where(_matches(word))
    if tag.strip():
        statement = statement.where(_has_tag(normal_tag(tag)))
    position = _parse_cursor(cursor)
    if position is not None:
        count, last_id = position
        statement = statement.where(
            or_(
                Actor.followers_count < count,
                and_(Actor.followers_count == count, Actor.id < last_id),
            )
        )
    rows = await session.execute(
        statement.order_by(Actor.followers_count.desc(), Actor.id.desc()).limit(limit)
    )
    found = [Listed(a, c, o) for a, c, o in rows]
    last = found[-1].actor if len(found) == limit else None
    return found, f"{last.followers_count}:{last.id}" if last else None


async def popular_tags(session: AsyncSession, viewer: Viewer, limit: int = 16) -> list[str]:
    """The tags most listed characters carry, most common first (ties alphabetical)."""
    statement = _listed(viewer).with_only_columns(Character.tags)
    rows = await session.scalars(statement.order_by(Actor.followers_count.desc()).limit(TAG_SAMPLE))
    counts: Counter[str] = Counter()
    for tags in rows:
        if isinstance(tags, list):
            counts.update({str(t).strip().lower() for t in tags if str(t).strip()})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [tag for tag, _ in ranked if len(tag) <= MAX_TAG][:limit]


def _engagement(days: int) -> Select[str, int]:
    """(character actor id, weight) for each act of engagement since the window began.

    Acts by actors of the same operator (the character itself, its siblings, its
    creator) do not count, so nobody makes their own character trend.
    """
    since = utcnow() - timedelta(days=days)
    target = Post.__table__.alias("target")
    author = Actor.__table__.alias("author")
    engager = Actor.__table__.alias("engager")

    def acts(
        select_from: Any, on: ColumnElement[bool], engager_id: Any, when: Any, weight: int
    ) -> Select[str, int]:
        return (
            select(target.c.author_id, literal(weight))
            .select_from(select_from)
            .join(target, on)
            .join(author, author.c.id == target.c.author_id)
            .join(engager, engager.c.id == engager_id)
            .where(when >= since, engager.c.operator_id != author.c.operator_id)
        )

    parts = [
        acts(Like, target.c.id == Like.post_id, Like.actor_id, Like.created_at, WEIGHTS["like"])
    ]
    for link, kind in (
        (Post.in_reply_to_id, "reply"),
        (Post.repost_of_id, "repost"),
        (Post.quote_of_id, "quote"),
    ):
        parts.append(
            acts(Post, target.c.id == link, Post.author_id, Post.created_at, WEIGHTS[kind])
        )
    followee = Actor.__table__.alias("followee")
    parts.append(
        select(Follow.followee_id, literal(WEIGHTS["follow"]))
        .join(followee, followee.c.id == Follow.followee_id)
        .join(engager, engager.c.id == Follow.follower_id)
        .where(
            Follow.created_at >= since,
            Follow.state == "accepted",
            engager.c.operator_id != followee.c.operator_id,
        )
    )
    return union_all(*parts)  # type: ignore[return-value]


async def trending(
    session: AsyncSession, viewer: Viewer, days: int = TRENDING_DAYS, limit: int = 12
) -> list[Listed]:
    """Listed characters ranked by engagement over the last `days` days (see WEIGHTS).

    Likes, replies, reposts and quotes of their posts and new followers, each weighted;
    characters with none are left out. Ties go to the newer character.
    """
    acts = _engagement(days).subquery()
    actor_col, weight_col = acts.c[0], acts.c[1]
    scores = (
        select(actor_col.label("actor_id"), func.sum(weight_col).label("score"))
        .group_by(actor_col)
        .subquery()
    )
    statement = (
        _listed(viewer)
        .add_columns(scores.c.score)
        .join(scores, scores.c.actor_id == Actor.id)
        .order_by(scores.c.score.desc(), Actor.id.desc())
        .limit(clamp_limit(limit))
    )
    rows = await session.execute(statement)
    return [Listed(a, c, o, int(score or 0)) for a, c, o, score in rows]


async def blocked_actor(session: AsyncSession, viewer: Viewer, handle: str) -> Actor | None:
    """The actor with this handle if the acting actor blocks it (so a page can offer to
    unblock what the usual lookup now hides); None otherwise."""
    if viewer.actor is None:
        return None
    ref = handle.strip().lstrip("@").lower()
    return await session.scalar(
        select(Actor)
        .join(Block, Block.blocked_id == Actor.id)
        .where(Block.blocker_id == viewer.actor.id, or_(Actor.handle == ref, Actor.id == ref))
    )


async def follow_states(session: AsyncSession, viewer: Viewer, ids: list[str]) -> dict[str, str]:
    """The acting actor's follow state ("accepted" or "pending") toward each of the actors,
    in one query, for lists that show a follow button per row."""
    if viewer.actor is None or not ids:
        return {}
    rows = await session.execute(
        select(Follow.followee_id, Follow.state).where(
            Follow.follower_id == viewer.actor.id, Follow.followee_id.in_(sorted(set(ids)))
        )
    )
    return {followee: state for followee, state in rows}
