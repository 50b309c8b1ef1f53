"""Outbound events: what local actors do that remote servers must hear about.

The social services emit domain events; `federation.subscribers` hears them inside the
change's transaction and calls `record`, so an event exists exactly when the change it
describes was committed. The delivery worker later turns
each event into an ActivityPub activity and one delivery per remote inbox
(`expand_due`, with the builders in `activities_out`), which is where the audience is
worked out. Only local actors' doings are recorded: the inbox also acts through the
social services, as the remote actor, and those must never echo back out.

Taking something back before its event was expanded (deleting a post not yet sent,
unliking, unfollowing) `cancel`s the pending event instead, so nothing at all is sent.

Event kinds and what they carry (`subject_id`, `payload`):

- `post.created`, `post.updated`: the post id.
- `post.deleted`: the post id; payload `handle` (author), `visibility`, `addressed`
  (ids of the actors the post addressed: the rows are gone by the time it is expanded).
- `like`, `unlike`: the liked post id; payload `like_id` (the likes row, which names
  the Like: `{actor}#likes/{like_id}`).
- `repost`, `unrepost`: the repost's post id; payload `original_id`, and for unrepost
  also `handle`, `original_author_id` and `original_uri` (a remote original's id).
- `follow`, `unfollow`: the followed actor id; payload `follow_id` (the follows row),
  and for unfollow `uri`, the id the Follow was sent with (None if it never was).
  The Follow's id is `{actor}#follows/{follow_id}`, minted when the event is expanded
  and written back to `follows.uri` then (see `activities_out.follow_uri`): the row
  itself never holds a base-URL-dependent value before it is sent.
- `follow.accepted`, `follow.rejected`: the follower's actor id; payload `uri` (their
  Follow's id, from `follows.uri`) and `follow_id`.
- `block`, `unblock`: the blocked actor id; payload `block_id` (`{actor}#blocks/{id}`).
- `profile.updated`: no subject (the actor itself).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy import delete, exc, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.db import transaction
from personae.federation import activities_out, delivery
from personae.federation.context import Federation
from personae.federation.fetch import FetchError, UnsafeURL
from personae.federation.models import OutboundEvent, RemoteActor
from personae.social.models import Actor

log = logging.getLogger(__name__)

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


def is_local(actor: Actor) -> bool:
    """Whether an actor lives here (only local actors' doings go out)."""
    return actor.domain is None


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


async def cancel(
    session: AsyncSession, kind: str, actor_id: str, subject_id: str | None = None
) -> bool:
    """Drop pending events of a kind (not committed); whether there was any.

    True means the thing being taken back was never sent, so its Undo need not be either.
    """
    if not await federating(session):
        return False  # `record` queued nothing, so there is nothing to take back
    await session.flush()  # events added in this transaction are rows to delete too
    statement = delete(OutboundEvent).where(
        OutboundEvent.kind == kind, OutboundEvent.actor_id == actor_id
    )
    if subject_id is not None:
        statement = statement.where(OutboundEvent.subject_id == subject_id)
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


def is_transient(error: BaseException) -> bool:
    """Whether building an event failed for a reason that may be gone on the next try.

    The database being busy or unreachable, or a remote server not answering, says
    nothing about the event; bad data (a DomainError, ValueError, KeyError, a constraint)
    or a bug would fail the same way every time.
    """
    if isinstance(error, UnsafeURL):
        return error.reason.startswith("cannot resolve")
    if isinstance(error, FetchError | httpx.HTTPError | OSError | TimeoutError):
        return True
    if isinstance(error, exc.TimeoutError):  # no pooled connection free in time
        return True
    if isinstance(error, exc.DBAPIError):
        # Locks, deadlocks, lost connections. asyncpg reports some of those (deadlock,
        # serialization failure) as a plain DBAPIError, hence the exclusion list.
        permanent = exc.IntegrityError | exc.DataError | exc.ProgrammingError
        return not isinstance(error, permanent | exc.NotSupportedError)
    return False


class _BuildFailed(Exception):
    """Building an event's activity failed (the cause is the error)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def _expand_one(session: AsyncSession, federation: Federation, event_id: str) -> bool:
    """Turn one event into its deliveries (not committed); False when it was gone."""
    event = await session.get(OutboundEvent, event_id)
    if event is None:
        return False  # cancelled, or another worker took it
    sender_id, kind = event.actor_id, event.kind
    try:
        outgoing = await activities_out.build(session, federation, event)
    except Exception as error:
        raise _BuildFailed(kind) from error
    # Deleting first and counting the rows makes the event ours alone: a concurrent
    # expander (or a cancel) that got there first leaves us nothing to enqueue.
    result = await session.execute(delete(OutboundEvent).where(OutboundEvent.id == event_id))
    if getattr(result, "rowcount", 0) and outgoing is not None and outgoing.inboxes:
        await delivery.enqueue(session, sender_id, outgoing.activity, outgoing.inboxes)
    return True


async def expand_due(
    sessions: async_sessionmaker[AsyncSession], federation: Federation, limit: int = 50
) -> int:
    """Turn the oldest recorded events into activities and deliveries, one transaction
    each; returns how many events were taken off the queue (sent or dropped).

    An event that failed for a passing reason (see `is_transient`) stays queued and the
    batch ends there, to be tried again on the next call.
    """
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(OutboundEvent.id).order_by(OutboundEvent.id).limit(max(1, limit))
            )
        )
    done = 0
    for event_id in ids:
        try:
            async with transaction(sessions) as session:
                if not await _expand_one(session, federation, event_id):
                    continue
        except _BuildFailed as failed:  # rolled back, whatever the build had written
            error = failed.__cause__
            if is_transient(error or failed):
                log.warning(
                    "federation: outbound event %s (%s) deferred: %s",
                    event_id,
                    failed.kind,
                    error,
                )
                break
            # A broken event must not block the queue behind it forever: log and drop it.
            log.error(
                "federation: cannot expand outbound event %s (%s)",
                event_id,
                failed.kind,
                exc_info=error,
            )
            async with transaction(sessions) as session:
                await session.execute(delete(OutboundEvent).where(OutboundEvent.id == event_id))
        done += 1
    return done
