"""Error pages for people: inside the normal shell (signed in or not), saying what happened
and where to go next, in the visitor's language.

Browsers asking for a page get these; API clients (JSON) keep the error envelope.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse

from personae.accounts import service as accounts
from personae.db import transaction
from personae.deps import SESSION_COOKIE
from personae.web.pages import error_page
from personae.web.views import Viewer

log = logging.getLogger(__name__)

# Paths that always answer machines, whatever the Accept header says.
MACHINE_PREFIXES = ("/api/", "/v1/", "/static/", "/.well-known/", "/nodeinfo")


def wants_page(request: Request) -> bool:
    """Whether the request is a browser opening a page (so an error should be HTML too)."""
    if request.method not in ("GET", "HEAD", "POST"):
        return False
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


async def signed_in(request: Request) -> Viewer | None:
    """The person the session cookie names, looked up afresh (the request's own unit of
    work may already be rolled back), or None; a failing lookup just means "signed out"."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        async with transaction(request.app.state.personae.sessions) as session:
            account = await accounts.account_for_token(session, token)
            return Viewer.of(account) if account is not None else None
    except Exception:  # an error page must render even when the database is the problem
        log.warning("error page: could not look up the signed-in account", exc_info=True)
        return None


async def failure_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The error page for a browser, in the shell of whoever is signed in."""
    return error_page(request, status_code, message, await signed_in(request))
