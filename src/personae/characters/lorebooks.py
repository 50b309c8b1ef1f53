"""Lorebooks: create, read, replace, delete, attach to characters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import CharacterLorebook, Lorebook, LorebookEntry
from personae.characters.schemas import EntryFields, EntryOut, LorebookFields, LorebookOut
from personae.errors import NotFound

ENTRY_COLUMNS = (
    "keys",
    "secondary_keys",
    "content",
    "name",
    "comment",
    "enabled",
    "constant",
    "selective",
    "case_sensitive",
    "use_regex",
    "insertion_order",
    "priority",
    "position",
    "extensions",
)


async def get_lorebook(session: AsyncSession, account: Account | None, book_id: str) -> Lorebook:
    """A lorebook the caller owns (or may read through a visible character)."""
    book = await session.get(Lorebook, book_id)
    if book is None:
        raise NotFound("no such lorebook")
    if account is not None and (book.owner_id == account.id or account.is_admin):
        return book
    from personae.characters.access import can_see
    from personae.characters.models import Character

    characters = await session.scalars(
        select(Character)
        .join(CharacterLorebook, CharacterLorebook.character_id == Character.id)
        .where(CharacterLorebook.lorebook_id == book_id)
    )
    if any(can_see(c, account) for c in characters):
        return book
    raise NotFound("no such lorebook")


async def get_own_lorebook(session: AsyncSession, account: Account, book_id: str) -> Lorebook:
    """A lorebook the caller may change."""
    book = await session.get(Lorebook, book_id)
    if book is None or (book.owner_id != account.id and not account.is_admin):
        raise NotFound("no such lorebook of yours")
    return book


async def list_entries(session: AsyncSession, book_ids: list[str]) -> list[LorebookEntry]:
    """Entries of the given books, in their stored order."""
    if not book_ids:
        return []
    rows = await session.scalars(
        select(LorebookEntry)
        .where(LorebookEntry.lorebook_id.in_(book_ids))
        .order_by(LorebookEntry.lorebook_id, LorebookEntry.sort)
    )
    return list(rows)


def _entry_from_fields(book_id: str, sort: int, fields: EntryFields) -> LorebookEntry:
    return LorebookEntry(lorebook_id=book_id, sort=sort, **fields.model_dump())


async def create_lorebook(
    session: AsyncSession, account: Account, fields: LorebookFields
) -> Lorebook:
    """Store a new lorebook with its entries."""
    book = Lorebook(
        owner_id=account.id,
        **fields.model_dump(exclude={"entries"}),
    )
    session.add(book)
    await session.flush()
    for i, entry in enumerate(fields.entries):
        session.add(_entry_from_fields(book.id, i, entry))
    await session.flush()
    return book


async def replace_lorebook(
    session: AsyncSession, account: Account, book_id: str, fields: LorebookFields
) -> Lorebook:
    """Replace a lorebook's fields and entries in one transaction."""
    book = await get_own_lorebook(session, account, book_id)
    for key, value in fields.model_dump(exclude={"entries"}).items():
        setattr(book, key, value)
    await session.execute(delete(LorebookEntry).where(LorebookEntry.lorebook_id == book.id))
    for i, entry in enumerate(fields.entries):
        session.add(_entry_from_fields(book.id, i, entry))
    await session.flush()
    return book


async def delete_lorebook(session: AsyncSession, account: Account, book_id: str) -> None:
    """Delete a lorebook (characters using it simply lose it)."""
    book = await get_own_lorebook(session, account, book_id)
    await session.delete(book)
    await session.flush()


async def attach_lorebook(
    session: AsyncSession, character_id: str, book_id: str, primary: bool = False
) -> None:
    """Link a lorebook to a character (callers check ownership of both)."""
    existing = await session.get(CharacterLorebook, (character_id, book_id))
    if primary:
        for link in await session.scalars(
            select(CharacterLorebook).where(CharacterLorebook.character_id == character_id)
        ):
            link.is_primary = False
    if existing is None:
        session.add(
            CharacterLorebook(character_id=character_id, lorebook_id=book_id, is_primary=primary)
        )
    else:
        existing.is_primary = primary or existing.is_primary
    await session.flush()


async def detach_lorebook(session: AsyncSession, character_id: str, book_id: str) -> None:
    """Unlink a lorebook from a character."""
    await session.execute(
        delete(CharacterLorebook).where(
            CharacterLorebook.character_id == character_id,
            CharacterLorebook.lorebook_id == book_id,
        )
    )
    await session.flush()


async def copy_lorebook(session: AsyncSession, book_id: str, owner_id: str) -> Lorebook:
    """Deep copy of a lorebook for a new owner (used by duplicate)."""
    source = await session.get(Lorebook, book_id)
    if source is None:
        raise NotFound("no such lorebook")
    copy = Lorebook(
        owner_id=owner_id,
        name=source.name,
        description=source.description,
        scan_depth=source.scan_depth,
        token_budget=source.token_budget,
        recursive_scanning=source.recursive_scanning,
        extensions=dict(source.extensions),
        extra=dict(source.extra),
    )
    session.add(copy)
    await session.flush()
    for entry in await list_entries(session, [source.id]):
        values: dict[str, Any] = {k: getattr(entry, k) for k in ENTRY_COLUMNS}
        session.add(
            LorebookEntry(
                lorebook_id=copy.id,
                sort=entry.sort,
                card_entry_id=entry.card_entry_id,
                extra=dict(entry.extra),
                **values,
            )
        )
    return copy


def lorebook_out(book: Lorebook, entries: list[LorebookEntry]) -> LorebookOut:
    """The API representation of a lorebook (of `entries`, those that are its own)."""
    return LorebookOut(
        id=book.id,
        name=book.name,
        description=book.description,
        scan_depth=book.scan_depth,
        token_budget=book.token_budget,
        recursive_scanning=book.recursive_scanning,
        extensions=dict(book.extensions),
        entries=[
            EntryOut.model_validate({"id": e.id, **{k: getattr(e, k) for k in ENTRY_COLUMNS}})
            for e in entries
            if e.lorebook_id == book.id
        ],
    )
