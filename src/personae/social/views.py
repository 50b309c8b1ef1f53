"""API representations of actors and posts, loaded in batches (a fixed number of queries
per page, whatever its length)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.social.access import Viewer, visible_posts
from personae.social.graph import Relationship
from personae.social.models import Actor, Like, Notification, Post, PostMention, PostTag


def ai_label(actor: Actor, operator: str | None) -> str | None:
    """The label every rendering of an AI actor carries."""
    if not actor.is_ai:
        return None
    return f"AI character operated by @{operator}" if operator else "AI character"


def actor_summary(actor: Actor, operator: Account | None) -> dict[str, Any]:
    """The short form of an actor, as embedded in posts and lists."""
    operator_out = None
    if actor.kind == "character" and operator is not None:
        operator_out = {
            "id": operator.id,
            "handle": operator.username,
            "display_name": operator.display_name,
        }
    return {
        "id": actor.id,
        "handle": actor.handle,
        "display_name": actor.display_name,
        "kind": actor.kind,
        "is_ai": actor.is_ai,
        "ai_label": ai_label(actor, operator.username if operator else None),
        "operator": operator_out,
        "locked": actor.locked,
        "avatar_url": f"/api/v1/actors/{actor.handle}/avatar",
        "url": f"/@{actor.handle}",
        # The server of a remote actor (its handle is user@domain); None for local ones.
        "domain": actor.domain,
    }


def actor_profile(
    actor: Actor, operator: Account | None, relationship: Relationship | None
) -> dict[str, Any]:
    """The full profile of an actor, with the viewer's relationship to it."""
    out = actor_summary(actor, operator)
    out.update(
        {
            "bio": actor.bio,
            "fields": actor.fields,
            "header_url": f"/api/v1/actors/{actor.handle}/header",
            "created_at": actor.created_at.isoformat(),
            "followers_count": actor.followers_count,
            "following_count": actor.following_count,
            "posts_count": actor.posts_count,
            "private": actor.hidden,
            "suspended": actor.suspended,
        }
    )
    if relationship is not None:
        out["relationship"] = {
            "following": relationship.following,
            "requested": relationship.requested,
            "followed_by": relationship.followed_by,
            "blocking": relationship.blocking,
            "muting": relationship.muting,
        }
    return out


async def load_actors(
    session: AsyncSession, ids: set[str]
) -> dict[str, tuple[Actor, Account | None]]:
    """Actors by id with their operators' accounts (None for remote actors, which have none)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Actor, Account)
        .outerjoin(Account, Account.id == Actor.operator_id)
        .where(Actor.id.in_(sorted(ids)))
    )
    return {actor.id: (actor, account) for actor, account in rows}


async def render_actors(session: AsyncSession, actors: list[Actor]) -> list[dict[str, Any]]:
    """Summaries of several actors."""
    loaded = await load_actors(session, {a.id for a in actors})
    return [actor_summary(a, loaded[a.id][1] if a.id in loaded else None) for a in actors]


async def render_posts(
    session: AsyncSession, viewer: Viewer, posts: list[Post]
) -> list[dict[str, Any]]:
    """API forms of posts (reposts embed their original, quotes the quoted post)."""
    if not posts:
        return []
    # Reposted originals and quoted posts in one query; quotes inside originals after.
    embedded: dict[str, Post] = {}
    wanted = {p.repost_of_id for p in posts if p.repost_of_id}
    wanted |= {p.quote_of_id for p in posts if p.quote_of_id}
    for _ in range(2):
        wanted -= set(embedded) | {p.id for p in posts}
        if not wanted:
            break
        for post in await session.scalars(
            select(Post).where(Post.id.in_(sorted(wanted)), visible_posts(viewer))
        ):
            embedded[post.id] = post
        wanted = {p.quote_of_id for p in embedded.values() if p.quote_of_id}
    every = {p.id: p for p in [*posts, *embedded.values()]}
    ids = sorted(every)
    # Mentions, tags, and the viewer's own likes and reposts: one round trip.
    mentions: dict[str, list[str]] = defaultdict(list)
    tags: dict[str, list[str]] = defaultdict(list)
    liked: set[str] = set()
    reposted: set[str] = set()
    parts: list[Any] = [
        select(literal("m"), PostMention.post_id, PostMention.actor_id).where(
            PostMention.post_id.in_(ids)
        ),
        select(literal("t"), PostTag.post_id, PostTag.tag).where(PostTag.post_id.in_(ids)),
    ]
    if viewer.actor_id:
        parts += [
            select(literal("l"), Like.post_id, Like.actor_id).where(
                Like.actor_id == viewer.actor_id, Like.post_id.in_(ids)
            ),
            select(literal("r"), Post.repost_of_id, Post.author_id).where(
                Post.author_id == viewer.actor_id, Post.repost_of_id.in_(ids)
            ),
        ]
    for kind, post_id, value in (await session.execute(union_all(*parts))).all():
        if kind == "m":
            mentions[post_id].append(value)
        elif kind == "t":
            tags[post_id].append(value)
        elif kind == "l":
            liked.add(post_id)
        else:
            reposted.add(post_id)
    actor_ids = {p.author_id for p in every.values()}
    actor_ids |= {a for listed in mentions.values() for a in listed}
    actors = await load_actors(session, actor_ids)

    def shown(actor_id: str) -> bool:
        # The same rule as access.actor_visible, on actors already loaded.
        if actor_id not in actors or actor_id in viewer.blocked:
            return False
        actor = actors[actor_id][0]
        return actor_id in viewer.identities or not (actor.hidden or actor.suspended)

    def one(post: Post, depth: int = 0) -> dict[str, Any]:
        author, operator = actors[post.author_id]
        out: dict[str, Any] = {
            "id": post.id,
            "created_at": post.created_at.isoformat(),
            "edited_at": post.edited_at.isoformat() if post.edited_at else None,
            "author": actor_summary(author, operator),
            "is_ai": post.author_is_ai or post.origin_is_ai,
            "ai_label": ai_label(author, operator.username if operator else None),
            "visibility": post.visibility,
            "text": post.text,
            "content_html": post.content_html,
            "content_warning": post.content_warning,
            "language": post.language,
            "in_reply_to_id": post.in_reply_to_id,
            "is_reply": post.is_reply,
            "root_id": post.root_id,
            "mentions": [
                {"id": a, "handle": actors[a][0].handle}
                for a in sorted(mentions.get(post.id, []))
                if shown(a)
            ],
            "tags": sorted(tags.get(post.id, [])),
            "likes_count": post.likes_count,
            "reposts_count": post.reposts_count,
            "replies_count": post.replies_count,
            "quotes_count": post.quotes_count,
            "liked": post.id in liked,
            "reposted": post.id in reposted,
            "url": f"/@{author.handle}/{post.id}",
            "repost_of": None,
            "quote": None,
        }
        if post.repost_of_id:
            original = every.get(post.repost_of_id)
            out["repost_of"] = one(original, depth + 1) if original else {"unavailable": True}
        if post.quote_of_id and depth < 1:
            quoted = every.get(post.quote_of_id)
            out["quote"] = one(quoted, depth + 1) if quoted else {"unavailable": True}
        elif post.quote_of_id:
            out["quote"] = {"id": post.quote_of_id}
        return out

    return [one(p) for p in posts]


async def actor_handles(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Handles of actors by id (ids of actors that are gone are left out)."""
    if not ids:
        return {}
    rows = await session.execute(select(Actor.id, Actor.handle).where(Actor.id.in_(sorted(ids))))
    return {ident: handle for ident, handle in rows}


async def render_notifications(
    session: AsyncSession, viewer: Viewer, rows: list[Notification]
) -> list[dict[str, Any]]:
    """API forms of notifications, with who acted and the post (if the viewer may see it)."""
    actors = await load_actors(session, {n.actor_id for n in rows})
    post_ids = sorted({n.post_id for n in rows if n.post_id})
    posts: dict[str, dict[str, Any]] = {}
    if post_ids:
        found = list(await session.scalars(select(Post).where(Post.id.in_(post_ids))))
        posts = {p["id"]: p for p in await render_posts(session, viewer, found)}
    listed = [pair[0] for pair in actors.values()]
    summaries = {a.id: s for a, s in zip(listed, await render_actors(session, listed), strict=True)}
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "created_at": n.created_at.isoformat(),
            "read": n.read,
            "actor": summaries.get(n.actor_id),
            "post": posts.get(n.post_id) if n.post_id else None,
        }
        for n in rows
    ]
