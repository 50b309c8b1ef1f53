"""Profile pages of people and characters: posts, followers, and the viewer's actions.

Follow, block, mute and report go through the same graph and report services as the
JSON API. Each action answers an htmx request with the re-rendered buttons and a plain
form post with a redirect back, so the page works without JavaScript too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.deps import DB
from personae.errors import DomainError, NotFound
from personae.federation.remote import remote_of
from personae.social import directory, graph, reports, timelines
from personae.social.access import Viewer as SocialViewer
from personae.social.access import get_visible_actor, viewer_for
from personae.social.graph import Relationship
from personae.social.models import Actor
from personae.social.views import load_actors, render_posts
from personae.web import aside
from personae.web.actors import actor_rows, actor_view, avatars
from personae.web.aside import aside_context
from personae.web.common import (
    Cursor,
    PageAccount,
    canonical,
    is_htmx,
    next_page_url,
    page_context,
)
from personae.web.guard import PageRoute
from personae.web.pages import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
LIST_PAGE = 40
Action = Literal["follow", "unfollow", "block", "unblock", "mute", "unmute"]
# Room for a remote actor's `user@domain` (64-character user, 253-character domain, port).
Handle = Annotated[str, Path(max_length=330)]
REPORT_REASONS = {
    "spam": "Spam",
    "harassment": "Harassment or bullying",
    "hate": "Hate",
    "violence": "Violence or threats",
    "sexual": "Unwanted sexual content",
    "impersonation": "Impersonation",
    "illegal": "Something illegal",
    "other": "Something else",
}


async def full_view(session: AsyncSession, viewer: SocialViewer, actor: Actor) -> dict[str, Any]:
    """One actor's view with the whole relationship (for its profile and action bar)."""
    loaded = await load_actors(session, {actor.id})
    operator = loaded[actor.id][1] if actor.id in loaded else None
    relation = await graph.relationship(session, viewer, actor.id)
    view = actor_view(
        actor, operator, viewer, relation, actor.id in await avatars(session, [actor])
    )
    if actor.kind == "character":
        character = await session.get(Character, actor.id)
        view["tags"] = [str(t) for t in (character.tags if character else [])][:8]
    if actor.domain is not None:
        remote = await remote_of(session, actor.id)
        # Where to read the rest: this server only has what reached it.
        view["remote_url"] = (remote.url or remote.uri) if remote else ""
    return view


def safe_next(value: str, fallback: str) -> str:
    """A local path to go back to after a form post (never another site)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:500]
    return fallback


async def blocked_page(
    request: Request, account: Account | None, actor: Actor, db: AsyncSession
) -> Response:
    """The profile of an actor the viewer blocks: only the block and a way to lift it."""
    viewer = await viewer_for(db, account)
    view = actor_view(actor, None, viewer, Relationship(blocking=True))
    return render(
        request, "profiles/blocked.html", page_context(account, actor=view, active="profile")
    )


@router.get("/@{handle}", response_class=HTMLResponse)
async def profile_page(
    handle: Handle,
    request: Request,
    db: DB,
    account: PageAccount,
    replies: bool = False,
    cursor: Cursor = None,
) -> Response:
    """An actor's profile and posts, newest first (with replies when asked).

    htmx asks for the next page of posts only (the "load more" row).
    """
    viewer = await viewer_for(db, account)
    try:
        actor = await get_visible_actor(db, viewer, handle)
    except NotFound:
        blocked = await directory.blocked_actor(db, viewer, handle)
        if blocked is None:
            raise
        return await blocked_page(request, account, blocked, db)
    if handle != actor.handle:
        return canonical(request, f"/@{actor.handle}")
    page = await timelines.profile(db, viewer, actor.handle, replies, cursor)
    params = {"replies": "1"} if replies else {}
    context = page_context(
        account,
        replies=replies,
        posts=await render_posts(db, viewer, page.items),
        older=next_page_url(f"/@{actor.handle}", page.next_cursor, **params),
    )
    if is_htmx(request) and cursor:
        return render(request, "profiles/_posts_page.html", context)
    context["actor"] = await full_view(db, viewer, actor)
    context["reasons"] = REPORT_REASONS
    context.update(aside=await aside_context(request, db, viewer), request_path=f"/@{actor.handle}")
    if viewer.actor_id == actor.id:
        context["active"] = "profile"
    return render(request, "profile.html", context)


async def follow_list(
    request: Request,
    db: AsyncSession,
    account: Account | None,
    handle: str,
    direction: Literal["followers", "following"],
    cursor: str | None,
) -> Response:
    """Followers or followings of an actor, a page at a time."""
    viewer = await viewer_for(db, account)
    actor = await get_visible_actor(db, viewer, handle)
    if handle != actor.handle:
        return canonical(request, f"/@{actor.handle}/{direction}")
    rows = await graph.list_follows(db, viewer, actor.handle, direction, cursor, LIST_PAGE)
    next_cursor = rows[-1][0].id if len(rows) == LIST_PAGE else None
    context = page_context(
        account,
        direction=direction,
        people=await actor_rows(db, viewer, [a for _, a in rows]),
        older=next_page_url(f"/@{actor.handle}/{direction}", next_cursor),
    )
    if is_htmx(request) and cursor:
        return render(request, "profiles/_people_page.html", context)
    context["actor"] = await full_view(db, viewer, actor)
    context.update(aside=await aside_context(request, db, viewer), request_path=f"/@{actor.handle}")
    return render(request, "profiles/follows.html", context)


@router.get("/@{handle}/followers", response_class=HTMLResponse)
async def followers_page(
    handle: Handle, request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Who follows an actor, newest first."""
    return await follow_list(request, db, account, handle, "followers", cursor)


@router.get("/@{handle}/following", response_class=HTMLResponse)
async def following_page(
    handle: Handle, request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Whom an actor follows, newest first."""
    return await follow_list(request, db, account, handle, "following", cursor)


async def act(db: AsyncSession, viewer: SocialViewer, handle: str, action: Action) -> None:
    """Carry out one of the action bar's buttons through the graph service."""
    operations: dict[str, Callable[[AsyncSession, SocialViewer, str], Awaitable[object]]]
    operations = {
        "follow": graph.follow,
        "unfollow": graph.unfollow,
        "block": graph.block,
        "unblock": graph.unblock,
        "mute": graph.mute,
        "unmute": graph.unmute,
    }
    await operations[action](db, viewer, handle)


@router.get("/@{handle}/report", response_class=HTMLResponse)
async def report_form(handle: Handle, request: Request, db: DB, account: PageAccount) -> Response:
    """The form to report an actor to the admins."""
    viewer = await viewer_for(db, account)
    viewer.require_actor()
    actor = await get_visible_actor(db, viewer, handle)
    context = page_context(account, a=await full_view(db, viewer, actor), reasons=REPORT_REASONS)
    return render(request, "profiles/report.html", context)


@router.post("/@{handle}/report", response_class=HTMLResponse)
async def report_actor(
    handle: Handle,
    request: Request,
    db: DB,
    account: PageAccount,
    reason: Annotated[str, Form(max_length=30)] = "",
    comment: Annotated[str, Form(max_length=reports.MAX_COMMENT)] = "",
) -> Response:
    """Send a report; a missing reason shows the form again with the problem."""
    viewer = await viewer_for(db, account)
    viewer.require_actor()
    actor = await get_visible_actor(db, viewer, handle)
    error = ""
    if reason not in REPORT_REASONS:
        error = "Choose a reason for the report."
    else:
        try:
            await reports.create_report(db, viewer, reason, handle=actor.handle, comment=comment)
        except DomainError as exc:
            if exc.code != "already_reported":
                raise
            error = "You already reported this account and the admins have not answered yet."
    context = page_context(
        account,
        a=await full_view(db, viewer, actor),
        reasons=REPORT_REASONS,
        error=error,
        sent=not error,
        comment=comment,
        reason=reason,
    )
    if is_htmx(request):  # htmx swaps only 2xx answers, and the form must show its error
        return render(request, "profiles/_report.html", context)
    return render(request, "profiles/report.html", context, status_code=422 if error else 200)


# Last: "/@{handle}/{action}" would otherwise catch the report form's address.
@router.post("/@{handle}/{action}")
async def actor_action(
    handle: Handle,
    action: Action,
    request: Request,
    db: DB,
    account: PageAccount,
    part: Annotated[Literal["bar", "follow"], Form()] = "bar",
    next: Annotated[str, Form(max_length=500)] = "",
    slot: Annotated[Literal["follow", "welcome", "aside"], Form()] = "follow",
) -> Response:
    """Follow, unfollow, block, unblock, mute or unmute an actor."""
    viewer = await viewer_for(db, account)
    viewer.require_actor()  # signed-out visitors go to the start page (see PageRoute)
    await act(db, viewer, handle, action)
    aside.forget(request, viewer)  # whom to suggest (and their buttons) just changed
    if not is_htmx(request):
        return RedirectResponse(safe_next(next, f"/@{handle.lstrip('@').lower()}"), 303)
    viewer = await viewer_for(db, account)  # blocks and mutes changed
    actor = await directory.blocked_actor(db, viewer, handle)
    if actor is None:
        actor = await get_visible_actor(db, viewer, handle)
        view = await full_view(db, viewer, actor)
    else:
        view = actor_view(actor, None, viewer, Relationship(blocking=True))
    template = "profiles/_follow.html" if part == "follow" else "profiles/_actions.html"
    context = {
        "a": view,
        "done": action,
        "reasons": REPORT_REASONS,
        "slot": slot,
        "next": safe_next(next, f"/@{view['handle']}"),
    }
    return render(request, template, page_context(account, **context))
