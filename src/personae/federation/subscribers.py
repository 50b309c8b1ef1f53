"""What remote servers must hear: social's domain events recorded as outbound events.

Registered in `personae.wiring`; each handler runs inside the transaction of the change
(see `personae.events`), so an outbound event exists exactly when its change commits.
Only local actors' doings are recorded: the inbox acts through the social services as
the remote actor, and those must never echo back out. Taking something back before its
event was expanded (deleting a post not yet sent, unliking, unfollowing) cancels the
pending event instead, so nothing at all is sent.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from personae.characters.events import HandleChanging
from personae.errors import Conflict
from personae.federation import outbound
from personae.federation.models import ActorKey
from personae.social.events import (
    Blocked,
    FollowAccepted,
    Followed,
    FollowRejected,
    Liked,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ProfileChanged,
    Reposted,
    Unblocked,
    Unfollowed,
    Unliked,
    Unreposted,
)
from personae.social.models import Post


async def post_created(session: AsyncSession, event: PostCreated) -> None:
    """A local post goes out as a Create."""
    if event.local:
        await outbound.record(session, "post.created", event.author_id, event.post_id)


async def post_updated(session: AsyncSession, event: PostUpdated) -> None:
    """A local edit goes out; one event per post is enough, since a Create not sent yet
    (or the latest Update) reads the post as it is when it is expanded."""
    if not event.local:
        return
    await outbound.cancel(session, "post.updated", event.author_id, event.post_id)
    unsent = await outbound.cancel(session, "post.created", event.author_id, event.post_id)
    kind = "post.created" if unsent else "post.updated"
    await outbound.record(session, kind, event.author_id, event.post_id)


async def post_deleted(session: AsyncSession, event: PostDeleted) -> None:
    """A local post's Delete, unless remote servers never heard of it."""
    if not event.local or not await outbound.federating(session):
        return  # nobody remote could have heard of it (spares the cancels below)
    await outbound.cancel(session, "post.updated", event.author_id, event.post_id)
    if await outbound.cancel(session, "post.created", event.author_id, event.post_id):
        return
    payload = {
        "handle": event.handle,
        "visibility": event.visibility,
        "addressed": sorted(event.addressed),
    }
    await outbound.record(session, "post.deleted", event.author_id, event.post_id, payload)


async def liked(session: AsyncSession, event: Liked) -> None:
    """A local like goes out."""
    if event.local:
        payload = {"like_id": event.like_id}
        await outbound.record(session, "like", event.actor_id, event.post_id, payload)


async def unliked(session: AsyncSession, event: Unliked) -> None:
    """An Undo of a local like, unless the like itself was never sent."""
    if not event.local or event.like_id is None:
        return
    if not await outbound.cancel(session, "like", event.actor_id, event.post_id):
        payload = {"like_id": event.like_id}
        await outbound.record(session, "unlike", event.actor_id, event.post_id, payload)


async def reposted(session: AsyncSession, event: Reposted) -> None:
    """A local repost goes out as an Announce."""
    if event.local:
        payload = {"original_id": event.original_id}
        await outbound.record(session, "repost", event.actor_id, event.repost_id, payload)


async def unreposted(session: AsyncSession, event: Unreposted) -> None:
    """An Undo of a local repost, unless the repost itself was never sent."""
    if not event.local or not await outbound.federating(session):
        return
    if await outbound.cancel(session, "repost", event.actor_id, event.repost_id):
        return
    original = await session.get(Post, event.original_id)
    payload = {
        "original_id": event.original_id,
        "original_author_id": original.author_id if original else None,
        "original_uri": original.uri if original else None,
        "handle": event.handle,
    }
    await outbound.record(session, "unrepost", event.actor_id, event.repost_id, payload)


async def followed(session: AsyncSession, event: Followed) -> None:
    """A local actor following a remote one sends a Follow."""
    if event.follower_local and not event.followee_local:
        payload = {"follow_id": event.follow_id}
        await outbound.record(session, "follow", event.follower_id, event.followee_id, payload)


async def follow_accepted(session: AsyncSession, event: FollowAccepted) -> None:
    """A local actor accepting a remote follower sends an Accept."""
    if event.followee_local and not event.follower_local:
        payload = {"uri": event.uri, "follow_id": event.follow_id}
        await outbound.record(
            session, "follow.accepted", event.followee_id, event.follower_id, payload
        )


async def follow_rejected(session: AsyncSession, event: FollowRejected) -> None:
    """A local actor turning a remote follower away sends a Reject (and no Accept)."""
    if event.followee_local and not event.follower_local:
        await outbound.cancel(session, "follow.accepted", event.followee_id, event.follower_id)
        payload = {"uri": event.uri, "follow_id": event.follow_id}
        await outbound.record(
            session, "follow.rejected", event.followee_id, event.follower_id, payload
        )


async def unfollowed(session: AsyncSession, event: Unfollowed) -> None:
    """An Undo of a local actor's Follow of a remote one, unless it was never sent."""
    if event.followee_local or not event.follower_local:
        return
    if await outbound.cancel(session, "follow", event.follower_id, event.followee_id):
        return  # the Follow was never sent, so there is nothing to undo
    payload = {"follow_id": event.follow_id, "uri": event.uri}
    await outbound.record(session, "unfollow", event.follower_id, event.followee_id, payload)


async def blocked(session: AsyncSession, event: Blocked) -> None:
    """A local actor blocking a remote one sends a Block."""
    if event.blocker_local and not event.blocked_local:
        payload = {"block_id": event.block_id}
        await outbound.record(session, "block", event.blocker_id, event.blocked_id, payload)


async def unblocked(session: AsyncSession, event: Unblocked) -> None:
    """An Undo of a local actor's Block, unless it was never sent."""
    if not event.blocker_local or event.blocked_local:
        return
    if not await outbound.cancel(session, "block", event.blocker_id, event.blocked_id):
        payload = {"block_id": event.block_id}
        await outbound.record(session, "unblock", event.blocker_id, event.blocked_id, payload)


async def profile_changed(session: AsyncSession, event: ProfileChanged) -> None:
    """A local profile's Update; only the latest needs to go out (it carries the whole
    profile as it is when sent), so a pending one is replaced."""
    if event.local:
        await outbound.cancel(session, "profile.updated", event.actor_id)
        await outbound.record(session, "profile.updated", event.actor_id)


async def handle_changing(session: AsyncSession, event: HandleChanging) -> None:
    """Refuse a new handle for a character other servers already know."""
    if await session.get(ActorKey, event.character_id) is not None:
        # Its key exists once another server has seen it: remote servers know it by an
        # id built from the handle, so a new handle would orphan them.
        raise Conflict(
            f"@{event.old_handle} is known to other servers under this handle, so it "
            "cannot change; duplicate the character to get one with a new handle",
            "handle_federated",
        )
