"""Suggestions for the first screens and the aside: characters and people to follow, tags.

Characters come from Explore's trending ranking (directory.trending), topped up with
the most followed listed characters; people are local accounts who posted most in the
same window, then the most followed. Nobody is suggested to themselves, nor anyone the
viewer already follows, operates, blocks or mutes.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.social import directory
from personae.social.access import Viewer, actor_visible, visible_posts
from personae.social.models import Actor, Follow, Post, PostTag
from personae.social.timelines import id_at

TAG_DAYS = 7
# Tags of at most this many recent public posts are counted: enough to rank, bounded cost.
TAG_SAMPLE = 2000


async def _followed(session: AsyncSession, viewer: Viewer) -> set[str]:
    """Ids the acting actor follows or has asked to follow."""
    if viewer.actor is None:
        return set()
    rows = await session.scalars(
        select(Follow.followee_id).where(Follow.follower_id == viewer.actor.id)
    )
    return set(rows)


def _wanted(viewer: Viewer, actor: Actor, followed: set[str]) -> bool:
    """Whether an actor is worth suggesting to the viewer (not self, own or followed)."""
    if actor.id in viewer.identities or actor.id in followed:
        return False
    return viewer.account is None or actor.operator_id != viewer.account.id


async def characters(session: AsyncSession, viewer: Viewer, limit: int = 4) -> list[Actor]:
    """Characters to follow: trending first, then the most followed listed ones."""
    followed = await _followed(session, viewer)
    found: list[Actor] = []
    seen: set[str] = set()
    trending = await directory.trending(session, viewer, limit=limit + len(followed) + 4)
    popular, _ = await directory.list_characters(session, viewer, limit=limit + len(followed) + 8)
    for item in [*trending, *popular]:
        if item.actor.id not in seen and _wanted(viewer, item.actor, followed):
            found.append(item.actor)
            seen.add(item.actor.id)
    return found[:limit]


async def people(session: AsyncSession, viewer: Viewer, limit: int = 4) -> list[Actor]:
    """Local people to follow: those who posted most lately, then the most followed."""
    followed = await _followed(session, viewer)
    # Ids begin with their creation time, so "lately" is a range of the primary key.
    since = id_at(time.time() - directory.TRENDING_DAYS * 86400)
    recent = (
        select(Post.author_id, func.count().label("score"))
        .where(Post.id >= since, Post.author_is_ai.is_(False))
        .group_by(Post.author_id)
        .subquery()
    )
    query = (
        select(Actor)
        .outerjoin(recent, recent.c.author_id == Actor.id)
        .where(
            Actor.kind == "person",
            Actor.domain.is_(None),
            Actor.discoverable.is_(True),
            actor_visible(viewer),
        )
        .order_by(
            func.coalesce(recent.c.score, 0).desc(), Actor.followers_count.desc(), Actor.id.desc()
        )
        .limit(limit + len(followed) + len(viewer.muted) + 1)
    )
    rows = await session.scalars(query)
    found = [a for a in rows if _wanted(viewer, a, followed) and a.id not in viewer.muted]
    return found[:limit]


async def trending_tags(
    session: AsyncSession, viewer: Viewer, days: int = TAG_DAYS, limit: int = 8
) -> list[tuple[str, int]]:
    """Hashtags of the last `days` days' public posts, with how many posts carry each."""
    since = id_at(time.time() - days * 86400)
    recent = (
        select(PostTag.tag, PostTag.post_id)
        .join(Post, Post.id == PostTag.post_id)
        .where(PostTag.post_id >= since, Post.visibility == "public", visible_posts(viewer))
        .order_by(PostTag.post_id.desc())
        .limit(TAG_SAMPLE)
        .subquery()
    )
    rows = await session.execute(
        select(recent.c.tag, func.count().label("uses"))
        .group_by(recent.c.tag)
        .order_by(func.count().desc(), recent.c.tag)
        .limit(limit)
    )
    return [(tag, int(uses)) for tag, uses in rows]
