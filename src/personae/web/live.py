"""Live lists of post cards over SSE: new posts of a timeline, new replies of a thread.

Each stream polls the database with the same services (and viewer rules) as its page and
sends rendered cards newer than the newest shown, honouring `Last-Event-ID` on reconnect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from personae import sse
from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.deps import request_token
from personae.social.access import Viewer as SocialViewer
from personae.social.access import viewer_for
from personae.social.models import Post
from personae.web import i18n
from personae.web.cards import cards, me_of, one_card_per_post
from personae.web.pages import templates

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

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]
# The posts a stream sends next: those the viewer may see with ids after `after`.
FreshLoader = Callable[[AsyncSession, SocialViewer, str], Awaitable[list[Post]]]


def valid_id(value: str | None) -> str:
    """A post id (32 hex digits) or the empty string: cursors from clients are checked."""
    if value and len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return ""


def card_html(request: Request, post: dict[str, Any], me: dict[str, Any] | None) -> str:
    """One post card as a list item (as timelines and threads hold it), in the page's language."""
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


async def new_cards(
    request: Request, account_id: str | None, fresh: FreshLoader, after: str
) -> AsyncIterator[bytes]:
    """SSE events: each newly visible post, oldest first, until the client goes."""
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
            found = sorted(await fresh(session, viewer, after), key=lambda p: p.id)
            rendered = one_card_per_post(await cards(session, viewer, found[-STREAM_BATCH:]))
        me = me_of(viewer)
        for post in rendered:
            after = post["id"]
            yield sse.frame(event="post", id=post["id"], data=card_html(request, post, me))
            last_sent = time.monotonic()
        if found:
            after = max(after, found[-1].id)  # cards folded into another still count as sent
        if time.monotonic() - last_sent > STREAM_KEEPALIVE_S:
            yield sse.frame(comment="keepalive")
            last_sent = time.monotonic()
        await asyncio.sleep(STREAM_POLL_S)
