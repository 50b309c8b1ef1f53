"""The first web page: sign up or log in, pick a character, chat (the full web app comes later)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.characters import importing
from personae.characters import service as characters
from personae.characters.routes import read_upload
from personae.characters.schemas import CharacterCreate
from personae.deps import DB, SESSION_COOKIE, CurrentAccount, State, request_token
from personae.errors import DomainError
from personae.state import AppState
from personae.web.guard import PageRoute
from personae.web.pages import STATIC_DIR, render
from personae.web.views import Viewer, character_cards, recent_conversations

router = APIRouter(include_in_schema=False, route_class=PageRoute)
TextField = Annotated[str, Form()]


def mount_static(app: FastAPI) -> None:
    """Serve the pages' CSS and JavaScript at /static."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def page_account(request: Request, db: DB) -> Account | None:
    """The signed-in account, or None: on a page a stale cookie means signed out, not an error."""
    token = request_token(request)
    return await accounts.account_for_token(db, token) if token else None


PageAccount = Annotated[Account | None, Depends(page_account)]


async def home_page(
    request: Request,
    db: DB,
    account: Account | None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The home page: the forms to get in, or the viewer's characters and chats."""
    context: dict[str, Any] = {"errors": errors or {}, "values": values or {}}
    if account is None:
        return render(request, "landing.html", {**context, "active": "login"}, status_code)
    context["viewer"] = Viewer.of(account)
    context["characters"] = await character_cards(db, account)
    context["conversations"] = await recent_conversations(db, account)
    return render(request, "home.html", context, status_code)


async def start_session(db: DB, state: AppState, account: Account) -> RedirectResponse:
    """Issue a session token, set it as the cookie and go home."""
    days = state.settings.session_days
    token = await accounts.issue_token(db, account, "session", "web", days=days)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=days * 86400,
        httponly=True,
        samesite="lax",
        secure=state.settings.effective_base_url.startswith("https"),
    )
    return response


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, db: DB, account: PageAccount) -> Response:
    """The start page."""
    response = await home_page(request, db, account)
    if account is None and request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/login")
async def log_in(
    request: Request, db: DB, state: State, username: TextField = "", password: TextField = ""
) -> Response:
    """Check the log-in form and start a session."""
    try:
        account = await accounts.authenticate(db, username, password)
    except DomainError as exc:
        errors = {"login": exc.message}
        return await home_page(request, db, None, exc.status_code, errors, {"login": username})
    return await start_session(db, state, account)


@router.post("/signup")
async def sign_up(
    request: Request,
    db: DB,
    state: State,
    username: TextField = "",
    password: TextField = "",
    display_name: TextField = "",
) -> Response:
    """Create an account from the sign-up form and start a session."""
    try:
        account = await accounts.create_account(db, username, password, display_name.strip())
    except DomainError as exc:
        values = {"signup": username, "display_name": display_name}
        return await home_page(request, db, None, exc.status_code, {"signup": exc.message}, values)
    return await start_session(db, state, account)


@router.post("/logout")
async def log_out(request: Request, db: DB) -> Response:
    """End the session (if any) and go home."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await accounts.revoke_token(db, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/characters/new")
async def create_character(
    request: Request,
    account: CurrentAccount,
    db: DB,
    name: TextField = "",
    description: TextField = "",
    first_mes: TextField = "",
) -> Response:
    """Create a private character from the home page form."""
    values = {"name": name, "description": description, "first_mes": first_mes}
    try:
        fields = CharacterCreate(name=name.strip(), description=description, first_mes=first_mes)
        await characters.create_character(db, account, fields)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return await home_page(request, db, account, 422, {"create": message}, values)
    except DomainError as exc:
        errors = {"create": exc.message}
        return await home_page(request, db, account, exc.status_code, errors, values)
    return RedirectResponse("/", status_code=303)


@router.post("/characters/import")
async def import_character(
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import a character card (PNG, JSON or CHARX) from the home page form."""
    try:
        if file is None or not file.filename:
            raise DomainError("choose a card file (PNG, JSON or CHARX) first", "no_file")
        data = await read_upload(request, file, state.settings.max_upload_bytes)
        await importing.import_card(db, account, data, file.filename, file.content_type)
    except DomainError as exc:
        return await home_page(request, db, account, exc.status_code, {"import": exc.message})
    return RedirectResponse("/", status_code=303)
