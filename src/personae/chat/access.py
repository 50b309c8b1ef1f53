"""Who may chat with a character, checked on every turn, not only when a chat opens.

A chat outlives the moment it was opened: the character may go private, or a block may
come between the person and the character's operator. Either way the chat stops for
them, everywhere (the JSON API, the OpenAI-compatible endpoint and the web pages), and
it answers 404, as the character itself now does to them on the network. The owner
(and an admin, who may see every character) keeps theirs.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.characters.service import can_see
from personae.errors import NotFound
from personae.social.access import blocks_and_mutes
from personae.social.models import Actor


async def blocked_for(session: AsyncSession, account: Account) -> frozenset[str]:
    """Actors a block stands between the account's person and (either way).

    The network's one rule (`social.access.blocks_and_mutes`): a block between two people
    covers every character either operates, and a block of (or by) one character covers
    that character.
    """
    person = await session.get(Actor, account.id)  # a person's actor has the account's id
    if person is None:
        return frozenset()
    blocked, _ = await blocks_and_mutes(session, person)
    return blocked


async def may_chat(session: AsyncSession, account: Account, character: Character) -> bool:
    """Whether the account may chat with the character now."""
    if not can_see(character, account):
        return False
    if character.owner_id == account.id:
        return True  # nobody can block their own characters
    return character.id not in await blocked_for(session, account)


async def require_chat(
    session: AsyncSession,
    account: Account,
    character: Character,
    message: str = "no such conversation",
) -> None:
    """404 unless the account may chat with the character now."""
    if not await may_chat(session, account, character):
        raise NotFound(message)


def chattable(account: Account, blocked: frozenset[str]) -> ColumnElement[bool]:
    """The condition on Character for characters the account may chat with (for lists)."""
    seen: ColumnElement[bool] = (
        true()
        if account.is_admin
        else or_(Character.owner_id == account.id, Character.visibility.in_(("public", "unlisted")))
    )
    if not blocked:
        return seen
    return and_(seen, or_(Character.owner_id == account.id, Character.id.not_in(list(blocked))))


async def blocked_handles(session: AsyncSession, account: Account) -> set[str]:
    """Handles of the characters a block keeps the account from (to leave out of pickers)."""
    blocked = await blocked_for(session, account)
    if not blocked:
        return set()
    rows = await session.scalars(select(Character.handle).where(Character.id.in_(list(blocked))))
    return set(rows)
