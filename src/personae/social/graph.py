"""The social graph: follows (and requests), blocks and mutes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.db import new_id
from personae.errors import Conflict, Invalid, NotFound
from personae.social.access import Viewer, actor_visible, get_visible_actor
from personae.social.actors import require_can_publish
from personae.social.events import (
    Blocked,
    FollowAccepted,
    Followed,
    FollowRejected,
    Unblocked,
    Unfollowed,
)
from personae.social.models import Actor, Block, Follow, Mute, Notification
from personae.social.notifications import notify
from personae.social.rows import insert_new
from personae.social.timelines import check_cursor


@dataclass(frozen=True)
class Relationship:
    """How the acting actor and another actor stand."""

    following: bool = False
    requested: bool = False
    followed_by: bool = False
    blocking: bool = False
    muting: bool = False


async def relationship(session: AsyncSession, viewer: Viewer, other_id: str) -> Relationship:
    """The acting actor's relationship to another actor (all false when anonymous)."""
    me = viewer.actor_id
    if me is None or me == other_id:
        return Relationship()
    follows = await session.execute(
        select(Follow.follower_id, Follow.state).where(
            or_(
                and_(Follow.follower_id == me, Follow.followee_id == other_id),
                and_(Follow.follower_id == other_id, Follow.followee_id == me),
            )
        )
    )
    mine = {row[0]: row[1] for row in follows}
    blocking = await session.scalar(
        select(Block.id).where(Block.blocker_id == me, Block.blocked_id == other_id)
    )
    return Relationship(
        following=mine.get(me) == "accepted",
        requested=mine.get(me) == "pending",
        followed_by=mine.get(other_id) == "accepted",
        blocking=blocking is not None,
        muting=other_id in viewer.muted,
    )


async def count_follow(
    session: AsyncSession, follower_id: str, followee_id: str, step: int
) -> None:
    """Move the two counters an accepted follow adds to (not committed)."""
    await session.execute(
        update(Actor)
        .where(Actor.id == follower_id)
        .values(following_count=Actor.following_count + step)
    )
    await session.execute(
        update(Actor)
        .where(Actor.id == followee_id)
        .values(followers_count=Actor.followers_count + step)
    )


def _local(actor: Actor) -> bool:
    return actor.domain is None


async def _accepted(session: AsyncSession, follower: Actor, followee: Actor, row: Follow) -> None:
    """Tell the subscribers a follow stands (a remote follower's server hears so)."""
    event = FollowAccepted(
        row.id, follower.id, followee.id, row.uri, _local(follower), _local(followee)
    )
    await events.emit(session, event)


async def follow(
    session: AsyncSession, viewer: Viewer, handle: str, uri: str | None = None
) -> Follow:
    """Follow an actor; a locked one gets a request to accept. Idempotent.

    Following a remote actor stays pending until its server accepts. `uri` is the id
    of a remote follower's Follow activity (the inbox passes it), which our Accept names.
    """
    actor = viewer.require_actor()
    require_can_publish(actor)
    target = await get_visible_actor(session, viewer, handle)
    if target.id == actor.id:
        raise Invalid("an actor cannot follow itself", code="self_follow")
    if target.hidden:
        raise Invalid(f"@{target.handle} is private and cannot be followed", "character_private")
    existing = await session.scalar(
        select(Follow).where(Follow.follower_id == actor.id, Follow.followee_id == target.id)
    )
    if existing is not None:
        if uri and existing.uri != uri:
            # A remote server following again (it lost our Accept, or re-followed): the
            # new Follow is the one to answer.
            existing.uri = uri
            if existing.state == "accepted":
                await _accepted(session, actor, target, existing)
        return existing
    remote_target = _local(actor) and not _local(target)
    state = "pending" if target.locked or remote_target else "accepted"
    values = {
        "id": new_id(),
        "follower_id": actor.id,
        "followee_id": target.id,
        "state": state,
        "uri": uri,
    }
    fresh = await insert_new(session, Follow, values, ("follower_id", "followee_id"))
    row = await session.scalar(
        select(Follow).where(Follow.follower_id == actor.id, Follow.followee_id == target.id)
    )
    if not fresh:  # the same follow, sent twice at once: the first one counted it
        if row is None:  # ... and was withdrawn again in between
            raise Conflict("the follow changed while this request ran; try again", "retry")
        return row
    assert row is not None
    if state == "accepted":
        await count_follow(session, actor.id, target.id, 1)
        await _accepted(session, actor, target, row)
    followed = Followed(
        row.id, actor.id, target.id, state == "accepted", _local(actor), _local(target)
    )
    await events.emit(session, followed)
    if not remote_target:  # a remote actor's server tells it
        await notify(
            session, target.id, "follow" if state == "accepted" else "follow_request", actor.id
        )
    return row


async def _drop_follow(session: AsyncSession, follower_id: str, followee_id: str) -> Follow | None:
    """End a follow (or request), fixing counters; the row that was deleted, if any."""
    row = await session.scalar(
        select(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    )
    if row is None:
        return None
    # The DELETE decides (with the state it removed, which an accept may have changed
    # since the read): of two unfollows at once only the one that removed the row counts.
    gone = await session.execute(
        delete(Follow)
        .where(Follow.id == row.id)
        .returning(Follow.state)
        .execution_options(synchronize_session=False)
    )
    state = gone.scalar()
    if state is None:
        return None
    if state == "accepted":
        await count_follow(session, follower_id, followee_id, -1)
    else:
        await session.execute(
            delete(Notification).where(
                Notification.recipient_id == followee_id,
                Notification.actor_id == follower_id,
                Notification.kind == "follow_request",
            )
        )
    session.expunge(row)
    return row


async def unfollow(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Stop following (or withdraw a request). Idempotent."""
    actor = viewer.require_actor()
    target = await get_visible_actor(session, viewer, handle)
    row = await _drop_follow(session, actor.id, target.id)
    if row is not None:
        event = Unfollowed(row.id, actor.id, target.id, row.uri, _local(actor), _local(target))
        await events.emit(session, event)


async def _rejected(session: AsyncSession, followee: Actor, follower: Actor, row: Follow) -> None:
    """Tell the subscribers the followee turned a follower away."""
    event = FollowRejected(
        row.id, follower.id, followee.id, row.uri, _local(follower), _local(followee)
    )
    await events.emit(session, event)


async def follow_requests(
    session: AsyncSession, viewer: Viewer, cursor: str | None = None, limit: int = 40
) -> list[tuple[Follow, Actor]]:
    """Pending requests to follow the acting actor, newest first."""
    actor = viewer.require_actor()
    query = (
        select(Follow, Actor)
        .join(Actor, Actor.id == Follow.follower_id)
        .where(Follow.followee_id == actor.id, Follow.state == "pending", actor_visible(viewer))
    )
    if check_cursor(cursor):  # a bad cursor is a 422, as on every list
        query = query.where(Follow.id < cursor)
    rows = await session.execute(query.order_by(Follow.id.desc()).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def _follows(session: AsyncSession, follower_id: str, followee_id: str) -> bool:
    """Whether an accepted follow stands between the two."""
    found = await session.scalar(
        select(Follow.id).where(
            Follow.follower_id == follower_id,
            Follow.followee_id == followee_id,
            Follow.state == "accepted",
        )
    )
    return found is not None


async def answer_request(session: AsyncSession, viewer: Viewer, handle: str, accept: bool) -> None:
    """Accept or reject a pending follow request to the acting actor."""
    actor = viewer.require_actor()
    requester = await get_visible_actor(session, viewer, handle)
    row = await session.scalar(
        select(Follow).where(
            Follow.follower_id == requester.id,
            Follow.followee_id == actor.id,
            Follow.state == "pending",
        )
    )
    if row is None:
        if accept and await _follows(session, requester.id, actor.id):
            return  # accepted already (a second click, another tab): answered as it was
        raise NotFound(f"no follow request from @{requester.handle}")
    # Conditional on the request still pending, so that of two answers sent at once only
    # one counts (or rejects); the other finds it answered and changes nothing.
    pending = and_(Follow.id == row.id, Follow.state == "pending")
    if accept:
        changed = await session.execute(
            update(Follow)
            .where(pending)
            .values(state="accepted")
            .execution_options(synchronize_session=False)
        )
    else:
        changed = await session.execute(
            delete(Follow).where(pending).execution_options(synchronize_session=False)
        )
    if not getattr(changed, "rowcount", 0):
        return
    await session.execute(
        delete(Notification).where(
            Notification.recipient_id == actor.id,
            Notification.actor_id == requester.id,
            Notification.kind == "follow_request",
        )
    )
    if accept:
        row.state = "accepted"
        await count_follow(session, requester.id, actor.id, 1)
        await notify(session, actor.id, "follow", requester.id)
        await _accepted(session, requester, actor, row)
    else:
        await _rejected(session, actor, requester, row)
        session.expunge(row)


async def remove_follower(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Make an actor stop following the acting actor."""
    actor = viewer.require_actor()
    follower = await get_visible_actor(session, viewer, handle)
    row = await _drop_follow(session, follower.id, actor.id)
    if row is not None:
        await _rejected(session, actor, follower, row)


async def list_follows(
    session: AsyncSession,
    viewer: Viewer,
    handle: str,
    direction: str,
    cursor: str | None = None,
    limit: int = 40,
) -> list[tuple[Follow, Actor]]:
    """Followers or followings of a visible actor (accepted only), newest first."""
    target = await get_visible_actor(session, viewer, handle)
    if direction == "followers":
        query = select(Follow, Actor).join(Actor, Actor.id == Follow.follower_id)
        query = query.where(Follow.followee_id == target.id)
    else:
        query = select(Follow, Actor).join(Actor, Actor.id == Follow.followee_id)
        query = query.where(Follow.follower_id == target.id)
    query = query.where(Follow.state == "accepted", actor_visible(viewer))
    if check_cursor(cursor):  # a bad cursor is a 422, as on every list
        query = query.where(Follow.id < cursor)
    rows = await session.execute(query.order_by(Follow.id.desc()).limit(limit))
    return [(r[0], r[1]) for r in rows]


async def block(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Block an actor: follows both ways end and neither sees the other. Idempotent."""
    actor = viewer.require_actor()
    # Found ignoring existing blocks, so blocking again (or back) is not a 404.
    target = await get_visible_actor(session, replace(viewer, blocked=frozenset()), handle)
    if target.operator_id == actor.operator_id:
        raise Invalid("an actor cannot block itself or its own operator's actors", "self_block")
    block_id = new_id()
    values = {"id": block_id, "blocker_id": actor.id, "blocked_id": target.id}
    # Only the request that added the block does the rest (a double click adds one).
    if await insert_new(session, Block, values, ("blocker_id", "blocked_id")):
        # Between two people the block covers every actor either operates (see
        # access.blocks_and_mutes), so follows between all of them end. A remote person
        # operates nothing here, so each side always includes the actor itself.
        mine: list[str] = [actor.id]
        theirs: list[str] = [target.id]
        if actor.kind == "person" and target.kind == "person":
            mine += await session.scalars(
                select(Actor.id).where(Actor.operator_id == actor.id, Actor.id != actor.id)
            )
            theirs += await session.scalars(
                select(Actor.id).where(Actor.operator_id == target.id, Actor.id != target.id)
            )
        pairs = await session.execute(
            select(Follow.follower_id, Follow.followee_id).where(
                or_(
                    and_(Follow.follower_id.in_(mine), Follow.followee_id.in_(theirs)),
                    and_(Follow.follower_id.in_(theirs), Follow.followee_id.in_(mine)),
                )
            )
        )
        for follower_id, followee_id in pairs.all():
            await _drop_follow(session, follower_id, followee_id)
        await session.execute(
            delete(Notification).where(
                or_(
                    and_(Notification.recipient_id == actor.id, Notification.actor_id == target.id),
                    and_(Notification.recipient_id == target.id, Notification.actor_id == actor.id),
                )
            )
        )
        event = Blocked(block_id, actor.id, target.id, _local(actor), _local(target))
        await events.emit(session, event)


async def _target_of(session: AsyncSession, viewer: Viewer, handle: str, kind: str) -> Actor:
    """The actor to unblock or unmute: one the caller blocks or mutes (whatever became of
    it since), else one it may see; anything else is a 404, so nothing private leaks."""
    actor = viewer.require_actor()
    ref = handle.strip().lstrip("@").lower()
    if kind == "block":
        query = select(Actor).join(Block, Block.blocked_id == Actor.id)
        query = query.where(Block.blocker_id == actor.id)
    else:
        query = select(Actor).join(Mute, Mute.muted_id == Actor.id)
        query = query.where(Mute.muter_id == actor.id)
    target = await session.scalar(query.where(or_(Actor.handle == ref, Actor.id == ref)))
    if target is None:
        target = await get_visible_actor(session, replace(viewer, blocked=frozenset()), handle)
    return target


async def unblock(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Lift a block the acting actor made. Idempotent."""
    actor = viewer.require_actor()
    target = await _target_of(session, viewer, handle, "block")
    # The id of the block this request removed (None when a concurrent unblock won).
    block_id = (
        await session.execute(
            delete(Block)
            .where(Block.blocker_id == actor.id, Block.blocked_id == target.id)
            .returning(Block.id)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if block_id is not None:
        event = Unblocked(block_id, actor.id, target.id, _local(actor), _local(target))
        await events.emit(session, event)


async def mute(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Mute an actor (they are not told). Idempotent."""
    actor = viewer.require_actor()
    target = await get_visible_actor(session, viewer, handle)
    if target.id == actor.id:
        raise Invalid("an actor cannot mute itself", code="self_mute")
    values = {"id": new_id(), "muter_id": actor.id, "muted_id": target.id}
    await insert_new(session, Mute, values, ("muter_id", "muted_id"))


async def unmute(session: AsyncSession, viewer: Viewer, handle: str) -> None:
    """Lift a mute. Idempotent."""
    actor = viewer.require_actor()
    target = await _target_of(session, viewer, handle, "mute")
    await session.execute(delete(Mute).where(Mute.muter_id == actor.id, Mute.muted_id == target.id))


async def list_blocks_or_mutes(
    session: AsyncSession, viewer: Viewer, which: str, cursor: str | None = None, limit: int = 40
) -> list[tuple[str, Actor]]:
    """Actors the acting actor blocks or mutes, newest first, with their rows' ids."""
    actor = viewer.require_actor()
    if which == "blocks":
        query = select(Actor, Block.id).join(Block, Block.blocked_id == Actor.id)
        query = query.where(Block.blocker_id == actor.id)
        order = Block.id
    else:
        query = select(Actor, Mute.id).join(Mute, Mute.muted_id == Actor.id)
        query = query.where(Mute.muter_id == actor.id)
        order = Mute.id
    if check_cursor(cursor):  # a bad cursor is a 422, as on every list
        query = query.where(order < cursor)
    rows = await session.execute(query.order_by(order.desc()).limit(limit))
    return [(r[1], r[0]) for r in rows]
