"""One lorebook entry at a time, for editors that change a character's knowledge piecemeal.

Unlike `lorebooks.replace_lorebook`, these keep what an imported entry carried beyond the
editable fields (its card id, unknown keys), so an edited card still exports losslessly.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.lorebooks import attach_lorebook, get_own_lorebook, list_entries
from personae.characters.models import Character, CharacterLorebook, Lorebook, LorebookEntry
from personae.characters.schemas import EntryFields
from personae.characters.service import get_editable_character
from personae.errors import NotFound


async def character_books(session: AsyncSession, character: Character) -> list[Lorebook]:
    """The lorebooks a character uses, primary first."""
    rows = await session.scalars(
        select(Lorebook)
        .join(CharacterLorebook, CharacterLorebook.lorebook_id == Lorebook.id)
        .where(CharacterLorebook.character_id == character.id)
        .order_by(CharacterLorebook.is_primary.desc(), Lorebook.id)
    )
    return list(rows)


async def character_entries(
    session: AsyncSession, account: Account, ref: str
) -> tuple[Character, list[Lorebook], list[LorebookEntry]]:
    """A character its creator may edit, its lorebooks and all their entries."""
    character = await get_editable_character(session, account, ref)
    books = await character_books(session, character)
    return character, books, await list_entries(session, [b.id for b in books])


async def _primary_book(session: AsyncSession, account: Account, character: Character) -> Lorebook:
    """The character's primary lorebook (exported with its card), made on first use."""
    books = await character_books(session, character)
    if books:
        return await get_own_lorebook(session, account, books[0].id)
    book = Lorebook(owner_id=account.id, name=character.name[:200])
    session.add(book)
    await session.flush()
    await attach_lorebook(session, character.id, book.id, primary=True)
    return book


async def add_entry(
    session: AsyncSession, account: Account, ref: str, fields: EntryFields
) -> LorebookEntry:
    """Append an entry to the character's primary lorebook."""
    character = await get_editable_character(session, account, ref)
    book = await _primary_book(session, account, character)
    last = await session.scalar(
        select(func.max(LorebookEntry.sort)).where(LorebookEntry.lorebook_id == book.id)
    )
    entry = LorebookEntry(lorebook_id=book.id, sort=(last or 0) + 1, **fields.model_dump())
    session.add(entry)
    await session.flush()
    return entry


async def _own_entry(
    session: AsyncSession, account: Account, ref: str, entry_id: str
) -> LorebookEntry:
    character = await get_editable_character(session, account, ref)
    entry = await session.get(LorebookEntry, entry_id)
    books = {b.id for b in await character_books(session, character)}
    if entry is None or entry.lorebook_id not in books:
        raise NotFound("no such lorebook entry of this character")
    await get_own_lorebook(session, account, entry.lorebook_id)
    return entry


async def update_entry(
    session: AsyncSession, account: Account, ref: str, entry_id: str, fields: EntryFields
) -> LorebookEntry:
    """Change the fields given; the entry's card id and unknown keys stay."""
    entry = await _own_entry(session, account, ref, entry_id)
    for key, value in fields.model_dump(exclude_unset=True).items():
        setattr(entry, key, value)
    await session.flush()
    return entry


async def delete_entry(session: AsyncSession, account: Account, ref: str, entry_id: str) -> None:
    """Remove one entry."""
    entry = await _own_entry(session, account, ref, entry_id)
    await session.delete(entry)
    await session.flush()
