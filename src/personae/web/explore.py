"""Explore: the directory of public characters (search, tags, trending) and network search."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.deps import DB, get_state
from personae.errors import DomainError
from personae.federation.context import Federation
from personae.federation.remote import ACCT, lookup_acct
from personae.social import directory, search
from personae.social.access import Viewer as SocialViewer
from personae.social.access import get_visible_actor, viewer_for
from personae.social.actors import find_actor
from personae.social.graph import Relationship
from personae.social.views import render_posts
from personae.web.actors import actor_rows, actor_view, avatars
from personae.web.common import Cursor, PageAccount, is_htmx, page_context
from personae.web.guard import PageRoute
from personae.web.pages import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Tab = Literal["characters", "trending", "people", "posts"]
SearchText = Annotated[str, Query(max_length=search.MAX_QUERY)]
TagText = Annotated[str, Query(max_length=directory.MAX_TAG)]
CARDS = 24
SHORT = 180


def short_text(text: str, name: str, limit: int = SHORT) -> str:
    """A card's one-paragraph description: macros filled in, cut at a word."""
    text = " ".join(text.replace("{{char}}", name).replace("{{user}}", "you").split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


async def character_cards(
    db: AsyncSession, viewer: SocialViewer, listed: list[directory.Listed]
) -> list[dict[str, Any]]:
    """Explore cards: the actor view plus the card's description, tags and trending score."""
    states = await directory.follow_states(db, viewer, [item.actor.id for item in listed])
    pictured = await avatars(db, [item.actor for item in listed])
    cards = []
    for item in listed:
        state = states.get(item.actor.id)
        relation = Relationship(following=state == "accepted", requested=state == "pending")
        view = actor_view(item.actor, item.operator, viewer, relation, item.actor.id in pictured)
        character = item.character
        view.update(
            description=short_text(item.actor.bio or character.description, character.name),
            tags=[str(t) for t in (character.tags or [])][:4],
            score=item.score,
        )
        cards.append(view)
    return cards


def account_address(q: str) -> tuple[str, str] | None:
    """(user, domain) when the search is an account address (`@user@domain`), else None.

    The domain must have a dot, so a half-typed address ("bob@exa") does not send a
    lookup to a server that cannot exist.
    """
    match = ACCT.fullmatch(q)
    if match is None or "." not in match.group("domain"):
        return None
    return match.group("user"), match.group("domain").lower()


async def look_up_account(
    request: Request, db: AsyncSession, viewer: SocialViewer, user: str, domain: str
) -> tuple[list[dict[str, Any]], str]:
    """The account an address names, as a result row, and an error message ("" if none).

    Signed-in viewers may make the server ask the account's own (remote) server; visitors
    only find accounts this server already knows.
    """
    federation = Federation.from_settings(get_state(request).settings)
    handle = f"{user}@{domain}".lower()
    try:
        if domain == federation.urls.domain:
            actor = await get_visible_actor(db, viewer, user)
        elif viewer.actor is None:
            known = await find_actor(db, handle)
            if known is None:
                return [], "Log in to look up accounts on other servers."
            actor = await get_visible_actor(db, viewer, known.handle)
        else:
            found, _ = await lookup_acct(db, federation, handle)
            actor = await get_visible_actor(db, viewer, found.handle)
    except DomainError as exc:
        return [], exc.message
    return await actor_rows(db, viewer, [actor]), ""


def explore_url(tab: str, q: str = "", tag: str = "", cursor: str | None = None) -> str:
    """The address of an Explore view (its first page, or the page after `cursor`)."""
    params = {"tab": tab} if tab != "characters" else {}
    if q:
        params["q"] = q
    if tag:
        params["tag"] = tag
    if cursor:
        params["cursor"] = cursor
    return f"/explore?{urlencode(params)}" if params else "/explore"


def more_url(tab: str, q: str, tag: str, next_cursor: str | None) -> str | None:
    """The "load more" address, or None at the end of the list."""
    return explore_url(tab, q, tag, next_cursor) if next_cursor else None


@router.get("/explore", response_class=HTMLResponse)
async def explore_page(
    request: Request,
    db: DB,
    account: PageAccount,
    tab: Tab = "characters",
    q: SearchText = "",
    tag: TagText = "",
    cursor: Cursor = None,
) -> Response:
    """Characters to discover (most followed first, or trending), and search.

    htmx gets the results region only: the search box asks for it as you type, and the
    "load more" row for the next page.
    """
    viewer = await viewer_for(db, account)
    q = q.strip()
    address = account_address(q)
    if address is not None and tab == "characters":
        tab = "people"  # an account address names one account: show it, found or not
    tag = directory.normal_tag(tag) if tag.strip() else ""
    context = page_context(account, active="explore", tab=tab, q=q, tag=tag, tags=[])
    context.update(cards=[], people=[], posts=[], older=None, lookup_error="")
    if tab == "characters":
        listed, next_cursor = await directory.list_characters(db, viewer, q, tag, cursor, CARDS)
        context["cards"] = await character_cards(db, viewer, listed)
        context["older"] = more_url(tab, q, tag, next_cursor)
        popular = await directory.popular_tags(db, viewer)
        # The chosen tag keeps its chip (marked current) even when it is not a popular one.
        context["tags"] = [tag, *popular] if tag and tag not in popular else popular
    elif tab == "trending":
        context["cards"] = await character_cards(db, viewer, await directory.trending(db, viewer))
    elif tab == "people" and address is not None:
        context["people"], context["lookup_error"] = await look_up_account(
            request, db, viewer, *address
        )
    elif tab == "people" and q:
        found, next_cursor = await search.search_actors(db, viewer, q, cursor)
        context["people"] = await actor_rows(db, viewer, found)
        context["older"] = more_url(tab, q, "", next_cursor)
    elif tab == "posts" and q:
        page = await search.search_posts(db, viewer, q, cursor)
        context["posts"] = await render_posts(db, viewer, page.items)
        context["older"] = more_url(tab, q, "", page.next_cursor)
    context["here"] = explore_url(tab, q, tag)
    if is_htmx(request):
        name = "explore/_items.html" if cursor else "explore/_results.html"
        return render(request, name, context)
    return render(request, "explore/index.html", context)
