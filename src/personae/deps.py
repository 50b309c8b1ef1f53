"""FastAPI dependencies: the app state, a database session, the calling account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.accounts.service import account_for_token
from personae.db import transaction
from personae.errors import Forbidden, Unauthorized
from personae.instance.admin import require_admin
from personae.origin import is_same_origin
from personae.state import AppState

SESSION_COOKIE = "personae_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_state(request: Request) -> AppState:
    """The app's state object."""
    state: AppState = request.app.state.personae
    return state


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the handler returns, rolled back if it
    raises (an error answer never leaves a change behind).

    Function-scoped (see `DB`), so the commit happens before the response is sent: a client
    that reads right after a write sees it, and after-commit subscribers run first.
    """
    async with transaction(get_state(request).sessions) as session:
        yield session


def request_token(request: Request) -> str | None:
    """A bearer token from the Authorization header, else the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


def client_address(request: Request) -> str | None:
    """The caller's address (behind a reverse proxy on the same host, uvicorn takes it from
    the proxy's X-Forwarded-For; see docs/security.md)."""
    return request.client.host if request.client else None


# Declared so OpenAPI names the scheme (and which operations take it); the header itself is
# read below, where a malformed one is simply "no token".
BEARER = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")


async def optional_account(
    request: Request,
    db: Annotated[AsyncSession, Depends(get_db, scope="function")],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Account | None:
    """The signed-in account, or None for anonymous callers.

    A bad bearer token is a 401 (the caller meant to authenticate); a stale cookie just
    means signed out. A cookie on an unsafe request must come from one of our own pages.
    """
    if bearer is not None and bearer.credentials.strip():
        account = await account_for_token(db, bearer.credentials.strip())
        if account is None:
            raise Unauthorized(
                "the token is invalid or expired; get a new one at /api/v1/auth/token"
            )
        return account
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    account = await account_for_token(db, cookie)
    if account is not None and request.method not in SAFE_METHODS and not is_same_origin(request):
        raise Forbidden(
            "a request signed in by cookie must come from this site's own pages; "
            "API clients should send 'Authorization: Bearer <token>'"
        )
    return account


async def current_account(
    account: Annotated[Account | None, Depends(optional_account)],
) -> Account:
    """The signed-in account; 401 when there is none."""
    if account is None:
        raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' or log in")
    return account


async def admin_account(account: Annotated[Account | None, Depends(optional_account)]) -> Account:
    """The calling admin; to anyone else (anonymous too) a 404 before the body is looked at."""
    return require_admin(account)


DB = Annotated[AsyncSession, Depends(get_db, scope="function")]
State = Annotated[AppState, Depends(get_state)]
CurrentAccount = Annotated[Account, Depends(current_account)]
OptionalAccount = Annotated[Account | None, Depends(optional_account)]
AdminAccount = Annotated[Account, Depends(admin_account)]
