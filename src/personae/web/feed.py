"""The feed: Home, For you and Public tabs, tag pages, infinite scroll and live streams.

Pages read through the same timeline services as the JSON API, with a viewer built the
same way, so a page (or a stream) never shows a post the API would not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae import sse
from personae.accounts.models import Account
from personae.deps import DB, State
from personae.social import ranking, timelines
from personae.social.access import Viewer as SocialViewer
from personae.social.access import viewer_for
from personae.social.models import Post
from personae.web import live
from personae.web.aside import aside_context
from personae.web.cards import cards, me_of, one_card_per_post
from personae.web.common import Cursor, PageAccount, is_htmx, page_url
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.views import Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)
After = Annotated[str | None, Query(max_length=32)]


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
    viewer = await viewer_for(db, account)
    # Someone who follows nobody yet would meet an empty Home: they get the community's
    # public posts instead (and suggestions of whom to follow), until they follow someone.
    welcome = feed.key == "home" and not cursor and await follows_nobody(db, viewer)
    source = PUBLIC if welcome else feed
    loader = PUBLIC.load if welcome else load or feed.load
    assert loader is not None, "a feed without a loader needs one from its page"
    page = await loader(db, viewer, cursor)
    posts = one_card_per_post(await cards(db, viewer, page.items))
    context: dict[str, Any] = {
        "feed": feed,
        "posts": posts,
        "older": page_url(source.path, page.next_cursor),
        "me": me_of(viewer),
    }
    if is_htmx(request) and cursor:
        return render(request, "feed/_items.html", context)
    newest = max((p.id for p in page.items), default="")
    if source.streams and not cursor:
        context["stream"] = f"{source.path}/stream?after={newest}"
    if account is not None:
        context["viewer"] = Viewer.of(account)
    context.update(
        active="home" if feed.key in ("home", "for-you") else "public",
        tabs=TABS if account is not None and feed.key != "tag" else (),
        compose=feed.key == "home" and not cursor,
        welcome=welcome,
        aside=await aside_context(request, db, viewer),
    )
    return render(request, "timeline.html", context)


async def follows_nobody(db: AsyncSession, viewer: SocialViewer) -> bool:
    """Whether the acting actor follows no one yet (a new account's first visits)."""
    actor = viewer.require_actor()
    return not await timelines.followee_ids(db, actor.id)


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


def fresh_posts(feed: Feed) -> live.FreshLoader:
    """What a timeline's stream sends: its newest posts, those after the last one sent."""
    assert feed.load is not None
    loader = feed.load

    async def load(session: AsyncSession, viewer: SocialViewer, after: str) -> list[Post]:
        page = await loader(session, viewer, None)
        return [p for p in page.items if p.id > after]

    return load


async def stream_response(
    request: Request, feed: Feed, after: str | None, last_event_id: str | None
) -> Response:
    """The live stream of a timeline, resuming after Last-Event-ID when the browser reconnects."""
    account_id = await live.stream_account_id(request)
    if feed.signed_in_only and account_id is None:
        return Response(status_code=204)  # 204 tells EventSource to stop reconnecting
    start = max(live.valid_id(after), live.valid_id(last_event_id))
    if not start:
        # Nothing shown yet: start from now, so an empty page does not get the backlog.
        start = timelines.id_at(time.time())
    return sse.stream(live.new_cards(request, account_id, fresh_posts(feed), start))


@router.get("/home/stream")
async def home_stream(
    request: Request, after: After = None, last_event_id: live.LastEventId = None
) -> Response:
    """New posts of your home timeline, as server-sent events."""
    return await stream_response(request, HOME, after, last_event_id)


@router.get("/public/stream")
async def public_stream(
    request: Request, after: After = None, last_event_id: live.LastEventId = None
) -> Response:
    """New public posts, as server-sent events."""
    return await stream_response(request, PUBLIC, after, last_event_id)


@router.get("/tags/{tag}/stream")
async def tag_stream(
    tag: str, request: Request, after: After = None, last_event_id: live.LastEventId = None
) -> Response:
    """New posts with a hashtag, as server-sent events."""
    return await stream_response(request, tag_feed(tag), after, last_event_id)
