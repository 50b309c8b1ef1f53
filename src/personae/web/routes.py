"""The first web page: sign up or log in, pick a character, chat (the full web app comes later)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.accounts import service as accounts
from personae.accounts import signin
from personae.accounts.models import Account
from personae.deps import DB, SESSION_COOKIE, State, client_address
from personae.errors import DomainError
from personae.state import AppState
from personae.web.common import PageAccount
from personae.web.guard import PageRoute
from personae.web.pages import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
TextField = Annotated[str, Form()]


def start_page(
    request: Request,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The start page for visitors: what personae is, and the forms to get in."""
    context: dict[str, Any] = {"errors": errors or {}, "values": values or {}, "active": "login"}
    return render(request, "landing.html", context, status_code)


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
    if account is not None:
        return RedirectResponse("/home", status_code=303)
    response = start_page(request)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/login")
async def log_in(
    request: Request, db: DB, state: State, username: TextField = "", password: TextField = ""
) -> Response:
    """Check the log-in form and start a session (throttled as the JSON API is)."""
    limits = signin.SignInLimits.from_settings(state.settings)
    try:
        account = await signin.log_in(
            db, state.sessions, username, password, client_address(request), limits
        )
    except DomainError as exc:
        errors = {"login": exc.message}
        page = start_page(request, exc.status_code, errors, {"login": username})
        page.headers.update(exc.headers() or {})
        return page
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
    limits = signin.SignInLimits.from_settings(state.settings)
    try:
        account = await signin.sign_up(
            db,
            state.sessions,
            username,
            password,
            display_name.strip(),
            client_address(request),
            limits,
        )
    except DomainError as exc:
        values = {"signup": username, "display_name": display_name}
        page = start_page(request, exc.status_code, {"signup": exc.message}, values)
        page.headers.update(exc.headers() or {})
        return page
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
