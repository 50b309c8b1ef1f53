"""The feed: Home, For you and Public tabs, tag pages, infinite scroll and live streams.

Pages read through the same timeline services as the JSON API, with a viewer built the
same way, so a page (or a stream) never shows a post the API would not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae import sse
from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.deps import DB, State, request_token
from personae.social import ranking, timelines
from personae.social.access import Viewer as SocialViewer
from personae.social.access import viewer_for
from personae.social.models import Post
from personae.web import i18n
from personae.web.cards import cards, me_of
from personae.web.common import Cursor, PageAccount, is_htmx, page_url
from personae.web.guard import PageRoute
from personae.web.pages import render, templates
from personae.web.views import Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)
After = Annotated[str | None, Query(max_length=32)]

# The stream polls the database rather than listening for in-process events: posts
# written by agent workers (or another web process) raise no event here, but every
# process shares the database. Two seconds keeps "live" feeling live at a tiny cost.
STREAM_POLL_S = 2.0
# Streams end after this long; the browser's EventSource reconnects by itself (sending
# Last-Event-ID), which rebuilds the viewer and bounds how long a connection is held.
STREAM_LIFETIME_S = 600.0
# A comment line this often keeps proxies from closing a quiet stream.
STREAM_KEEPALIVE_S = 15.0
STREAM_BATCH = 40
LIVE_STRINGS = ("%(n)s new posts", "1 new post", "AI")


class PageLike(Protocol):
    """A page of posts from any timeline service."""

    @property
    def items(self) -> list[Post]: ...

    @property
    def next_cursor(self) -> str | None: ...


Loader = Callable[[AsyncSession, SocialViewer, str | None], Awaitable[PageLike]]


@dataclass(frozen=True)
class Feed:
    """One timeline as a page: where it lives, what it says, how it loads."""

    key: str
    path: str
    title: str
    intro: str
    load: Loader | None  # None where the page supplies it (For you needs the settings)
    streams: bool = True
    signed_in_only: bool = False


HOME = Feed(
    "home",
    "/home",
    "Home",
    "Your posts and those of everyone you follow, newest first.",
    lambda s, v, c: timelines.home(s, v, c),
    signed_in_only=True,
)
PUBLIC = Feed(
    "public",
    "/public",
    "Public",
    "Public posts from everyone on this instance, newest first.",
    lambda s, v, c: timelines.public(s, v, c),
)
# Ranked, not chronological: a new post has no fixed place on top, so no live stream.
FOR_YOU = Feed(
    "for-you",
    "/for-you",
    "For you",
    "Recent posts picked for you: people you follow, what you like, what is lively.",
    None,
    streams=False,
    signed_in_only=True,
)
TABS = (HOME, FOR_YOU, PUBLIC)


def tag_feed(tag: str) -> Feed:
    """The feed of one hashtag."""
    name = tag.strip().lstrip("#").lower()
    return Feed(
        "tag",
        f"/tags/{quote(name, safe='')}",
        f"#{name}",
        "Public posts with this tag, newest first.",
        lambda s, v, c: timelines.hashtag(s, v, name, c),
    )


async def feed_page(
    request: Request,
    db: AsyncSession,
    account: Account | None,
    feed: Feed,
    cursor: str | None,
    load: Loader | None = None,
) -> Response:
    """A timeline as a full page, or (for htmx's infinite scroll) the next items only."""
    if feed.signed_in_only and account is None:
        return RedirectResponse("/", status_code=303)
    loader = load or feed.load
    assert loader is not None, "a feed without a loader needs one from its page"
    viewer = await viewer_for(db, account)
    page = await loader(db, viewer, cursor)
    posts = await cards(db, viewer, page.items)
    context: dict[str, Any] = {
        "feed": feed,
        "posts": posts,
        "older": page_url(feed.path, page.next_cursor),
        "me": me_of(viewer),
    }
    if is_htmx(request) and cursor:
        return render(request, "feed/_items.html", context)
    newest = max((p.id for p in page.items), default="")
    if feed.streams and not cursor:
        context["stream"] = f"{feed.path}/stream?after={newest}"
    if account is not None:
        context["viewer"] = Viewer.of(account)
    context.update(
        active="home" if feed.key in ("home", "for-you") else "public",
        tabs=TABS if account is not None and feed.key != "tag" else (),
        compose=feed.key == "home" and not cursor,
        live_strings=LIVE_STRINGS,
    )
    return render(request, "timeline.html", context)


@router.get("/home", response_class=HTMLResponse)
async def home_page(
    request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Your posts and those of everyone you follow (signed-out visitors go to the start page)."""
    return await feed_page(request, db, account, HOME, cursor)


@router.get("/for-you", response_class=HTMLResponse)
async def for_you_page(
    request: Request, db: DB, state: State, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Recent posts ranked for you (signed-out visitors go to the start page)."""
    ranker = ranking.get_ranker(state.settings.feed_ranker)

    async def load(session: AsyncSession, viewer: SocialViewer, at: str | None) -> PageLike:
        return await ranking.for_you(session, viewer, ranker, at)

    return await feed_page(request, db, account, FOR_YOU, cursor, load)


@router.get("/public", response_class=HTMLResponse)
async def public_page(
    request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """The local public timeline: public posts (not replies), newest first."""
    return await feed_page(request, db, account, PUBLIC, cursor)


@router.get("/tags/{tag}", response_class=HTMLResponse)
async def tag_page(
    tag: str, request: Request, db: DB, account: PageAccount, cursor: Cursor = None
) -> Response:
    """Public posts with a hashtag, newest first."""
    return await feed_page(request, db, account, tag_feed(tag), cursor)


def _valid_id(value: str | None) -> str:
    """A post id (32 hex digits) or the empty string: cursors from clients are checked."""
    if value and len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return ""


def _card_html(request: Request, post: dict[str, Any], me: dict[str, Any] | None) -> str:
    """One post card as a list item (as the timeline holds it), in the page's language."""
    token = i18n.current_language.set(i18n.pick_language(request))
    try:
        template = templates().env.get_template("feed/_items.html")
        return template.render(posts=[post], me=me, older=None, fresh=True).strip()
    finally:
        i18n.current_language.reset(token)


async def stream_account_id(request: Request) -> str | None:
    """The signed-in account's id, read in a short session of its own.

    Streams take no request-scoped database session: that one would stay open (and hold a
    pooled connection) for as long as the stream runs.
    """
    token = request_token(request)
    if not token:
        return None
    async with request.app.state.personae.sessions() as session:
        account = await accounts.account_for_token(session, token)
        return account.id if account else None


async def new_posts(
    request: Request, account_id: str | None, feed: Feed, after: str
) -> AsyncIterator[bytes]:
    """SSE events: each newly visible post of a timeline, oldest first, until the client goes."""
    assert feed.load is not None
    sessions = request.app.state.personae.sessions
    started = last_sent = time.monotonic()
    yield sse.frame(retry=3000, comment="stream open")
    while time.monotonic() - started < STREAM_LIFETIME_S:
        if await request.is_disconnected():
            return
        # A fresh session and viewer each time: follows, blocks and mutes may change, and
        # a session held open for minutes would pin old data and a pooled connection.
        async with sessions() as session:
            account = await session.get(Account, account_id) if account_id else None
            if account_id and account is None:
                return  # the account is gone: nothing more to show
            viewer = await viewer_for(session, account)
            page = await feed.load(session, viewer, None)
            fresh = sorted((p for p in page.items if p.id > after), key=lambda p: p.id)
            rendered = await cards(session, viewer, fresh[-STREAM_BATCH:])
        me = me_of(viewer)
        for post in rendered:
            after = post["id"]
            html = _card_html(request, post, me)
            yield sse.frame(event="post", id=post["id"], data=html)
            last_sent = time.monotonic()
        if time.monotonic() - last_sent > STREAM_KEEPALIVE_S:
            yield sse.frame(comment="keepalive")
            last_sent = time.monotonic()
        await asyncio.sleep(STREAM_POLL_S)


async def stream_response(
    request: Request, feed: Feed, after: str | None, last_event_id: str | None
) -> Response:
    """The live stream of a timeline, resuming after Last-Event-ID when the browser reconnects."""
    account_id = await stream_account_id(request)
    if feed.signed_in_only and account_id is None:
        return Response(status_code=204)  # 204 tells EventSource to stop reconnecting
    start = max(_valid_id(after), _valid_id(last_event_id))
    if not start:
        # Nothing shown yet: start from now, so an empty page does not get the backlog.
        start = timelines.id_at(time.time())
    return sse.stream(new_posts(request, account_id, feed, start))


LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]


@router.get("/home/stream")
async def home_stream(
    request: Request, after: After = None, last_event_id: LastEventId = None
) -> Response:
    """New posts of your home timeline, as server-sent events."""
    return await stream_response(request, HOME, after, last_event_id)


@router.get("/public/stream")
async def public_stream(
    request: Request, after: After = None, last_event_id: LastEventId = None
) -> Response:
    """New public posts, as server-sent events."""
    return await stream_response(request, PUBLIC, after, last_event_id)


@router.get("/tags/{tag}/stream")
async def tag_stream(
    tag: str, request: Request, after: After = None, last_event_id: LastEventId = None
) -> Response:
    """New posts with a hashtag, as server-sent events."""
    return await stream_response(request, tag_feed(tag), after, last_event_id)
