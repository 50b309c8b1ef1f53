"""Posts as pages: threads, the compose, reply and quote boxes, and the inline actions.

Every page reads and writes through the same services as the JSON API, with a viewer
built the same way, so a page shows exactly what the API would; what the viewer may not
see is a 404. Each action answers htmx with the re-rendered card and a plain form post
with a redirect back, so everything works without JavaScript too.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae import sse
from personae.accounts.models import Account
from personae.deps import DB
from personae.errors import DomainError, Invalid, NotFound
from personae.social import posts as post_service
from personae.social import search, timelines
from personae.social.access import Viewer as SocialViewer
from personae.social.access import get_visible_post, viewer_for
from personae.social.models import POST_VISIBILITIES, Post
from personae.social.views import render_actors
from personae.web import live
from personae.web.aside import aside_context
from personae.web.cards import cards, me_of
from personae.web.common import Cursor, PageAccount, canonical, is_htmx, page_context, page_url
from personae.web.guard import PageRoute
from personae.web.pages import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PostRef = Annotated[str | None, Query(max_length=32)]
FormText = Annotated[str, Form(max_length=20_000)]
# A post's text may arrive far over the limit (a long paste without script): it is read
# whole so that the refusal can show it again, never cut.
PostText = Annotated[str, Form(max_length=200_000)]
MENTION_LIMIT = 8
# Where a successful post goes in the page that sent it (never a selector from the client).
INTO = {"feed": "afterbegin:#feed-posts", "replies": "beforeend:#thread-replies"}
# Kind words for the errors people meet while writing; anything else shows the service's.
FRIENDLY = {
    "empty_post": "Write something first: a post needs some text.",
    "post_too_long": "That is longer than a post can be (3000 characters). Shorten it a little.",
    "field_too_long": "The content warning is too long (500 characters at most).",
    "ai_refused": "Someone you mentioned or answered does not accept this from AI characters.",
    "reply_too_wide": (
        "A reply cannot reach further than the post it answers: pick a narrower audience."
    ),
    "not_quotable": "Only public and unlisted posts can be quoted.",
    "not_repostable": "Only public and unlisted posts can be reposted.",
}


def back_to(request: Request, fallback: str) -> str:
    """Where a form post without JavaScript returns: the page it came from, on this site."""
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else ""
    if not path:
        return fallback
    return f"{path}?{parts.query}" if parts.query else path


def friendly(exc: DomainError) -> str:
    """The message to show next to a form for a refused post."""
    return FRIENDLY.get(exc.code, exc.message)


@router.get("/@{handle}/{post_id}", response_class=HTMLResponse)
async def post_page(
    handle: str,
    post_id: str,
    request: Request,
    db: DB,
    account: PageAccount,
    cursor: Cursor = None,
) -> Response:
    """A post with the visible chain above it, a reply box, and its replies below."""
    viewer = await viewer_for(db, account)
    found = await timelines.thread(db, viewer, post_id, cursor)
    rendered = await cards(db, viewer, [*found.ancestors, found.post, *found.descendants])
    above = len(found.ancestors)
    post = rendered[above]
    if (handle, post_id) != (post["author"]["handle"], post["id"]):
        return canonical(request, post["url"])
    more = page_url(post["url"], found.next_cursor)
    context = page_context(
        account,
        post=post,
        ancestors=rendered[:above],
        descendants=rendered[above + 1 :],
        more=more,
        me=me_of(viewer),
        active="home" if account else "public",
    )
    if is_htmx(request) and cursor:
        return render(request, "feed/_replies.html", context)
    if more is None and not cursor:
        # Every reply is shown: new ones arrive live at the end of the list.
        last = max([found.post.id, *(p.id for p in found.descendants)])
        context["stream"] = f"{post['url']}/stream?after={last}"
    context.update(aside=await aside_context(request, db, viewer), request_path=post["url"])
    return render(request, "post.html", context)


def fresh_replies(post_id: str) -> live.FreshLoader:
    """What a thread's stream sends: replies below the post newer than the last one sent."""

    async def load(session: AsyncSession, viewer: SocialViewer, after: str) -> list[Post]:
        try:
            found = await timelines.thread(session, viewer, post_id, after or None)
        except NotFound:  # deleted, or hidden from the viewer since: nothing more to send
            return []
        return found.descendants

    return load


@router.get("/@{handle}/{post_id}/stream")
async def thread_stream(
    handle: str,
    post_id: str,
    request: Request,
    after: PostRef = None,
    last_event_id: live.LastEventId = None,
) -> Response:
    """New replies of a thread, as server-sent events (404 when the post is not visible)."""
    # No request-scoped session: it would be held for as long as the stream runs.
    account_id = await live.stream_account_id(request)
    async with request.app.state.personae.sessions() as session:
        account = await session.get(Account, account_id) if account_id else None
        viewer = await viewer_for(session, account)
        shown = await get_visible_post(session, viewer, post_id)
        target = shown.repost_of_id or shown.id
    start = max(live.valid_id(after), live.valid_id(last_event_id)) or target
    return sse.stream(live.new_cards(request, account_id, fresh_replies(target), start))


def compose_values(
    text: str = "",
    content_warning: str = "",
    visibility: str = "",
    in_reply_to_id: str = "",
    quote_of_id: str = "",
    into: str = "",
) -> dict[str, str]:
    """The fields of a compose box (kept when a post is refused, so nothing typed is lost)."""
    return {
        "text": text,
        "content_warning": content_warning,
        "visibility": visibility,
        "in_reply_to_id": in_reply_to_id,
        "quote_of_id": quote_of_id,
        "into": into if into in INTO else "",
    }


async def target_of(db: DB, viewer: SocialViewer, values: dict[str, str]) -> dict[str, Any] | None:
    """The post being answered or quoted, as a card (404 when the viewer may not see it)."""
    ref = values["in_reply_to_id"] or values["quote_of_id"]
    if not ref:
        return None
    post = await get_visible_post(db, viewer, ref)
    if post.repost_of_id:
        post = await get_visible_post(db, viewer, post.repost_of_id)
    card = (await cards(db, viewer, [post]))[0]
    if not values["visibility"]:
        # A reply keeps its parent's audience by default (it may not reach further).
        values["visibility"] = post.visibility if values["in_reply_to_id"] else "public"
    return card


async def compose_form(
    request: Request,
    db: DB,
    account: Account | None,
    viewer: SocialViewer,
    values: dict[str, str],
    error: str = "",
    status_code: int = 200,
    sent: dict[str, Any] | None = None,
) -> Response:
    """A compose box: inline (for htmx) or as a page of its own (without JavaScript)."""
    target = await target_of(db, viewer, values)
    inline = is_htmx(request)
    context = page_context(
        account,
        values=values,
        error=error,
        target=target,
        sent=sent,
        into=INTO.get(values["into"], ""),
        me=me_of(viewer),
        visibilities=POST_VISIBILITIES,
        active="home",
    )
    if inline:
        return render(request, "feed/_compose_reply.html", context)
    return render(request, "feed/compose.html", context, status_code=status_code)


@router.get("/compose", response_class=HTMLResponse)
async def compose_page(
    request: Request,
    db: DB,
    account: PageAccount,
    in_reply_to_id: PostRef = None,
    quote_of_id: PostRef = None,
) -> Response:
    """A reply or quote box: inline under a post (htmx), or a page without JavaScript."""
    if account is None:
        return RedirectResponse("/", status_code=303)
    viewer = await viewer_for(db, account)
    values = compose_values(in_reply_to_id=in_reply_to_id or "", quote_of_id=quote_of_id or "")
    if in_reply_to_id and quote_of_id:
        values["quote_of_id"] = ""
    return await compose_form(request, db, account, viewer, values)


@router.post("/posts")
async def create_post(
    request: Request,
    db: DB,
    account: PageAccount,
    text: PostText = "",
    content_warning: FormText = "",
    visibility: Annotated[str, Form(max_length=20)] = "public",
    in_reply_to_id: Annotated[str, Form(max_length=32)] = "",
    quote_of_id: Annotated[str, Form(max_length=32)] = "",
    into: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Publish from a compose, reply or quote box; refusals come back next to the form."""
    viewer = await viewer_for(db, account)
    viewer.require_actor()
    # Browsers send each line break as CRLF; the person typed one character, not two.
    text = text.replace("\r\n", "\n")
    values = compose_values(text, content_warning, visibility, in_reply_to_id, quote_of_id, into)
    try:
        post = await post_service.create_post(
            db,
            viewer,
            text,
            content_warning.strip(),
            visibility=visibility,
            in_reply_to_id=in_reply_to_id or None,
            quote_of_id=quote_of_id or None,
        )
    except NotFound:
        raise
    except DomainError as exc:
        # Nothing was written: the service checks everything before it adds the post.
        # htmx only swaps 2xx answers, so the inline form says 200 and carries the error.
        code = 200 if is_htmx(request) else exc.status_code
        return await compose_form(request, db, account, viewer, values, friendly(exc), code)
    card = (await cards(db, viewer, [post]))[0]
    if not is_htmx(request):
        return RedirectResponse(back_to(request, card["url"]) if into else card["url"], 303)
    fresh = compose_values(
        visibility="", in_reply_to_id=in_reply_to_id, quote_of_id=quote_of_id, into=into
    )
    if into == "feed":
        fresh["visibility"] = visibility  # keep the audience the person chose
    return await compose_form(request, db, account, viewer, fresh, sent=card)


async def card_response(
    request: Request, db: DB, viewer: SocialViewer, card_id: str, fallback: Post | None
) -> Response:
    """The re-rendered card that sent an action (htmx), or a redirect back (plain form)."""
    if not is_htmx(request):
        return RedirectResponse(back_to(request, "/home"), status_code=303)
    try:
        post = await get_visible_post(db, viewer, card_id)
    except NotFound:
        if fallback is None:  # the card's post is gone (undoing one's own repost)
            return render(request, "feed/_gone.html", {})
        post = fallback
    card = (await cards(db, viewer, [post]))[0]
    return render(request, "feed/_card.html", {"p": card, "me": me_of(viewer)})


async def acting(db: DB, account: Account | None) -> SocialViewer:
    """The viewer of an action; signed-out visitors are sent to log in."""
    viewer = await viewer_for(db, account)
    viewer.require_actor()
    return viewer


@router.post("/posts/{post_id}/like")
async def like(post_id: str, request: Request, db: DB, account: PageAccount) -> Response:
    """Like a post."""
    viewer = await acting(db, account)
    post = await post_service.like(db, viewer, post_id)
    return await card_response(request, db, viewer, post_id, post)


@router.post("/posts/{post_id}/unlike")
async def unlike(post_id: str, request: Request, db: DB, account: PageAccount) -> Response:
    """Take a like back."""
    viewer = await acting(db, account)
    post = await post_service.unlike(db, viewer, post_id)
    return await card_response(request, db, viewer, post_id, post)


@router.post("/posts/{post_id}/repost")
async def repost(post_id: str, request: Request, db: DB, account: PageAccount) -> Response:
    """Repost a post."""
    viewer = await acting(db, account)
    await post_service.repost(db, viewer, post_id)
    return await card_response(request, db, viewer, post_id, None)


@router.post("/posts/{post_id}/unrepost")
async def unrepost(post_id: str, request: Request, db: DB, account: PageAccount) -> Response:
    """Undo a repost."""
    viewer = await acting(db, account)
    original = await post_service.unrepost(db, viewer, post_id)
    return await card_response(request, db, viewer, post_id, original)


@router.post("/posts/{post_id}/delete")
async def delete(post_id: str, request: Request, db: DB, account: PageAccount) -> Response:
    """Delete your own post."""
    viewer = await acting(db, account)
    await post_service.delete_post(db, viewer, post_id)
    if is_htmx(request):
        return render(request, "feed/_gone.html", {"deleted": True})
    fallback = "/home"
    back = back_to(request, fallback)
    # Coming from the deleted post's own page, there is nothing to go back to.
    return RedirectResponse(fallback if post_id in back else back, status_code=303)


@router.get("/mentions")
async def mentions(
    db: DB, account: PageAccount, q: Annotated[str, Query(max_length=30)] = ""
) -> Response:
    """Actors whose handle or name starts like `q`, for the @mention suggestions."""
    word = q.strip().lstrip("@")
    if account is None or not word:
        return JSONResponse([])
    viewer = await viewer_for(db, account)
    try:
        found, _ = await search.search_actors(db, viewer, word, limit=3 * MENTION_LIMIT)
    except Invalid:  # only punctuation typed so far: nothing to suggest yet
        return JSONResponse([])
    prefix = word.lower()
    # Search ranks by popularity and matches bios too; someone typing "@ab" most likely
    # means a handle (then a name) starting with "ab", so those come first.
    found.sort(
        key=lambda a: (
            not a.handle.startswith(prefix),
            not (a.display_name or "").lower().startswith(prefix),
        )
    )
    return JSONResponse(
        [
            {
                "handle": a["handle"],
                "name": a["display_name"] or a["handle"],
                "ai": bool(a["is_ai"]),
            }
            for a in await render_actors(db, found[:MENTION_LIMIT])
        ]
    )
