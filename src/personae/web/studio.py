"""The character studio: my characters, import, create, delete, duplicate; the editor tabs
live in studio_editor and the autonomy pages in studio_agents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.accounts.models import Account
from personae.agents import service as agents
from personae.characters import importing
from personae.characters import service as characters
from personae.characters.schemas import CharacterCreate
from personae.deps import DB, CurrentAccount, State
from personae.errors import DomainError
from personae.state import AppState
from personae.uploads import read_upload
from personae.web import studio_forms as forms
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.studio_context import SAVED_NOTICES, back, character_view, editor_context
from personae.web.views import Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)
STUDIO_LIMIT = 200


async def studio_page(
    request: Request,
    db: DB,
    state: AppState,
    account: Account,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """My characters, with their autonomy and held posts, and the import drop zone."""
    rows = await characters.list_characters(db, account, mine=True, limit=STUDIO_LIMIT)
    mine: list[dict[str, Any]] = []
    for character in rows:
        summary = await agents.activity_summary(db, state.settings, account, character.id)
        view = await character_view(db, character)
        mine.append({**view, "autonomy_on": summary["enabled"], "held": summary["held"]})
    context = {
        "viewer": Viewer.of(account),
        "active": "studio",
        "characters": mine,
        "errors": errors or {},
        "max_upload_mib": state.settings.max_upload_bytes // (1024 * 1024),
        "notice": SAVED_NOTICES.get(request.query_params.get("saved", "")),
    }
    return render(request, "studio/list.html", context, status_code)


@router.get("/studio", response_class=HTMLResponse)
async def studio(request: Request, account: CurrentAccount, db: DB, state: State) -> Response:
    """The studio's start: my characters."""
    return await studio_page(request, db, state, account)


@router.post("/studio/import")
async def import_card(
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import a PNG, JSON or CHARX card and open its editor; a bad file creates nothing."""
    try:
        if file is None or not file.filename:
            raise DomainError("choose a card file (PNG, JSON or CHARX) first", "no_file")
        data = await read_upload(request, file, state.settings.max_upload_bytes)
        character = await importing.import_card(db, account, data, file.filename, file.content_type)
    except DomainError as exc:
        await forms.undo(db, account)
        return await studio_page(
            request, db, state, account, exc.status_code, {"file": exc.message}
        )
    return back(character.handle, saved="imported")


@router.get("/studio/new", response_class=HTMLResponse)
async def new_character(request: Request, account: CurrentAccount) -> Response:
    """An empty profile form for a new character."""
    context = {
        "viewer": Viewer.of(account),
        "active": "studio",
        "values": forms.profile_values(None),
        "errors": {},
        "backends": [],
    }
    return render(request, "studio/new.html", context)


@router.post("/studio/new")
async def create_character(request: Request, account: CurrentAccount, db: DB) -> Response:
    """Create a character from the profile form and open its editor."""
    posted = forms.posted_profile(await request.form())
    changes, errors = forms.profile_changes(request, posted, None)
    status = 422
    if not errors:
        try:
            character = await characters.create_character(db, account, CharacterCreate(**changes))
        except DomainError as exc:
            await forms.undo(db, account)
            errors = {forms.CODE_FIELDS.get(exc.code, "form"): exc.message}
            status = exc.status_code
        else:
            return back(character.handle, saved="created")
    context = {
        "viewer": Viewer.of(account),
        "active": "studio",
        "values": posted,
        "errors": errors,
        "backends": [],
    }
    return render(request, "studio/new.html", context, status)


@router.get("/studio/{handle}/delete", response_class=HTMLResponse)
async def confirm_delete(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Ask before deleting: what goes with the character is said plainly."""
    context = await editor_context(request, db, state, account, handle, "delete", with_chat=False)
    return render(request, "studio/delete.html", context)


@router.post("/studio/{handle}/delete")
async def delete_character(handle: str, account: CurrentAccount, db: DB) -> Response:
    """Delete the character, its conversations and its posts."""
    await characters.delete_character(db, account, handle)
    return RedirectResponse("/studio", status_code=303)


@router.post("/studio/{handle}/duplicate")
async def duplicate_character(handle: str, account: CurrentAccount, db: DB) -> Response:
    """Copy the character into a new private one and open the copy."""
    # Only one's own characters are duplicated from the studio, so others' stay 404 here.
    await characters.get_editable_character(db, account, handle)
    copy = await characters.duplicate_character(db, account, handle)
    return back(copy.handle, saved="duplicated")
