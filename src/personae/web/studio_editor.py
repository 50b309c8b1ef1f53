"""Studio editor pages: profile & persona, lorebook, avatar, and the test chat beside them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters import entries as lore
from personae.characters import service as characters
from personae.characters.lorebooks import ENTRY_COLUMNS
from personae.characters.schemas import CharacterFields
from personae.chat import service as chats
from personae.deps import DB, CurrentAccount, State
from personae.errors import DomainError
from personae.uploads import read_upload
from personae.web import studio_forms as forms
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.studio_context import (
    TEST_CHAT_TITLE,
    back,
    character_view,
    editor_context,
)

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/studio/{handle}", response_class=HTMLResponse)
async def profile_page(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """The profile & persona tab."""
    context = await editor_context(request, db, state, account, handle, "profile")
    context["values"] = forms.profile_values(context["character"])
    context["backends"] = state.backends.names()
    return render(request, "studio/profile.html", context)


@router.post("/studio/{handle}")
async def save_profile(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Save the profile form: only changed fields are written; errors come back by field."""
    character = await characters.get_editable_character(db, account, handle)
    current = await character_view(db, character)
    new_handle = current["handle"]
    form = await request.form()
    posted = forms.posted_profile(form)
    changes, errors = forms.profile_changes(request, posted, current)
    status = 422
    if not errors and changes:
        try:
            saved = await characters.update_character(
                db, account, current["id"], CharacterFields(**changes)
            )
            new_handle = saved.handle
        except DomainError as exc:
            await forms.undo(db, account)
            errors = {forms.CODE_FIELDS.get(exc.code, "form"): exc.message}
            status = exc.status_code
    if errors:
        context = await editor_context(request, db, state, account, current["id"], "profile")
        context.update(values=posted, errors=errors, backends=state.backends.names())
        return render(request, "studio/profile.html", context, status)
    if "remove_greeting" in form or "add_greeting" in form:
        return RedirectResponse(f"/studio/{new_handle}#greetings", status_code=303)
    return back(new_handle, saved="profile")


@router.get("/studio/{handle}/lorebook", response_class=HTMLResponse)
async def lorebook_page(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """The lorebook tab: every entry with its form, and one to add."""
    context = await editor_context(request, db, state, account, handle, "lorebook")
    return await lorebook_render(request, db, account, handle, context)


async def lorebook_render(
    request: Request,
    db: AsyncSession,
    account: Account,
    handle: str,
    context: dict[str, Any],
    status_code: int = 200,
    failed: str = "",
    shown: dict[str, Any] | None = None,
) -> HTMLResponse:
    """Render the lorebook tab; `failed` names the entry form (an id or "new") to show
    again with `shown` values and the context's errors."""
    _, books, rows = await lore.character_entries(db, account, handle)
    items = []
    for row in rows:
        values = forms.entry_values({"id": row.id, **{k: getattr(row, k) for k in ENTRY_COLUMNS}})
        if failed == row.id and shown is not None:
            values = {**values, **shown}
        items.append(values)
    context["entries"] = items
    context["books"] = [{"id": b.id, "name": b.name} for b in books]
    context["new_entry"] = shown if failed == "new" and shown else forms.entry_values(None)
    context["failed"] = failed
    return render(request, "studio/lorebook.html", context, status_code)


@router.post("/studio/{handle}/lorebook")
async def add_entry(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Add a lorebook entry."""
    await characters.get_editable_character(db, account, handle)
    fields, shown, errors = forms.posted_entry(request, await request.form())
    if fields is not None:
        await lore.add_entry(db, account, handle, fields)
        return back(handle, "lorebook", "entry")
    context = await editor_context(request, db, state, account, handle, "lorebook")
    context["errors"] = errors
    return await lorebook_render(request, db, account, handle, context, 422, "new", shown)


@router.post("/studio/{handle}/lorebook/{entry_id}")
async def save_entry(
    handle: str, entry_id: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Change a lorebook entry."""
    fields, shown, errors = forms.posted_entry(request, await request.form())
    if fields is not None:
        await lore.update_entry(db, account, handle, entry_id, fields)
        return back(handle, "lorebook", "entry")
    context = await editor_context(request, db, state, account, handle, "lorebook")
    context["errors"] = errors
    return await lorebook_render(request, db, account, handle, context, 422, entry_id, shown)


@router.post("/studio/{handle}/lorebook/{entry_id}/delete")
async def delete_entry(handle: str, entry_id: str, account: CurrentAccount, db: DB) -> Response:
    """Delete a lorebook entry."""
    await lore.delete_entry(db, account, handle, entry_id)
    return back(handle, "lorebook", "entry-deleted")


@router.get("/studio/{handle}/avatar", response_class=HTMLResponse)
async def avatar_page(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """The avatar tab."""
    context = await editor_context(request, db, state, account, handle, "avatar")
    return render(request, "studio/avatar.html", context)


@router.post("/studio/{handle}/avatar")
async def save_avatar(
    handle: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Replace the avatar; a wrong type or a too large file is explained, nothing changes."""
    await characters.get_editable_character(db, account, handle)
    try:
        if file is None or not file.filename:
            raise DomainError("choose an image file first", "no_file")
        data = await read_upload(request, file, characters.MAX_AVATAR_BYTES)
        await characters.set_avatar(db, account, handle, data)
    except DomainError as exc:
        await forms.undo(db, account)
        context = await editor_context(request, db, state, account, handle, "avatar")
        context["errors"] = {"file": exc.message}
        return render(request, "studio/avatar.html", context, exc.status_code)
    return back(handle, "avatar", "avatar")


@router.post("/studio/{handle}/test-chat")
async def restart_test_chat(handle: str, account: CurrentAccount, db: DB) -> Response:
    """Start the test chat over (it then opens with the greeting as saved now)."""
    character = await characters.get_editable_character(db, account, handle)
    await chats.test_conversation(db, account, character.id, TEST_CHAT_TITLE, fresh=True)
    return back(character.handle, saved="chat")
