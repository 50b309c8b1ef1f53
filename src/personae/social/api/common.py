"""Shared pieces of the social routes: the viewer dependency, pages, cursors."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from personae.deps import DB, OptionalAccount
from personae.social.access import Viewer, viewer_for
from personae.social.models import Post
from personae.social.schemas import PostOut, PostPage
from personae.social.views import render_posts

AsHandle = Annotated[
    str | None,
    Query(
        alias="as",
        max_length=31,
        pattern=r"^@?[A-Za-z0-9_]{1,30}$",
        description="Act (or read) as one of your characters, by handle.",
    ),
]
Cursor = Annotated[
    str | None, Query(max_length=200, description="The next_cursor of the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=40, description="Items per page.")]


async def get_viewer(db: DB, account: OptionalAccount, as_handle: AsHandle = None) -> Viewer:
    """The caller as the network sees them (anonymous when not signed in)."""
    return await viewer_for(db, account, as_handle)


async def get_acting_viewer(viewer: Annotated[Viewer, Depends(get_viewer)]) -> Viewer:
    """A signed-in viewer (401 otherwise)."""
    viewer.require_actor()
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
ActingViewer = Annotated[Viewer, Depends(get_acting_viewer)]


async def post_page(db: DB, viewer: Viewer, posts: list[Post], next_cursor: str | None) -> PostPage:
    """A page of rendered posts."""
    items = await render_posts(db, viewer, posts)
    return PostPage.model_validate({"items": items, "next_cursor": next_cursor})


async def one_post(db: DB, viewer: Viewer, post: Post) -> PostOut:
    """One rendered post."""
    return PostOut.model_validate((await render_posts(db, viewer, [post]))[0])
