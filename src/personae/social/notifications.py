"""Notifications: written when something happens to an actor, filtered again when read."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.social.access import Viewer, inactive_actors, visible_posts
from personae.social.events import Notified
from personae.social.models import Block, Mute, Notification, Post

KINDS = ("mention", "reply", "like", "repost", "quote", "follow", "follow_request")
PAGE_MAX = 100


async def notify(
    session: AsyncSession, recipient_id: str, kind: str, actor_id: str, post_id: str | None = None
) -> None:
    """Add a notification unless it is about oneself or the recipient mutes or blocks the actor.

    Not committed here: it is part of the caller's change.
    """
    if recipient_id == actor_id:
        return
    silenced = await session.scalar(
        select(Mute.id)
        .where(Mute.muter_id == recipient_id, Mute.muted_id == actor_id)
        .union_all(
            select(Block.id).where(
                or_(
                    and_(Block.blocker_id == recipient_id, Block.blocked_id == actor_id),
                    and_(Block.blocker_id == actor_id, Block.blocked_id == recipient_id),
                )
            )
        )
        .limit(1)
    )
    if silenced is None:
        session.add(
            Notification(recipient_id=recipient_id, kind=kind, actor_id=actor_id, post_id=post_id)
        )
        # An autonomous character answers what happens to it (agents subscribe).
        await events.emit(session, Notified(recipient_id, kind, actor_id, post_id))


def _readable(viewer: Viewer) -> list[object]:
    """Conditions on Notification for what the viewer may still see."""
    actor_id = viewer.require_actor().id
    conditions: list[object] = [
        Notification.recipient_id == actor_id,
        Notification.actor_id.not_in(inactive_actors()),
        or_(
            Notification.post_id.is_(None),
            Notification.post_id.in_(select(Post.id).where(visible_posts(viewer))),
        ),
    ]
    hidden = list(viewer.blocked | viewer.muted)
    if hidden:
        conditions.append(Notification.actor_id.not_in(hidden))
    return conditions


async def list_notifications(
    session: AsyncSession,
    viewer: Viewer,
    cursor: str | None = None,
    limit: int = 20,
    kinds: list[str] | None = None,
) -> list[Notification]:
    """The acting actor's notifications, newest first, paged by id."""
    query = select(Notification).where(*_readable(viewer))  # type: ignore[arg-type]
    if kinds:
        query = query.where(Notification.kind.in_(kinds))
    if cursor:
        query = query.where(Notification.id < cursor)
    rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit))
    return list(rows)


async def unread_count(session: AsyncSession, viewer: Viewer) -> int:
    """How many notifications the acting actor has not read."""
    query = (
        select(func.count())
        .select_from(Notification)
        .where(*_readable(viewer), Notification.read.is_(False))  # type: ignore[arg-type]
    )
    return int(await session.scalar(query) or 0)


async def mark_read(session: AsyncSession, viewer: Viewer, up_to_id: str | None = None) -> int:
    """Mark the acting actor's notifications read (all, or up to an id); returns how many."""
    actor_id = viewer.require_actor().id
    statement = update(Notification).where(
        Notification.recipient_id == actor_id, Notification.read.is_(False)
    )
    if up_to_id:
        statement = statement.where(Notification.id <= up_to_id)
    result = await session.execute(statement.values(read=True))
    return int(getattr(result, "rowcount", 0) or 0)
