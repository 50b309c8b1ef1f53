"""Timelines, search and notifications API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select

from personae.deps import DB, State
from personae.social import notifications, ranking, search, timelines
from personae.social.api.common import ActingViewer, Cursor, Limit, ViewerDep, post_page
from personae.social.models import Notification, Post
from personae.social.views import load_actors, render_actors, render_posts

router = APIRouter(prefix="/api/v1", tags=["timelines"])
NotificationKind = Literal[
    "mention", "reply", "like", "repost", "quote", "follow", "follow_request"
]


class MarkRead(BaseModel):
    """Which notifications to mark read: all, or those up to an id."""

    model_config = ConfigDict(extra="forbid")
    up_to_id: (
        Annotated[str, StringConstraints(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
        | None
    ) = None


@router.get("/timelines/home")
async def home(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """Your posts and those of everyone you follow, newest first."""
    page = await timelines.home(db, viewer, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/public")
async def public(
    viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """Public posts on this instance (not replies), newest first."""
    page = await timelines.public(db, viewer, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/for-you")
async def for_you(
    viewer: ViewerDep, db: DB, state: State, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """Recent posts ranked by recency, engagement and your affinity (see docs/social.md)."""
    ranker = ranking.get_ranker(state.settings.feed_ranker)
    page = await ranking.for_you(db, viewer, ranker, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/tag/{tag}")
async def tag(
    tag: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """Public posts with a hashtag, newest first."""
    page = await timelines.hashtag(db, viewer, tag, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/search")
async def search_endpoint(
    viewer: ViewerDep,
    db: DB,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find.")],
    type: Annotated[Literal["posts", "actors"], Query(description="What to search.")] = "posts",
    cursor: Cursor = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    """Search posts (newest first) or actors (most followed first)."""
    if type == "actors":
        actors, next_cursor = await search.search_actors(db, viewer, q, cursor, limit)
        return {"items": await render_actors(db, actors), "next_cursor": next_cursor}
    page = await search.search_posts(db, viewer, q, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/notifications")
async def list_notifications(
    viewer: ActingViewer,
    db: DB,
    cursor: Cursor = None,
    limit: Limit = 20,
    kind: Annotated[list[NotificationKind] | None, Query(description="Only these kinds.")] = None,
) -> dict[str, Any]:
    """Your notifications (or your character's, with `as`), newest first."""
    rows = await notifications.list_notifications(
        db, viewer, timelines.check_cursor(cursor), limit, list(kind) if kind else None
    )
    return {
        "items": await _render_notifications(db, viewer, rows),
        "next_cursor": rows[-1].id if len(rows) == limit else None,
        "unread": await notifications.unread_count(db, viewer),
    }


@router.post("/notifications/read")
async def mark_read(body: MarkRead, viewer: ActingViewer, db: DB) -> dict[str, Any]:
    """Mark notifications read."""
    count = await notifications.mark_read(db, viewer, body.up_to_id)
    return {"marked": count}


async def _render_notifications(
    db: DB, viewer: ActingViewer, rows: list[Notification]
) -> list[dict[str, Any]]:
    actors = await load_actors(db, {n.actor_id for n in rows})
    post_ids = sorted({n.post_id for n in rows if n.post_id})
    posts: dict[str, dict[str, Any]] = {}
    if post_ids:
        found = list(await db.scalars(select(Post).where(Post.id.in_(post_ids))))
        posts = {p["id"]: p for p in await render_posts(db, viewer, found)}
    listed = [pair[0] for pair in actors.values()]
    summaries = {a.id: s for a, s in zip(listed, await render_actors(db, listed), strict=True)}
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
