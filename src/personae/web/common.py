"""What every page module shares: the signed-in account, htmx, paging links, redirects.

Page modules import helpers from here (and from `pages`, `views`, `cards`, `actors`),
never from one another.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse

from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.deps import DB, request_token
from personae.web.views import Viewer

# A list's paging cursor, as every page takes it.
Cursor = Annotated[str | None, Query(max_length=200)]


async def page_account(request: Request, db: DB) -> Account | None:
    """The signed-in account, or None: on a page a stale cookie means signed out, not an error."""
    token = request_token(request)
    return await accounts.account_for_token(db, token) if token else None


PageAccount = Annotated[Account | None, Depends(page_account)]


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


def page_context(account: Account | None, **context: Any) -> dict[str, Any]:
    """A template context, with the signed-in person for the header."""
    if account is not None:
        context["viewer"] = Viewer.of(account)
    return context


def page_url(path: str, cursor: str | None) -> str | None:
    """The address of the next page of a list, or None at its end."""
    return f"{path}?cursor={quote(cursor, safe='')}" if cursor else None


def next_page_url(path: str, next_cursor: str | None, **params: str) -> str | None:
    """The "Older" link of a list (keeping its other parameters), or None at its end."""
    if next_cursor is None:
        return None
    return f"{path}?{urlencode({**params, 'cursor': next_cursor})}"


def canonical(request: Request, path: str) -> RedirectResponse:
    """A redirect to the page's proper address, keeping the query."""
    query = request.url.query
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=302)
