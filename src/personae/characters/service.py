"""Character operations; every read and write checks who the caller is."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from personae import events
from personae.accounts.models import Account
from personae.characters.access import can_edit, can_see
from personae.characters.events import CharacterDeleted, HandleChanging
from personae.characters.lorebooks import copy_lorebook
from personae.characters.models import Character, CharacterAsset, CharacterLorebook
from personae.characters.schemas import CharacterCreate, CharacterFields
from personae.errors import Conflict, NotFound
from personae.images import MAX_AVATAR_BYTES, check_image, sniff_image
from personae.social.actors import profile_changed, sync_character_actor
from personae.social.counters import release_actor_counts
from personae.social.models import Actor

__all__ = ["MAX_AVATAR_BYTES", "can_edit", "can_see", "sniff_image"]  # kept where callers look


def slugify_handle(name: str) -> str:
    """A handle candidate from a display name: ascii, lower case, a-z0-9_."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return (slug or "character")[:24]


async def handle_taken(session: AsyncSession, handle: str) -> bool:
    """Handles share one namespace with usernames, so @mentions are never ambiguous."""
    from personae.accounts.models import Account as Acc

    if await session.scalar(select(Character.id).where(Character.handle == handle)):
        return True
    return bool(await session.scalar(select(Acc.id).where(Acc.username == handle)))


async def free_handle(session: AsyncSession, name: str) -> str:
    """The first free handle built from `name` (adds _2, _3 ... when taken)."""
    base = slugify_handle(name)
    candidate = base
    n = 1
    while await handle_taken(session, candidate):
        n += 1
        candidate = f"{base[: 30 - len(str(n)) - 1]}_{n}"
    return candidate


def _apply_fields(character: Character, fields: CharacterFields) -> None:
    data = fields.model_dump(exclude_unset=True, exclude={"handle", "sampling"})
    for key, value in data.items():
        setattr(character, key, value)
    # An edited card field is no longer "as imported": drop what the card kept for it.
    kept = dict((character.card_extra or {}).get("data") or {})
    if kept and any(k in kept or k in kept.get("__absent__", []) for k in data):
        for key in data:
            kept.pop(key, None)
        kept["__absent__"] = [k for k in kept.get("__absent__", []) if k not in data]
        if not kept["__absent__"]:
            del kept["__absent__"]
        character.card_extra = {**character.card_extra, "data": kept}
    if "sampling" in fields.model_fields_set:
        character.sampling = (
            fields.sampling.model_dump(exclude_none=True) if fields.sampling else {}
        )


def _handle_taken_error(handle: str) -> Conflict:
    return Conflict(f"the handle '{handle}' is taken; choose another", "handle_taken")


async def insert_character(
    session: AsyncSession, owner: Account, character: Character, explicit_handle: bool
) -> None:
    """Insert a new character and its actor as the transaction's first write.

    Two requests may both find a handle free and both insert it: the loser's insert fails
    on the unique index. An explicit handle then answers 409; a derived one moves on to
    the next free handle. Rolling back loses nothing else because nothing was written
    before; it expires `owner`, which is loaded again for the caller.
    """
    for _ in range(5):
        session.add(character)
        try:
            await session.flush()
            await sync_character_actor(session, character)
            return
        except IntegrityError:
            await session.rollback()
            await session.refresh(owner)
            if explicit_handle:
                raise _handle_taken_error(character.handle) from None
            character.handle = await free_handle(session, character.name)
    raise Conflict("no free handle was found for this name; choose one", "handle_taken")


async def create_character(
    session: AsyncSession, owner: Account, fields: CharacterCreate, commit: bool = True
) -> Character:
    """Create a character owned by `owner`; a taken handle is a 409.

    With `commit` the character is this transaction's first write (a request); without,
    the caller owns a transaction that may hold more, so a lost handle race is not retried.
    """
    if fields.handle:
        if await handle_taken(session, fields.handle):
            raise _handle_taken_error(fields.handle)
        handle = fields.handle
    else:
        handle = await free_handle(session, fields.name)
    character = Character(owner_id=owner.id, handle=handle, name=fields.name)
    character.visibility = "private"
    _apply_fields(character, fields)
    if commit:
        await insert_character(session, owner, character, explicit_handle=bool(fields.handle))
    else:
        session.add(character)
        await session.flush()
        await sync_character_actor(session, character)
    return character


async def get_character(
    session: AsyncSession, account: Account | None, ref: str, with_avatar: bool = False
) -> Character:
    """A character by id or handle, if the caller may see it (else 404)."""
    query = select(Character).where(or_(Character.id == ref, Character.handle == ref.lower()))
    if with_avatar:
        query = query.options(undefer(Character.avatar))
    character = await session.scalar(query)
    if character is None or not can_see(character, account):
        raise NotFound(f"no character '{ref}'")
    return character


async def get_editable_character(
    session: AsyncSession, account: Account, ref: str, with_avatar: bool = False
) -> Character:
    """A character the caller may change; others' private ones are 404, visible ones 404 too
    so that editing never confirms more than reading does."""
    character = await get_character(session, account, ref, with_avatar)
    if not can_edit(character, account):
        raise NotFound(f"no character '{ref}' of yours")
    return character


async def list_characters(
    session: AsyncSession,
    account: Account | None,
    mine: bool = False,
    query: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[Character]:
    """Characters the caller may list: their own plus public ones (unlisted stay unlisted)."""
    stmt = select(Character)
    if mine:
        if account is None:
            return []
        stmt = stmt.where(Character.owner_id == account.id)
    elif account is not None:
        stmt = stmt.where(or_(Character.owner_id == account.id, Character.visibility == "public"))
    else:
        stmt = stmt.where(Character.visibility == "public")
    if query:
        like = f"%{query[:100].lower()}%"
        stmt = stmt.where(or_(Character.handle.like(like), Character.name.ilike(like)))
    if before:
        stmt = stmt.where(Character.id < before)
    stmt = stmt.order_by(Character.id.desc()).limit(max(1, min(limit, 200)))
    return list(await session.scalars(stmt))


async def update_character(
    session: AsyncSession, account: Account, ref: str, fields: CharacterFields
) -> Character:
    """Change fields; a new handle must be free."""
    character = await get_editable_character(session, account, ref)
    if fields.handle and fields.handle != character.handle:
        if await handle_taken(session, fields.handle):
            raise Conflict(f"the handle '{fields.handle}' is taken; choose another", "handle_taken")
        # Whoever knows the actor by its handle may refuse (federation: other servers).
        await events.emit(session, HandleChanging(character.id, character.handle, fields.handle))
        character.handle = fields.handle
    _apply_fields(character, fields)
    character.revision += 1
    await session.flush()
    actor = await sync_character_actor(session, character)
    await profile_changed(session, actor)
    return character


async def delete_character(session: AsyncSession, account: Account, ref: str) -> None:
    """Delete a character with its conversations, assets and own lorebook links."""
    character = await get_editable_character(session, account, ref)
    await events.emit(session, CharacterDeleted(character.id, character.owner_id))
    await release_actor_counts(session, character.id)
    await session.delete(character)
    await session.flush()


async def set_avatar(session: AsyncSession, account: Account, ref: str, data: bytes) -> Character:
    """Replace a character's avatar image."""
    mime = check_image(data, "the avatar")
    character = await get_editable_character(session, account, ref, with_avatar=True)
    character.avatar = data
    character.avatar_mime = mime
    character.revision += 1
    actor = await session.get(Actor, character.id)
    if actor is not None:
        await profile_changed(session, actor)
    return character


async def duplicate_character(session: AsyncSession, account: Account, ref: str) -> Character:
    """Copy a character the caller may see into a new private one of theirs."""
    source = await get_character(session, account, ref, with_avatar=True)
    columns = [c.key for c in Character.__table__.columns]
    skip = {"id", "owner_id", "handle", "visibility", "created_at", "updated_at", "revision"}
    values: dict[str, Any] = {k: getattr(source, k) for k in columns if k not in skip}
    copy = Character(**values)
    copy.owner_id = account.id
    copy.visibility = "private"
    copy.handle = await free_handle(session, source.handle)
    copy.name = source.name
    await insert_character(session, account, copy, explicit_handle=False)
    assets = await session.scalars(
        select(CharacterAsset)
        .where(CharacterAsset.character_id == source.id)
        .options(undefer(CharacterAsset.data))
    )
    for asset in assets:
        session.add(
            CharacterAsset(
                character_id=copy.id,
                type=asset.type,
                name=asset.name,
                ext=asset.ext,
                data=asset.data,
                position=asset.position,
            )
        )
    links = await session.scalars(
        select(CharacterLorebook).where(CharacterLorebook.character_id == source.id)
    )
    for link in list(links):
        book = await copy_lorebook(session, link.lorebook_id, account.id)
        session.add(
            CharacterLorebook(character_id=copy.id, lorebook_id=book.id, is_primary=link.is_primary)
        )
    await session.flush()
    return copy


async def lorebook_ids(session: AsyncSession, character: Character) -> list[str]:
    """Ids of the lorebooks a character uses, primary first."""
    rows = await session.execute(
        select(CharacterLorebook.lorebook_id)
        .where(CharacterLorebook.character_id == character.id)
        .order_by(CharacterLorebook.is_primary.desc(), CharacterLorebook.lorebook_id)
    )
    return [r[0] for r in rows]


def character_out(character: Character, owner_username: str, books: list[str]) -> dict[str, Any]:
    """The API representation of a character."""
    return {
        "id": character.id,
        "handle": character.handle,
        "owner": owner_username,
        "visibility": character.visibility,
        "is_ai": character.is_ai,
        "name": character.name,
        "nickname": character.nickname,
        "description": character.description,
        "personality": character.personality,
        "scenario": character.scenario,
        "first_mes": character.first_mes,
        "alternate_greetings": list(character.alternate_greetings or []),
        "group_only_greetings": list(character.group_only_greetings or []),
        "mes_example": character.mes_example,
        "system_prompt": character.system_prompt,
        "post_history_instructions": character.post_history_instructions,
        "creator_notes": character.creator_notes,
        "creator": character.creator,
        "character_version": character.character_version,
        "tags": list(character.tags or []),
        "extensions": dict(character.extensions or {}),
        "backend": character.backend,
        "sampling": dict(character.sampling or {}),
        "has_avatar": bool(character.avatar_mime),
        "revision": character.revision,
        "lorebook_ids": books,
        "created_at": character.created_at.isoformat(),
        "updated_at": character.updated_at.isoformat(),
    }
