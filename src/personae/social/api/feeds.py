"""Timelines, search and notifications API."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from personae.deps import DB, State
from personae.social import notifications, ranking, search, timelines
from personae.social.api.common import ActingViewer, Cursor, Limit, ViewerDep, post_page
from personae.social.schemas import ActorPage, Marked, NotificationPage, PostPage
from personae.social.views import render_actors, render_notifications

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
async def home(viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 20) -> PostPage:
    """Your posts and those of everyone you follow, newest first."""
    page = await timelines.home(db, viewer, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/public")
async def public(viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 20) -> PostPage:
    """Public posts on this instance (not replies), newest first."""
    page = await timelines.public(db, viewer, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/for-you")
async def for_you(
    viewer: ViewerDep, db: DB, state: State, cursor: Cursor = None, limit: Limit = 20
) -> PostPage:
    """Recent posts ranked by recency, engagement and your affinity (see docs/social.md)."""
    ranker = ranking.get_ranker(state.settings.feed_ranker)
    page = await ranking.for_you(db, viewer, ranker, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/timelines/tag/{tag}")
async def tag(
    tag: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 20
) -> PostPage:
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
) -> PostPage | ActorPage:
    """Search posts (newest first) or actors (most followed first)."""
    if type == "actors":
        actors, next_cursor = await search.search_actors(db, viewer, q, cursor, limit)
        items = await render_actors(db, actors)
        return ActorPage.model_validate({"items": items, "next_cursor": next_cursor})
    page = await search.search_posts(db, viewer, q, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/notifications")
async def list_notifications(
    viewer: ActingViewer,
    db: DB,
    cursor: Cursor = None,
    limit: Limit = 20,
    kind: Annotated[list[NotificationKind] | None, Query(description="Only these kinds.")] = None,
) -> NotificationPage:
    """Your notifications (or your character's, with `as`), newest first."""
    rows = await notifications.list_notifications(
        db, viewer, timelines.check_cursor(cursor), limit, list(kind) if kind else None
    )
    return NotificationPage.model_validate(
        {
            "items": await render_notifications(db, viewer, rows),
            "next_cursor": rows[-1].id if len(rows) == limit else None,
            "unread": await notifications.unread_count(db, viewer),
        }
    )


@router.post("/notifications/read")
async def mark_read(body: MarkRead, viewer: ActingViewer, db: DB) -> Marked:
    """Mark notifications read."""
    return Marked(marked=await notifications.mark_read(db, viewer, body.up_to_id))
