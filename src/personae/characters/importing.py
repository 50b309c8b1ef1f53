"""Card import and export as services: parse or build files, store or read rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from personae import cards
from personae.accounts.models import Account
from personae.characters.cardmap import (
    book_columns,
    card_from_rows,
    character_columns,
    entry_columns,
)
from personae.characters.lorebooks import list_entries
from personae.characters.models import (
    Character,
    CharacterAsset,
    CharacterLorebook,
    Lorebook,
    LorebookEntry,
)
from personae.characters.service import (
    free_handle,
    get_character,
    handle_taken,
    insert_character,
    sniff_image,
)
from personae.errors import Conflict, DomainError, Invalid

ExportFormat = Literal["png", "json", "charx"]
EXPORT_MIME = {"png": "image/png", "json": "application/json", "charx": "application/zip"}


class CardRejected(DomainError):
    """A card file we will not import; the message names the problem."""

    status_code = 422
    code = "bad_card"


def rejected(error: cards.CardError) -> CardRejected:
    """Our HTTP-facing error for a parser error (413 size, 415 format, else 422)."""
    out = CardRejected(error.message, code=error.code)
    out.status_code = error.http_status
    return out


@dataclass(frozen=True)
class ExportedCard:
    """A card file ready to download."""

    data: bytes
    filename: str
    media_type: str


def _store_book(session: AsyncSession, owner_id: str, book: dict[str, Any]) -> Lorebook:
    columns, extra, _ = book_columns(book)
    lorebook = Lorebook(owner_id=owner_id, extra=extra, **columns)
    session.add(lorebook)
    return lorebook


async def _store_entries(session: AsyncSession, book_id: str, entries: list[Any]) -> None:
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise Invalid(f"lorebook entry {i} is not an object", "wrong_type")
        columns, extra, card_id = entry_columns(raw)
        session.add(
            LorebookEntry(
                lorebook_id=book_id, sort=i, card_entry_id=card_id, extra=extra, **columns
            )
        )


async def import_card(
    session: AsyncSession,
    account: Account,
    data: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    handle: str | None = None,
) -> Character:
    """Import a V1/V2/V3 card (PNG, JSON or CHARX) as a new private character.

    All or nothing: a card that fails anywhere raises, and the caller's unit of work,
    rolled back, leaves no row behind.
    """
    try:
        parsed = cards.parse_card(data, filename=filename, content_type=content_type)
    except cards.CardError as exc:
        raise rejected(exc) from None
    columns, card_extra = character_columns(parsed.card)
    handle_given = handle
    if handle:
        if await handle_taken(session, handle):
            raise Conflict(f"the handle '{handle}' is taken; choose another", "handle_taken")
    else:
        handle = await free_handle(session, columns["name"])
    character = Character(
        owner_id=account.id, handle=handle, visibility="private", card_extra=card_extra, **columns
    )
    if parsed.avatar:
        try:
            character.avatar_mime = sniff_image(parsed.avatar)
            character.avatar = parsed.avatar
        except Invalid:
            character.avatar = None
    await insert_character(session, account, character, explicit_handle=bool(handle_given))
    for i, asset in enumerate(parsed.assets):
        session.add(
            CharacterAsset(
                character_id=character.id,
                type=asset.type[:50],
                name=asset.name[:200],
                ext=asset.ext[:20],
                data=asset.data,
                position=i,
            )
        )
    book = (parsed.card.get("data") or {}).get("character_book")
    if isinstance(book, dict):
        lorebook = _store_book(session, account.id, book)
        await session.flush()
        await _store_entries(session, lorebook.id, list(book.get("entries") or []))
        session.add(
            CharacterLorebook(character_id=character.id, lorebook_id=lorebook.id, is_primary=True)
        )
    await session.flush()
    return character


async def import_world_info(
    session: AsyncSession, account: Account, data: bytes, name: str = ""
) -> Lorebook:
    """Import a SillyTavern world-info JSON (or a character_book JSON) as a lorebook."""
    try:
        book = cards.parse_world_info(data)
    except cards.CardError as exc:
        raise rejected(exc) from None
    if name:
        book = {**book, "name": name[:200]}
    lorebook = _store_book(session, account.id, book)
    await session.flush()
    await _store_entries(session, lorebook.id, list(book.get("entries") or []))
    await session.flush()
    return lorebook


async def card_of(session: AsyncSession, character: Character) -> dict[str, Any]:
    """The V3 card document of a stored character."""
    link = await session.scalar(
        select(CharacterLorebook).where(
            CharacterLorebook.character_id == character.id, CharacterLorebook.is_primary.is_(True)
        )
    )
    book = await session.get(Lorebook, link.lorebook_id) if link else None
    entries = await list_entries(session, [book.id]) if book else []
    return card_from_rows(character, book, entries)


async def export_character(
    session: AsyncSession, account: Account | None, ref: str, fmt: ExportFormat
) -> ExportedCard:
    """A character the caller may see, as a card file."""
    character = await get_character(session, account, ref, with_avatar=True)
    card = await card_of(session, character)
    assets = [
        cards.CardAsset(type=a.type, name=a.name, ext=a.ext, data=a.data)
        for a in await session.scalars(
            select(CharacterAsset)
            .where(CharacterAsset.character_id == character.id)
            .order_by(CharacterAsset.position)
            .options(undefer(CharacterAsset.data))
        )
    ]
    try:
        data = cards.export_card(card, fmt, avatar=character.avatar, assets=assets)
    except cards.CardError as exc:
        raise rejected(exc) from None
    return ExportedCard(data, f"{character.handle}.{fmt}", EXPORT_MIME[fmt])
