"""What people may see and delete of what characters remember about them.

Authorisation lives here, not in the routes: a person's actor has the id of their
account, so every query keeps to `about_actor_id == account.id`, and anything else is a
404 (we never say whether a memory exists when it is not about the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.db import check_cursor
from personae.errors import NotFound
from personae.memory.models import Memory

PAGE_MAX = 100


@dataclass(frozen=True)
class RememberedItem:
    """A memory about the caller and the character that holds it."""

    memory: Memory
    character_handle: str
    character_name: str


async def _character_for(session: AsyncSession, account: Account, handle: str) -> Character:
    """A character by handle, as far as the caller may know it exists (else 404)."""
    character = await session.scalar(
        select(Character).where(Character.handle == handle.strip().lstrip("@").lower())
    )
    if character is None:
        raise NotFound(f"no character with the handle {handle!r}")
    if character.visibility == "private" and character.owner_id != account.id:
        # Someone else's private character exists for the caller only if it remembers them.
        held = await session.scalar(
            select(Memory.id)
            .where(Memory.character_id == character.id, Memory.about_actor_id == account.id)
            .limit(1)
        )
        if held is None:
            raise NotFound(f"no character with the handle {handle!r}")
    return character


async def list_memories_about(
    session: AsyncSession,
    account: Account,
    character_handle: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[RememberedItem], str | None]:
    """What characters remember about the caller (one character's, with a handle), newest first."""
    cursor = check_cursor(cursor)
    limit = max(1, min(int(limit), PAGE_MAX))
    # A person's actor has the id of their account.
    statement = (
        select(Memory, Character.handle, Character.name)
        .join(Character, Character.id == Memory.character_id)
        .where(Memory.about_actor_id == account.id)
    )
    if character_handle:
        character = await _character_for(session, account, character_handle)
        statement = statement.where(Memory.character_id == character.id)
    if cursor:
        statement = statement.where(Memory.id < cursor)
    rows = (await session.execute(statement.order_by(Memory.id.desc()).limit(limit))).all()
    items = [RememberedItem(m, handle, name) for m, handle, name in rows]
    return items, items[-1].memory.id if len(items) == limit else None


async def delete_memory_about(session: AsyncSession, account: Account, memory_id: str) -> None:
    """Delete one memory about the caller (the caller commits); any other is a 404."""
    result = await session.execute(
        delete(Memory).where(Memory.id == memory_id, Memory.about_actor_id == account.id)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound("no such memory about you")


async def forget_me(session: AsyncSession, account: Account, character_handle: str) -> int:
    """Delete all one character remembers about the caller (the caller commits); how many."""
    character = await _character_for(session, account, character_handle)
    result = await session.execute(
        delete(Memory).where(
            Memory.character_id == character.id, Memory.about_actor_id == account.id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
