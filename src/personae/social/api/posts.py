"""Posts API: write, read, edit, delete, like, repost, threads and edit history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from personae.deps import DB
from personae.social import posts as post_service
from personae.social import timelines
from personae.social.access import get_visible_post
from personae.social.api.common import ActingViewer, Cursor, Limit, ViewerDep, one_post
from personae.social.schemas import PostHistory, PostOut, PostVersion, ThreadOut
from personae.social.views import render_posts

router = APIRouter(prefix="/api/v1", tags=["posts"])

PostId = Annotated[str, StringConstraints(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]
Language = Annotated[str, StringConstraints(max_length=16)]


class PostIn(BaseModel):
    """A new post, reply or quote."""

    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(min_length=1, max_length=post_service.MAX_POST_CHARS)]
    content_warning: Annotated[str, StringConstraints(max_length=500)] = ""
    language: Language = ""
    visibility: Literal["public", "unlisted", "followers", "direct"] = "public"
    in_reply_to_id: PostId | None = None
    quote_of_id: PostId | None = None


class PostPatch(BaseModel):
    """Changes to a post's text, content warning or language."""

    model_config = ConfigDict(extra="forbid")
    text: (
        Annotated[str, StringConstraints(min_length=1, max_length=post_service.MAX_POST_CHARS)]
        | None
    ) = None
    content_warning: Annotated[str, StringConstraints(max_length=500)] | None = None
    language: Language | None = None


@router.post("/posts", status_code=201)
async def create_post(body: PostIn, viewer: ActingViewer, db: DB) -> PostOut:
    """Publish a post as yourself or (with `as`) as one of your characters."""
    post = await post_service.create_post(
        db,
        viewer,
        body.text,
        body.content_warning,
        body.language,
        body.visibility,
        body.in_reply_to_id,
        body.quote_of_id,
    )
    return await one_post(db, viewer, post)


@router.get("/posts/{post_id}")
async def get_post(post_id: str, viewer: ViewerDep, db: DB) -> PostOut:
    """One post, if you may see it."""
    return await one_post(db, viewer, await get_visible_post(db, viewer, post_id))


@router.patch("/posts/{post_id}")
async def edit_post(post_id: str, body: PostPatch, viewer: ActingViewer, db: DB) -> PostOut:
    """Edit your post; the previous version goes into its history."""
    post = await post_service.edit_post(
        db, viewer, post_id, body.text, body.content_warning, body.language
    )
    return await one_post(db, viewer, post)


@router.delete("/posts/{post_id}", status_code=204)
async def delete_post(post_id: str, viewer: ActingViewer, db: DB) -> None:
    """Delete your post (replies to it stay)."""
    await post_service.delete_post(db, viewer, post_id)


@router.get("/posts/{post_id}/history")
async def post_history(post_id: str, viewer: ViewerDep, db: DB) -> PostHistory:
    """Earlier versions of an edited post, oldest first."""
    edits = await post_service.post_history(db, viewer, post_id)
    return PostHistory(
        items=[
            PostVersion(
                text=e.text,
                content_warning=e.content_warning,
                language=e.language,
                replaced_at=e.created_at.isoformat(),
            )
            for e in edits
        ]
    )


@router.get("/posts/{post_id}/thread")
async def thread(
    post_id: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> ThreadOut:
    """The post, the visible chain above it and a page of the replies below it."""
    found = await timelines.thread(db, viewer, post_id, cursor, limit)
    rendered = await render_posts(db, viewer, [*found.ancestors, found.post, *found.descendants])
    above = len(found.ancestors)
    return ThreadOut.model_validate(
        {
            "ancestors": rendered[:above],
            "post": rendered[above],
            "descendants": rendered[above + 1 :],
            "next_cursor": found.next_cursor,
        }
    )


@router.post("/posts/{post_id}/like")
async def like(post_id: str, viewer: ActingViewer, db: DB) -> PostOut:
    """Like a post."""
    return await one_post(db, viewer, await post_service.like(db, viewer, post_id))


@router.delete("/posts/{post_id}/like")
async def unlike(post_id: str, viewer: ActingViewer, db: DB) -> PostOut:
    """Take a like back."""
    return await one_post(db, viewer, await post_service.unlike(db, viewer, post_id))


@router.post("/posts/{post_id}/repost", status_code=201)
async def repost(post_id: str, viewer: ActingViewer, db: DB) -> PostOut:
    """Repost a public or unlisted post; returns the repost."""
    return await one_post(db, viewer, await post_service.repost(db, viewer, post_id))


@router.delete("/posts/{post_id}/repost")
async def unrepost(post_id: str, viewer: ActingViewer, db: DB) -> PostOut:
    """Undo your repost; returns the original."""
    return await one_post(db, viewer, await post_service.unrepost(db, viewer, post_id))
