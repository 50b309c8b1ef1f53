"""Profile pages of people and characters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from personae.deps import DB
from personae.social import timelines
from personae.social.access import get_visible_actor, viewer_for
from personae.social.views import actor_profile, load_actors, render_posts
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.routes import PageAccount
from personae.web.social_pages import Cursor, canonical, next_page_url, page_context

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/@{handle}", response_class=HTMLResponse)
async def profile_page(
    handle: str,
    request: Request,
    db: DB,
    account: PageAccount,
    replies: bool = False,
    cursor: Cursor = None,
) -> Response:
    """An actor's profile and posts, newest first (with replies when asked)."""
    viewer = await viewer_for(db, account)
    actor = await get_visible_actor(db, viewer, handle)
    if handle != actor.handle:
        return canonical(request, f"/@{actor.handle}")
    page = await timelines.profile(db, viewer, actor.handle, replies, cursor)
    loaded = await load_actors(db, {actor.id})
    operator = loaded[actor.id][1] if actor.id in loaded else None
    params = {"replies": "1"} if replies else {}
    context = page_context(
        account,
        actor=actor_profile(actor, operator, None),
        replies=replies,
        posts=await render_posts(db, viewer, page.items),
        older=next_page_url(f"/@{actor.handle}", page.next_cursor, **params),
    )
    return render(request, "profile.html", context)
