"""Timelines: home, local public, profiles, hashtags and threads, paged by id cursors.

Home is assembled on read ("fan-out on read"): the followed authors' newest posts come
from the (author_id, id) index inside a time window that starts narrow and widens only
when it holds too few posts, so a page reads a few hundred index entries however old
the instance is. Ids start with their creation time, so a window is an id range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.db import check_cursor as check_cursor  # every list pages by id cursor
from personae.errors import Invalid
from personae.social.access import (
    Viewer,
    get_visible_actor,
    get_visible_post,
    timeline_filters,
    visible_posts,
)
from personae.social.models import Follow, Post, PostTag

PAGE_MAX = 40
# Home windows in days: narrow first; the last is "everything".
HOME_WINDOWS_DAYS = (1, 7, 30, 365, None)
THREAD_MAX = 5000


@dataclass(frozen=True)
class Page:
    """One page of posts and the cursor of the next (None at the end)."""

    items: list[Post]
    next_cursor: str | None


def clamp_limit(limit: int) -> int:
    """Page sizes from 1 to PAGE_MAX."""
    return max(1, min(int(limit), PAGE_MAX))


def id_at(seconds: float) -> str:
    """The smallest id a post created at `seconds` (Unix time) can have."""
    return f"{max(0, int(seconds * 1_000_000)):014x}" + "0" * 18


def _paged(rows: list[Post], limit: int) -> Page:
    return Page(rows, rows[-1].id if len(rows) == limit and rows else None)


async def _fetch(session: AsyncSession, query: Select[Post], limit: int) -> list[Post]:
    return list(await session.scalars(query.order_by(Post.id.desc()).limit(limit)))


async def followee_ids(session: AsyncSession, actor_id: str) -> list[str]:
    """Ids the actor follows (accepted)."""
    rows = await session.scalars(
        select(Follow.followee_id).where(Follow.follower_id == actor_id, Follow.state == "accepted")
    )
    return list(rows)


def home_query(viewer: Viewer, authors: list[str]) -> Select[Post]:
    """Posts by the given authors the viewer may see; replies only to people in the circle."""
    actor_id = viewer.require_actor().id
    return select(Post).where(
        Post.author_id.in_(authors),
        or_(
            Post.is_reply.is_(False),
            Post.author_id == actor_id,
            Post.reply_to_author_id.in_(authors),
        ),
        visible_posts(viewer),
        timeline_filters(viewer),
    )


async def home(
    session: AsyncSession, viewer: Viewer, cursor: str | None = None, limit: int = 20
) -> Page:
    """The acting actor's own posts and those of everyone it follows, newest first."""
    actor = viewer.require_actor()
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    authors = [actor.id, *await followee_ids(session, actor.id)]
    base = home_query(viewer, authors)
    if cursor:
        base = base.where(Post.id < cursor)
    newest = time.time()
    if cursor:
        newest = int(cursor[:14], 16) / 1_000_000
    found: list[Post] = []
    for days in HOME_WINDOWS_DAYS:
        query = base if days is None else base.where(Post.id >= id_at(newest - days * 86400))
        found = await _fetch(session, query, limit)
        if len(found) == limit:
            break
    return _paged(found, limit)


async def public(
    session: AsyncSession,
    viewer: Viewer,
    cursor: str | None = None,
    limit: int = 20,
) -> Page:
    """The local public timeline: public posts that are not replies, newest first."""
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    query = select(Post).where(
        Post.visibility == "public",
        Post.is_reply.is_(False),
        visible_posts(viewer),
        timeline_filters(viewer),
    )
    if cursor:
        query = query.where(Post.id < cursor)
    return _paged(await _fetch(session, query, limit), limit)


async def profile(
    session: AsyncSession,
    viewer: Viewer,
    handle: str,
    with_replies: bool = False,
    cursor: str | None = None,
    limit: int = 20,
) -> Page:
    """An actor's posts and reposts (replies too when asked), newest first."""
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    actor = await get_visible_actor(session, viewer, handle)
    query = select(Post).where(Post.author_id == actor.id, visible_posts(viewer))
    if not with_replies:
        query = query.where(Post.is_reply.is_(False))
    if cursor:
        query = query.where(Post.id < cursor)
    return _paged(await _fetch(session, query, limit), limit)


async def hashtag(
    session: AsyncSession,
    viewer: Viewer,
    tag: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page:
    """Public posts with a hashtag, newest first."""
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    name = tag.strip().lstrip("#").lower()
    if not name or len(name) > 100 or "\x00" in name:
        raise Invalid("a hashtag is 1-100 characters", code="bad_tag")
    query = (
        select(Post)
        .join(PostTag, PostTag.post_id == Post.id)
        .where(
            PostTag.tag == name,
            Post.visibility == "public",
            visible_posts(viewer),
            timeline_filters(viewer),
        )
    )
    if cursor:
        query = query.where(PostTag.post_id < cursor)
    rows = list(await session.scalars(query.order_by(PostTag.post_id.desc()).limit(limit)))
    return _paged(rows, limit)


@dataclass(frozen=True)
class Thread:
    """A post with the chain above it and (a page of) the replies below it."""

    ancestors: list[Post]
    post: Post
    descendants: list[Post]
    next_cursor: str | None


async def thread(
    session: AsyncSession,
    viewer: Viewer,
    post_id: str,
    cursor: str | None = None,
    limit: int = 40,
) -> Thread:
    """The thread around a post: visible ancestors, then visible replies in time order."""
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    post = await get_visible_post(session, viewer, post_id)
    if post.repost_of_id:
        post = await get_visible_post(session, viewer, post.repost_of_id)
    ancestors: list[Post] = []
    if cursor is None:
        parent_id = post.in_reply_to_id
        while parent_id and len(ancestors) < 100:
            parent = await session.scalar(
                select(Post).where(Post.id == parent_id, visible_posts(viewer))
            )
            if parent is None:
                break
            ancestors.append(parent)
            parent_id = parent.in_reply_to_id
        ancestors.reverse()
    # The whole thread's shape (ids and parents only), then the subtree under this post.
    shape = await session.execute(
        select(Post.id, Post.in_reply_to_id)
        .where(
            Post.root_id == post.root_id,
            Post.id > post.id,
            Post.repost_of_id.is_(None),
            visible_posts(viewer),
            timeline_filters(viewer),
        )
        .order_by(Post.id)
        .limit(THREAD_MAX)
    )
    inside = {post.id}
    subtree: list[str] = []
    for child_id, parent_id in shape:
        if parent_id in inside:
            inside.add(child_id)
            subtree.append(child_id)
    if cursor:
        subtree = [i for i in subtree if i > cursor]
    page_ids = subtree[:limit]
    rows = {p.id: p for p in await session.scalars(select(Post).where(Post.id.in_(page_ids)))}
    descendants = [rows[i] for i in page_ids if i in rows]
    more = len(subtree) > limit
    return Thread(ancestors, post, descendants, page_ids[-1] if more and page_ids else None)
