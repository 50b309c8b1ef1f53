"""The suggestions beside the feed (the aside on wide screens) and on a new account's Home.

Trending tags, characters and people to follow, read through social/suggestions.py.
The ranking behind them (a week of engagement) changes slowly but costs tens of
milliseconds, so each viewer's set is kept for a minute in the app: a page view then
costs a dictionary lookup. The viewer's own follows, blocks and mutes from these pages
drop their kept set at once (`forget`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from personae.social import suggestions
from personae.social.access import Viewer as SocialViewer
from personae.web.actors import actor_rows

TTL_S = 60.0
# Bounded: past this many viewers the oldest sets go first.
KEPT_MAX = 1000
Key = tuple[str, frozenset[str], frozenset[str]]


def _kept(request: Request) -> dict[Key, tuple[float, dict[str, Any]]]:
    """This app's kept suggestions (one store per app, so each test app starts empty)."""
    state = request.app.state
    if not hasattr(state, "aside_kept"):
        state.aside_kept = {}
    kept: dict[Key, tuple[float, dict[str, Any]]] = state.aside_kept
    return kept


def _key(viewer: SocialViewer) -> Key:
    """Whose suggestions these are: the actor, and whom it does not want to see."""
    return (viewer.actor_id or "", frozenset(viewer.blocked), frozenset(viewer.muted))


def forget(request: Request, viewer: SocialViewer) -> None:
    """Drop the viewer's kept suggestions (after they follow, block or mute someone)."""
    kept = _kept(request)
    for key in [k for k in kept if k[0] == (viewer.actor_id or "")]:
        kept.pop(key, None)


async def aside_context(
    request: Request, session: AsyncSession, viewer: SocialViewer
) -> dict[str, Any]:
    """Trending tags and who to follow, as the aside and the welcome panel show them."""
    kept = _kept(request)
    key = _key(viewer)
    now = time.monotonic()
    found = kept.get(key)
    if found is not None and now - found[0] < TTL_S:
        return found[1]
    characters = await suggestions.characters(session, viewer)
    people = await suggestions.people(session, viewer)
    fresh = {
        "tags": await suggestions.trending_tags(session, viewer),
        "characters": await actor_rows(session, viewer, characters),
        "people": await actor_rows(session, viewer, people),
    }
    if len(kept) >= KEPT_MAX:
        for old in sorted(kept, key=lambda k: kept[k][0])[: KEPT_MAX // 4]:
            del kept[old]
    kept[key] = (now, fresh)
    return fresh
