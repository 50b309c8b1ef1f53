"""The suggestions beside the feed (the aside on wide screens) and on a new account's Home.

Trending tags, characters and people to follow, read through social/suggestions.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from personae.social import suggestions
from personae.social.access import Viewer as SocialViewer
from personae.web.actors import actor_rows


async def aside_context(session: AsyncSession, viewer: SocialViewer) -> dict[str, Any]:
    """Trending tags and who to follow, as the aside and the welcome panel show them."""
    characters = await suggestions.characters(session, viewer)
    people = await suggestions.people(session, viewer)
    return {
        "tags": await suggestions.trending_tags(session, viewer),
        "characters": await actor_rows(session, viewer, characters),
        "people": await actor_rows(session, viewer, people),
    }
