"""The language and theme switches: each sets a cookie and goes back to the page it was on."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from personae.web import i18n
from personae.web.failures import failure_page
from personae.web.guard import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
YEAR_S = 365 * 86400


def back_to(request: Request) -> str:
    """The same-site page the switch was used on (never another site), else the start."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    path = (
        referer.path if referer.path.startswith("/") and not referer.path.startswith("//") else ""
    )
    if not path:
        return "/"
    return f"{path}?{referer.query}" if referer.query else path


def remembered(request: Request, cookie: str, value: str) -> Response:
    """Go back, remembering a choice for a year."""
    response = RedirectResponse(back_to(request), status_code=303)
    response.set_cookie(cookie, value, max_age=YEAR_S, httponly=True, samesite="lax")
    return response


@router.post("/prefs/language")
async def switch_language(request: Request, language: Annotated[str, Form()] = "") -> Response:
    """Show the interface in another language."""
    if language not in i18n.LANGUAGES:
        known = ", ".join(i18n.LANGUAGES)
        return await failure_page(request, 422, f"Unknown language; choose one of {known}.")
    return remembered(request, i18n.LANGUAGE_COOKIE, language)


@router.post("/prefs/theme")
async def switch_theme(request: Request, theme: Annotated[str, Form()] = "") -> Response:
    """Use the light or dark theme, or follow the device."""
    if theme not in i18n.THEMES:
        return await failure_page(request, 422, "Unknown theme; choose system, light or dark.")
    return remembered(request, i18n.THEME_COOKIE, theme)
