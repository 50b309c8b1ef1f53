"""The checks that keep anyone from taking a name or handle that passes for someone
else's, among the network's actors (the look-alike algorithm is `personae.lookalikes`)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import Invalid
from personae.lookalikes import lookalike_digest, lookalike_form, same_name, skeleton
from personae.social.models import Actor

__all__ = [
    "NameKind",
    "check_display_name",
    "check_handle",
    "lookalike_digest",
    "lookalike_form",
    "same_name",
    "skeleton",
]

NameKind = Literal["person", "character", "persona"]


async def check_handle(session: AsyncSession, handle: str) -> None:
    """Refuse a new handle that looks like another local actor's (a1ice for alice)."""
    digest = lookalike_digest(handle)
    if digest is None:
        return
    found = await session.scalar(
        select(Actor.handle).where(
            Actor.handle_skeleton == digest,
            Actor.domain.is_(None),
            Actor.hidden.is_(False),
            Actor.handle != handle,
        )
    )
    if found is not None:
        raise Invalid(
            f"'{handle}' looks too much like @{found}; choose a username nobody could "
            "take for someone else's",
            code="handle_confusable",
        )


async def check_display_name(
    session: AsyncSession,
    name: str,
    *,
    kind: NameKind,
    operator_id: str | None,
    own_handle: str = "",
) -> None:
    """Refuse a display name that reads as another account's or character's handle or
    display name (case and Unicode look-alikes included).

    Not counted: the actors the same account answers for (a person and their own
    characters may share a name), a name that is the actor's own handle, private
    characters (nobody sees them), remote actors, and a character named exactly like
    another creator's character (cards are shared, so two "Sherlock Holmes" are normal;
    both carry the AI label and their own handle). A look-alike spelling of a character's
    name is still refused: nobody types a Cyrillic "Ѕ" by chance.
    """
    digest = lookalike_digest(name)
    if digest is None or (own_handle and digest == lookalike_digest(own_handle)):
        return
    query = select(Actor.handle, Actor.display_name, Actor.kind, Actor.handle_skeleton).where(
        or_(Actor.handle_skeleton == digest, Actor.name_skeleton == digest),
        Actor.domain.is_(None),
        Actor.hidden.is_(False),
    )
    if operator_id is not None:
        query = query.where(or_(Actor.operator_id.is_(None), Actor.operator_id != operator_id))
    rows = await session.execute(query.limit(20))
    for handle, display_name, other_kind, handle_digest in rows:
        if handle_digest == digest:
            what = f"the handle @{handle}"
        elif kind == "character" and other_kind == "character" and same_name(name, display_name):
            continue
        else:
            what = f"the name of @{handle}"
        raise Invalid(
            f"the name '{name.strip()}' looks like {what}; choose a name nobody could take "
            "for someone else's",
            code="name_confusable",
        )
