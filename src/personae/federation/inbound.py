"""What a verified activity from another server does here.

Each handler acts as the remote actor through the same social services local people
use (`graph`, `posts`), with a `Viewer` for that actor, so blocks, visibility,
notifications and the characters' autonomy triggers all apply unchanged (Undo is the
exception: it deletes the sender's own rows itself, see there). Handlers run inside the
inbox's transaction (see `inbox.apply`): a failure undoes all of it.

A handler that finds nothing to act on (an unknown follow, a post we never stored)
returns quietly: the activity is still recorded as processed, so it is not retried. A
post nobody here wants raises `Unwanted` instead, so its sender is not stored for it.
Objects of ours that do not exist, or that the sender may not see, are a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import NotFound
from personae.federation.activities import (
    Activity,
    BadActivity,
    Inbound,
    find_post,
    is_local,
    local_handle,
    maybe_id,
)
from personae.federation.context import Federation
from personae.federation.inbound_posts import NOTE_TYPES, create_note, update_note
from personae.federation.models import RemoteActor
from personae.federation.remote import ACTOR_TYPES, BadActor, parse_actor, store
from personae.social import graph, posts
from personae.social.access import Viewer, blocks_and_mutes
from personae.social.counters import release_actor_counts
from personae.social.models import Actor, Block, Follow, Like, Notification, Post


async def _local_actor(ctx: Inbound, uri: str | None) -> Actor | None:
    """The local actor an object names, whoever may see it (Undo takes back regardless)."""
    handle = local_handle(ctx.urls, uri) if uri else None
    if handle is None:
        return None
    return await ctx.session.scalar(
        select(Actor).where(Actor.handle == handle, Actor.domain.is_(None))
    )


async def _local_target(ctx: Inbound, uri: str | None) -> Actor:
    """The local actor an object names, else 404 (the services then check visibility)."""
    actor = await _local_actor(ctx, uri)
    if actor is None:
        raise NotFound("no such actor on this server")
    return actor


# --- follows ----------------------------------------------------------------------------


async def on_follow(ctx: Inbound) -> None:
    """Follow one of ours: followed at once, or a request when the target is locked.

    graph.follow keeps the Follow's id and, once the follow is accepted (now, or later
    by the person), records the Accept our delivery worker sends back.
    """
    target = await _local_target(ctx, ctx.activity.object_id)
    await graph.follow(ctx.session, ctx.viewer, target.handle, uri=ctx.activity.id)


async def _our_follow(ctx: Inbound) -> Follow | None:
    """The follow of the sender by one of ours that an Accept or Reject answers."""
    session, activity = ctx.session, ctx.activity
    if activity.object_id is not None:
        row = await session.scalar(
            select(Follow).where(
                Follow.uri == activity.object_id, Follow.followee_id == ctx.actor.id
            )
        )
        if row is not None:
            return row
    if activity.object_type == "Follow" and isinstance(activity.object, dict):
        follower_uri = maybe_id(activity.object.get("actor"))
        follower = local_handle(ctx.urls, follower_uri) if follower_uri else None
        if follower is None:
            return None
        return await session.scalar(
            select(Follow)
            .join(Actor, Actor.id == Follow.follower_id)
            .where(
                Actor.handle == follower,
                Actor.domain.is_(None),
                Follow.followee_id == ctx.actor.id,
            )
        )
    return None


async def on_accept(ctx: Inbound) -> None:
    """The sender accepted a follow by one of ours."""
    row = await _our_follow(ctx)
    if row is not None and row.state == "pending":
        row.state = "accepted"
        await graph.count_follow(ctx.session, row.follower_id, row.followee_id, 1)


async def on_reject(ctx: Inbound) -> None:
    """The sender refused (or ended) a follow by one of ours."""
    row = await _our_follow(ctx)
    if row is None:
        return
    if row.state == "accepted":
        await graph.count_follow(ctx.session, row.follower_id, row.followee_id, -1)
    await ctx.session.delete(row)


# --- undo ---------------------------------------------------------------------------
# Undo deletes the sender's own row directly, with no visibility check: what it takes
# back must go even when the target has since gone private or out of its sight.


async def _undo_follow(ctx: Inbound, inner_id: str | None, target_uri: str | None) -> None:
    session, sender = ctx.session, ctx.actor
    row = None
    if inner_id is not None:
        row = await session.scalar(
            select(Follow).where(Follow.uri == inner_id, Follow.follower_id == sender.id)
        )
    if row is None:
        target = await _local_actor(ctx, target_uri)
        if target is None:
            return
        row = await session.scalar(
            select(Follow).where(Follow.follower_id == sender.id, Follow.followee_id == target.id)
        )
    if row is None:
        return
    if row.state == "accepted":
        await graph.count_follow(session, row.follower_id, row.followee_id, -1)
    else:  # a request taken back: the person need not answer it any more
        await session.execute(
            delete(Notification).where(
                Notification.recipient_id == row.followee_id,
                Notification.actor_id == sender.id,
                Notification.kind == "follow_request",
            )
        )
    await session.delete(row)


async def _undo_like(ctx: Inbound, target_uri: str | None) -> None:
    post = await find_post(ctx.session, ctx.urls, target_uri) if target_uri else None
    if post is None:
        return
    liked = post.repost_of_id or post.id  # likes of a repost went to the original
    result = await ctx.session.execute(
        delete(Like).where(Like.post_id == liked, Like.actor_id == ctx.actor.id)
    )
    if getattr(result, "rowcount", 0):
        await ctx.session.execute(
            update(Post).where(Post.id == liked).values(likes_count=Post.likes_count - 1)
        )


async def _undo_block(ctx: Inbound, target_uri: str | None) -> None:
    target = await _local_actor(ctx, target_uri)
    if target is not None:
        await ctx.session.execute(
            delete(Block).where(Block.blocker_id == ctx.actor.id, Block.blocked_id == target.id)
        )


async def _undo_repost(ctx: Inbound, inner_id: str | None, target_uri: str | None) -> None:
    session = ctx.session
    repost = None
    if inner_id is not None:
        repost = await session.scalar(
            select(Post).where(Post.uri == inner_id, Post.author_id == ctx.actor.id)
        )
    if repost is None and target_uri is not None:
        original = await find_post(session, ctx.urls, target_uri)
        if original is not None:
            repost = await session.scalar(
                select(Post).where(Post.repost_of_id == original.id, Post.author_id == ctx.actor.id)
            )
    if repost is not None and repost.repost_of_id is not None:
        await posts.remove_post(session, repost)


async def on_undo(ctx: Inbound) -> None:
    """Take back a Follow, Like, Announce or Block (only the sender's own)."""
    activity = ctx.activity
    inner_id = activity.object_id
    inner = activity.object if isinstance(activity.object, dict) else {}
    target_uri = maybe_id(inner.get("object"))
    kind = activity.object_type
    if kind == "Follow" or kind is None:
        await _undo_follow(ctx, inner_id, target_uri)
    if kind == "Announce" or kind is None:
        await _undo_repost(ctx, inner_id, target_uri)
    if kind == "Like":
        await _undo_like(ctx, target_uri)
    if kind == "Block":
        await _undo_block(ctx, target_uri)


# --- posts ----------------------------------------------------------------------------


async def on_like(ctx: Inbound) -> None:
    """Like one of our posts the sender may see (likes of remote posts are their server's)."""
    post = await _post_of(ctx)
    if post is not None and post.uri is None:
        await posts.like(ctx.session, ctx.viewer, post.id)


async def on_announce(ctx: Inbound) -> None:
    """Repost a post we have; posts we never stored are not fetched (nothing to show)."""
    post = await _post_of(ctx)
    if post is None:
        return
    shared = await posts.repost(ctx.session, ctx.viewer, post.id)
    if shared.uri is None:
        shared.uri = ctx.activity.id


async def _post_of(ctx: Inbound) -> Post | None:
    """The post an activity's object names; ours must exist (404), remote ones may not."""
    uri = ctx.activity.object_id
    if uri is None:
        raise BadActivity("the object has no id")
    post = await find_post(ctx.session, ctx.urls, uri)
    if post is None and is_local(ctx.urls, uri):
        raise NotFound("no such post on this server")
    return post


async def on_create(ctx: Inbound) -> None:
    """Store a new post (Note, Article or Question) when someone here may want it."""
    if ctx.activity.object_type in NOTE_TYPES:
        await create_note(ctx)
    elif not isinstance(ctx.activity.object, dict):
        raise BadActivity("a Create must embed the object it creates")


async def on_update(ctx: Inbound) -> None:
    """An edited post, or the sender's new profile."""
    kind = ctx.activity.object_type
    if kind in NOTE_TYPES:
        await update_note(ctx)
    elif kind in ACTOR_TYPES:
        assert isinstance(ctx.activity.object, dict)
        if ctx.activity.object_id != ctx.actor_uri:
            raise BadActivity("an actor can only update itself")
        try:
            parsed = parse_actor(ctx.activity.object, ctx.actor_uri)
        except BadActor as exc:
            raise BadActivity(exc.message) from exc
        await store(ctx.session, parsed)


async def on_delete(ctx: Inbound) -> None:
    """Delete one of the sender's posts or reposts, or the sender itself."""
    uri = ctx.activity.object_id
    if uri is None:
        raise BadActivity("the deleted object has no id")
    session = ctx.session
    if uri == ctx.actor_uri:
        await release_actor_counts(session, ctx.actor.id)
        await session.execute(delete(Actor).where(Actor.id == ctx.actor.id))
        return
    post = await session.scalar(select(Post).where(Post.uri == uri, Post.author_id == ctx.actor.id))
    if post is not None:
        await posts.remove_post(session, post)


async def on_block(ctx: Inbound) -> None:
    """The sender blocks one of ours: follows both ways end, neither sees the other."""
    target = await _local_target(ctx, ctx.activity.object_id)
    await graph.block(ctx.session, ctx.viewer, target.handle)


HANDLERS: dict[str, Callable[[Inbound], Awaitable[None]]] = {
    "Follow": on_follow,
    "Accept": on_accept,
    "Reject": on_reject,
    "Undo": on_undo,
    "Create": on_create,
    "Update": on_update,
    "Delete": on_delete,
    "Like": on_like,
    "Announce": on_announce,
    "Block": on_block,
}


async def handle(
    session: AsyncSession, federation: Federation, activity: Activity, actor_id: str
) -> None:
    """Apply a verified activity from the remote actor `actor_id` (not committed here)."""
    actor = await session.get(Actor, actor_id)
    remote = await session.get(RemoteActor, actor_id)
    if actor is None or remote is None:
        return  # deleted meanwhile: nothing it says matters now
    if actor.suspended:
        return  # the admins suspended it: what it sends is dropped
    blocked, muted = await blocks_and_mutes(session, actor)
    viewer = Viewer(actor=actor, identities=(actor.id,), blocked=blocked, muted=muted)
    ctx = Inbound(session, federation, activity, actor, remote, viewer)
    await HANDLERS[activity.type](ctx)
