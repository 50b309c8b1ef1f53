"""Characters and lorebooks API, card import and export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, UploadFile

from personae.accounts import service as accounts
from personae.characters import importing, lorebooks, service
from personae.characters.models import Character
from personae.characters.schemas import (
    CharacterCreate,
    CharacterFields,
    CharacterOut,
    LorebookFields,
    LorebookOut,
)
from personae.deps import DB, CurrentAccount, OptionalAccount, State
from personae.errors import NotFound
from personae.image_http import image_response
from personae.uploads import read_upload

router = APIRouter(prefix="/api/v1", tags=["characters"])
# What image routes answer with (the bytes as stored, under their own media type).
IMAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/*": {}}}}


async def _out(db: DB, character: Character) -> CharacterOut:
    owner = await accounts.username_of(db, character.owner_id)
    books = await service.lorebook_ids(db, character)
    return CharacterOut.model_validate(service.character_out(character, owner or "", books))


@router.get("/characters")
async def list_characters(
    db: DB,
    account: OptionalAccount,
    mine: bool = False,
    q: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=50, ge=1, le=200),
    before: str | None = Query(default=None, max_length=32),
) -> list[CharacterOut]:
    """Characters the caller may list (own and public), newest first; page with `before`."""
    rows = await service.list_characters(db, account, mine, q, limit, before)
    return [await _out(db, c) for c in rows]


@router.post("/characters", status_code=201)
async def create_character(body: CharacterCreate, account: CurrentAccount, db: DB) -> CharacterOut:
    """Create a character (private unless `visibility` says otherwise)."""
    character = await service.create_character(db, account, body)
    return await _out(db, character)


@router.get("/characters/{ref}")
async def get_character(ref: str, account: OptionalAccount, db: DB) -> CharacterOut:
    """A character by id or handle."""
    return await _out(db, await service.get_character(db, account, ref))


@router.patch("/characters/{ref}")
async def update_character(
    ref: str, body: CharacterFields, account: CurrentAccount, db: DB
) -> CharacterOut:
    """Change some fields of a character."""
    return await _out(db, await service.update_character(db, account, ref, body))


@router.delete("/characters/{ref}", status_code=204)
async def delete_character(ref: str, account: CurrentAccount, db: DB) -> None:
    """Delete a character and its conversations."""
    await service.delete_character(db, account, ref)


@router.post("/characters/{ref}/duplicate", status_code=201)
async def duplicate_character(ref: str, account: CurrentAccount, db: DB) -> CharacterOut:
    """Copy a visible character into a new private one of the caller's."""
    return await _out(db, await service.duplicate_character(db, account, ref))


@router.get("/characters/{ref}/avatar", response_class=Response, responses=IMAGE)
async def get_avatar(
    ref: str,
    request: Request,
    account: OptionalAccount,
    db: DB,
    state: State,
    size: Annotated[int | None, Query(description="Thumbnail size in px (96 or 192)")] = None,
) -> Response:
    """The character's avatar: the original, or a square WebP thumbnail (`size` 96 or 192)."""
    character = await service.get_character(db, account, ref, with_avatar=True)
    if not character.avatar:
        raise NotFound("this character has no avatar")
    data_dir = state.settings.data_dir
    return await image_response(
        request, character.avatar, character.avatar_mime, "avatar", size, data_dir
    )


@router.put("/characters/{ref}/avatar")
async def put_avatar(
    ref: str, file: UploadFile, request: Request, account: CurrentAccount, db: DB
) -> CharacterOut:
    """Replace the avatar (PNG, JPEG, GIF or WebP, 8 MiB at most)."""
    data = await read_upload(request, file, service.MAX_AVATAR_BYTES)
    return await _out(db, await service.set_avatar(db, account, ref, data))


@router.post("/characters/import", status_code=201)
async def import_card(
    file: UploadFile,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    handle: str | None = Query(default=None, pattern=r"^[a-z0-9_]{1,30}$"),
) -> CharacterOut:
    """Import a Character Card V1/V2/V3 as PNG, JSON or CHARX."""
    data = await read_upload(request, file, state.settings.max_upload_bytes)
    character = await importing.import_card(
        db, account, data, file.filename, file.content_type, handle
    )
    return await _out(db, character)


@router.get(
    "/characters/{ref}/export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in importing.EXPORT_MIME.values()}}},
)
async def export_card(
    ref: str, account: OptionalAccount, db: DB, format: Literal["png", "json", "charx"] = "png"
) -> Response:
    """Download a character as a V3 card (PNG also carries a V2 chunk for older apps)."""
    exported = await importing.export_character(db, account, ref, format)
    return Response(
        exported.data,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


@router.get("/characters/{ref}/card")
async def card_json(ref: str, account: OptionalAccount, db: DB) -> dict[str, Any]:
    """The character as a V3 card document."""
    character = await service.get_character(db, account, ref)
    return await importing.card_of(db, character)


@router.post("/lorebooks", status_code=201)
async def create_lorebook(body: LorebookFields, account: CurrentAccount, db: DB) -> LorebookOut:
    """Create a lorebook with its entries."""
    book = await lorebooks.create_lorebook(db, account, body)
    return lorebooks.lorebook_out(book, await lorebooks.list_entries(db, [book.id]))


@router.post("/lorebooks/import", status_code=201)
async def import_lorebook(
    file: UploadFile, request: Request, account: CurrentAccount, db: DB, state: State
) -> LorebookOut:
    """Import a SillyTavern world-info JSON (or a character_book JSON) as a lorebook."""
    data = await read_upload(request, file, state.settings.max_upload_bytes)
    book = await importing.import_world_info(db, account, data)
    return lorebooks.lorebook_out(book, await lorebooks.list_entries(db, [book.id]))


@router.get("/lorebooks/{book_id}")
async def get_lorebook(book_id: str, account: OptionalAccount, db: DB) -> LorebookOut:
    """A lorebook the caller owns or sees through a visible character."""
    book = await lorebooks.get_lorebook(db, account, book_id)
    return lorebooks.lorebook_out(book, await lorebooks.list_entries(db, [book.id]))


@router.put("/lorebooks/{book_id}")
async def replace_lorebook(
    book_id: str, body: LorebookFields, account: CurrentAccount, db: DB
) -> LorebookOut:
    """Replace a lorebook's settings and entries."""
    book = await lorebooks.replace_lorebook(db, account, book_id, body)
    return lorebooks.lorebook_out(book, await lorebooks.list_entries(db, [book.id]))


@router.delete("/lorebooks/{book_id}", status_code=204)
async def delete_lorebook(book_id: str, account: CurrentAccount, db: DB) -> None:
    """Delete a lorebook."""
    await lorebooks.delete_lorebook(db, account, book_id)


@router.put("/characters/{ref}/lorebooks/{book_id}", status_code=204)
async def attach_lorebook(
    ref: str, book_id: str, account: CurrentAccount, db: DB, primary: bool = False
) -> None:
    """Make a character use one of the caller's lorebooks."""
    character = await service.get_editable_character(db, account, ref)
    await lorebooks.get_own_lorebook(db, account, book_id)
    await lorebooks.attach_lorebook(db, character.id, book_id, primary)


@router.delete("/characters/{ref}/lorebooks/{book_id}", status_code=204)
async def detach_lorebook(ref: str, book_id: str, account: CurrentAccount, db: DB) -> None:
    """Stop a character using a lorebook."""
    character = await service.get_editable_character(db, account, ref)
    await lorebooks.detach_lorebook(db, character.id, book_id)
