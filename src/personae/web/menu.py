"""The "More" page: on a phone, everything the desktop rail offers that the bottom bar cannot."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from personae.web.common import PageAccount, page_context
from personae.web.guard import PageRoute
from personae.web.pages import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/menu", response_class=HTMLResponse)
async def more(request: Request, account: PageAccount) -> HTMLResponse:
    """Profile, studio, settings, admin, language, theme and log out, as one list."""
    return render(request, "menu.html", page_context(account, active="menu"))
