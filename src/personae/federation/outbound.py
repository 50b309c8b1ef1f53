"""Outbound events: what local actors do that remote servers must hear about.

The social services call `record` inside their own transaction, so an event exists
exactly when the change it describes was committed. The delivery worker later turns
each event into an ActivityPub activity and one delivery per remote inbox
(`expand_due`), which is where the audience is worked out.

Event kinds and what they carry (`subject_id`, `payload`):

- `post.created`, `post.updated`: the post id.
- `post.deleted`: the post id; payload `handle` (author), `visibility`, `addressed`
  (ids of the actors the post addressed: the rows are gone by the time it is expanded).
- `like`, `unlike`: the liked post id.
- `repost`, `unrepost`: the repost's post id; payload `original_id` (for unrepost, also
  `handle`).
- `follow`, `unfollow`: the followed actor id; payload `uri` (our Follow's id).
- `follow.accepted`, `follow.rejected`: the follower's actor id; payload `uri` (their
  Follow's id).
- `block`, `unblock`: the blocked actor id.
- `profile.updated`: no subject (the actor itself).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.federation.models import OutboundEvent, RemoteActor

EVENT_KINDS = (
    "post.created",
    "post.updated",
    "post.deleted",
    "like",
    "unlike",
    "repost",
    "unrepost",
    "follow",
    "unfollow",
    "follow.accepted",
    "follow.rejected",
    "block",
    "unblock",
    "profile.updated",
)


async def federating(session: AsyncSession) -> bool:
    """Whether this instance knows any remote actor (if not, nobody remote can hear)."""
    return await session.scalar(select(RemoteActor.actor_id).limit(1)) is not None


async def record(
    session: AsyncSession,
    kind: str,
    actor_id: str,
    subject_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Note that a local actor did something remote servers may need to hear (not committed)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown outbound event kind {kind!r}")
    if not await federating(session):
        return
    session.add(
        OutboundEvent(kind=kind, actor_id=actor_id, subject_id=subject_id, payload=payload or {})
    )
