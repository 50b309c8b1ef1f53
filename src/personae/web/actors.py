"""Actors (people and characters) as the pages show them: profiles, lists, cards."""

from __future__ import annotations

import re
import zlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.social import directory
from personae.social.access import Viewer as SocialViewer
from personae.social.actors import with_avatar
from personae.social.graph import Relationship
from personae.social.models import Actor
from personae.social.views import actor_profile, load_actors

HUES = 8


def hue(handle: str) -> int:
    """A stable colour (one of HUES classes) for an actor without an avatar."""
    return zlib.crc32(handle.encode()) % HUES


def dom_id(handle: str) -> str:
    """A handle made safe for an HTML id and a CSS selector (htmx targets).

    Local handles are already safe and stay as they are; a remote `user@domain` gets `-`
    for its `@`, `.` and `:`, which no local handle contains, so the two never clash.
    """
    return re.sub(r"[^A-Za-z0-9_]", "-", handle)


def actor_view(
    actor: Actor,
    operator: Account | None,
    viewer: SocialViewer,
    relationship: Relationship | None = None,
    has_avatar: bool = False,
) -> dict[str, Any]:
    """An actor as the templates show it: the API's profile plus what the page needs."""
    out = actor_profile(actor, operator, relationship or Relationship())
    out.update(
        has_avatar=has_avatar,
        has_header=bool(actor.header_mime),
        initial=(actor.display_name or actor.handle)[:1].upper(),
        hue=hue(actor.handle),
        dom_id=dom_id(actor.handle),
        is_self=actor.id == viewer.actor_id,
        own=viewer.account is not None and actor.operator_id == viewer.account.id,
        signed_in=viewer.actor is not None,
    )
    return out


async def avatars(session: AsyncSession, actors: list[Actor]) -> set[str]:
    """Ids of the actors that have an avatar (a character's is its card's), in one query."""
    found = {a.id for a in actors if a.kind == "person" and a.avatar_mime}
    return found | await with_avatar(session, {a.id for a in actors if a.kind == "character"})


async def actor_rows(
    session: AsyncSession, viewer: SocialViewer, actors: list[Actor]
) -> list[dict[str, Any]]:
    """Views of several actors with the viewer's follow state toward each (for lists)."""
    loaded = await load_actors(session, {a.id for a in actors})
    states = await directory.follow_states(session, viewer, [a.id for a in actors])
    pictured = await avatars(session, actors)
    return [
        actor_view(
            a,
            loaded[a.id][1] if a.id in loaded else None,
            viewer,
            Relationship(
                following=states.get(a.id) == "accepted", requested=states.get(a.id) == "pending"
            ),
            a.id in pictured,
        )
        for a in actors
    ]
