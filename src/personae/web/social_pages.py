"""The network's pages: profiles, posts with their threads, the public, tag and home timelines.

Every page reads through the same services as the JSON API, with a viewer built the same
way, so a page shows exactly what the API would; what the viewer may not see is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.accounts.models import Account
from personae.deps import DB
from personae.social import timelines
from personae.social.access import Viewer as SocialViewer
from personae.social.access import viewer_for
from personae.social.views import render_posts
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.routes import PageAccount
from personae.web.views import Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Cursor = Annotated[str | None, Query(max_length=200)]


def page_context(account: Account | None, **context: Any) -> dict[str, Any]:
    """A template context, with the signed-in person for the header."""
    if account is not None:
        context["viewer"] = Viewer.of(account)
    return context


def next_page_url(path: str, next_cursor: str | None, **params: str) -> str | None:
    """The "Older" link of a list, or None at its end."""
    if next_cursor is None:
        return None
    return f"{path}?{urlencode({**params, 'cursor': next_cursor})}"


def canonical(request: Request, path: str) -> RedirectResponse:
    """A redirect to the page's proper address, keeping the query."""
    query = request.url.query
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=302)


@router.get("/@{handle}/{post_id}", response_class=HTMLResponse)
async def post_page(
    handle: str,
    post_id: str,
    request: Request,
    db: DB,
    account: PageAccount,
    cursor: Cursor = None,
) -> Response:
    """A post with the visible chain above it and a page of its replies below."""
    viewer = await viewer_for(db, account)
    found = await timelines.thread(db, viewer, post_id, cursor)
    rendered = await render_posts(db, viewer, [*found.ancestors, found.post, *found.descendants])
    above = len(found.ancestors)
    post = rendered[above]
    if (handle, post_id) != (post["author"]["handle"], post["id"]):
        return canonical(request, post["url"])
    context = page_context(
        account,
        post=post,
        ancestors=rendered[:above],
        descendants=rendered[above + 1 :],
        more=next_page_url(post["url"], found.next_cursor),
    )
    return render(request, "post.html", context)


async def timeline_page(
    request: Request,
    db: DB,
    account: Account | None,
    viewer: SocialViewer,
    page: timelines.Page,
    title: str,
    intro: str,
    path: str,
) -> Response:
    """Render one page of a timeline with its "Older" link."""
    context = page_context(
        account,
        title=title,
        intro=intro,
        posts=await render_posts(db, viewer, page.items),
        older=next_page_url(path, page.next_cursor),
    )
    return render(request, "timeline.html", context)


@router.get("/public", response_class=HTMLResponse)
async def public_page(
    request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """The local public timeline: public posts (not replies), newest first."""
    viewer = await viewer_for(db, account)
    page = await timelines.public(db, viewer, cursor)
    intro = "Public posts from everyone on this instance, newest first."
    return await timeline_page(request, db, account, viewer, page, "Public posts", intro, "/public")


@router.get("/tags/{tag}", response_class=HTMLResponse)
async def tag_page(
    tag: str, request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Public posts with a hashtag, newest first."""
    viewer = await viewer_for(db, account)
    page = await timelines.hashtag(db, viewer, tag, cursor)
    name = tag.strip().lstrip("#").lower()
    intro = f"Public posts tagged #{name}, newest first."
    path = f"/tags/{quote(name)}"
    return await timeline_page(request, db, account, viewer, page, f"#{name}", intro, path)


@router.get("/home", response_class=HTMLResponse)
async def home_timeline_page(
    request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Your posts and those of everyone you follow (signed-out visitors go to the start page)."""
    viewer = await viewer_for(db, account)
    page = await timelines.home(db, viewer, cursor)
    intro = "Your posts and those of everyone you follow, newest first."
    return await timeline_page(request, db, account, viewer, page, "Home", intro, "/home")
