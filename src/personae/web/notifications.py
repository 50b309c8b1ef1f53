"""Notifications: the list with filters by kind, follow requests answered inline, the badge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.deps import DB
from personae.social import graph, notifications, timelines
from personae.social import posts as social_posts
from personae.social.access import Viewer as SocialViewer
from personae.social.access import viewer_for
from personae.social.models import Notification
from personae.social.views import load_actors, render_posts
from personae.web.actors import actor_view, avatars
from personae.web.aside import aside_context
from personae.web.common import Cursor, PageAccount, is_htmx, next_page_url, page_context
from personae.web.guard import PageRoute
from personae.web.pages import PAGE_HEADERS, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PAGE = 20
# The filter tabs: each names the kinds of notification it shows.
FILTERS: dict[str, tuple[str, ...]] = {
    "all": (),
    "mentions": ("mention", "reply"),
    "likes": ("like",),
    "reposts": ("repost", "quote"),
    "follows": ("follow", "follow_request"),
}
Filter = Literal["all", "mentions", "likes", "reposts", "follows"]
Handle = Annotated[str, Path(max_length=330)]


async def notification_items(
    db: AsyncSession, viewer: SocialViewer, rows: list[Notification]
) -> list[dict[str, Any]]:
    """Notifications as the page shows them: who did it (with AI label) and to which post."""
    actors = await load_actors(db, {n.actor_id for n in rows})
    pictured = await avatars(db, [pair[0] for pair in actors.values()])
    post_ids = sorted({n.post_id for n in rows if n.post_id})
    posts: dict[str, dict[str, Any]] = {}
    if post_ids:
        # The list already keeps only notifications whose post the viewer may see;
        # the same rule is applied here so nothing else slips into the page.
        found = await social_posts.visible_by_ids(db, viewer, set(post_ids))
        posts = {p["id"]: p for p in await render_posts(db, viewer, found)}
    items = []
    for n in rows:
        if n.actor_id not in actors:
            continue
        actor, operator = actors[n.actor_id]
        items.append(
            {
                "id": n.id,
                "kind": n.kind,
                "read": n.read,
                "created_at": n.created_at.isoformat(),
                "actor": actor_view(actor, operator, viewer, has_avatar=actor.id in pictured),
                "post": posts.get(n.post_id) if n.post_id else None,
            }
        )
    return items


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request,
    db: DB,
    account: PageAccount,
    show: Filter = "all",
    cursor: Cursor = None,
) -> Response:
    """The signed-in actor's notifications, newest first; opening the page marks them read.

    Unread ones are still highlighted on this view (they were read as it was drawn), and
    htmx gets only the next page's items for the "load more" row.
    """
    viewer = await viewer_for(db, account)
    viewer.require_actor()  # signed-out visitors go to the start page (see PageRoute)
    kinds = list(FILTERS[show]) or None
    rows = await notifications.list_notifications(
        db, viewer, timelines.check_cursor(cursor), PAGE, kinds
    )
    items = await notification_items(db, viewer, rows)
    if rows and not cursor and show == "all":
        # Mark read what this page shows (and anything older), as the API's up_to_id does;
        # a filtered view leaves the other kinds unread.
        await notifications.mark_read(db, viewer, rows[0].id)
    params = {"show": show} if show != "all" else {}
    older = next_page_url("/notifications", rows[-1].id if len(rows) == PAGE else None, **params)
    context = page_context(account, active="notifications", show=show, items=items, older=older)
    if is_htmx(request) and cursor:
        return render(request, "notifications/_items.html", context)
    context["requests"] = len(await graph.follow_requests(db, viewer, None, 40))
    context.update(aside=await aside_context(request, db, viewer), request_path="/notifications")
    return render(request, "notifications/index.html", context)


@router.get("/notifications/unread")
async def unread_badge(db: DB, account: PageAccount) -> Response:
    """The unread count for the navigation badge: just the number, empty when none."""
    count = 0
    if account is not None:
        count = await notifications.unread_count(db, await viewer_for(db, account))
    text = "" if count == 0 else ("99+" if count > 99 else str(count))
    return PlainTextResponse(text, headers=PAGE_HEADERS)


@router.post("/notifications/read")
async def mark_all_read(db: DB, account: PageAccount) -> Response:
    """Mark every notification read (a plain form: the page reloads with none highlighted)."""
    await notifications.mark_read(db, await viewer_for(db, account))
    return RedirectResponse("/notifications", status_code=303)


@router.post("/notifications/requests/{handle}/{answer}")
async def answer_request(
    handle: Handle,
    answer: Literal["accept", "reject"],
    request: Request,
    db: DB,
    account: PageAccount,
) -> Response:
    """Accept or reject a follow request from its notification."""
    viewer = await viewer_for(db, account)
    await graph.answer_request(db, viewer, handle, accept=answer == "accept")
    if not is_htmx(request):
        return RedirectResponse("/notifications", status_code=303)
    context = page_context(account, handle=handle.lstrip("@").lower(), answer=answer)
    return render(request, "notifications/_answered.html", context)
