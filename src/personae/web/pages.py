"""Rendering pages: templates loaded on first use, asset URLs, security headers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from personae.web import i18n
from personae.web.assets import STATIC_DIR as STATIC_DIR  # where tests and pages look
from personae.web.assets import asset_url

if TYPE_CHECKING:
    from personae.web.views import Viewer

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"

# No inline script or style anywhere, so the policy can stay this strict.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def thumb_url(url: str, size: int) -> str:
    """An image URL asking for its thumbnail of `size` px (see personae/thumbnails.py)."""
    return f"{url}{'&' if '?' in url else '?'}size={size}"


def js_strings(*messages: str) -> dict[str, str]:
    """English -> current-language text for the messages a page's script shows."""
    return {message: i18n.gettext(message) for message in messages}


@cache
def templates() -> Jinja2Templates:
    """The page templates (autoescaped, translatable with {{ _("...") }}), built on first use."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    built = Jinja2Templates(env=environment)
    built.env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    built.env.globals["asset"] = asset_url
    built.env.globals["js_strings"] = js_strings
    built.env.filters["thumb"] = thumb_url
    built.env.globals["say"] = i18n.say
    built.env.globals["languages"] = i18n.LANGUAGES
    built.env.globals["themes"] = i18n.THEMES
    return built


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A rendered template (in the visitor's language) with the page security headers."""
    language = i18n.pick_language(request)
    full = {"lang": language, "theme": i18n.pick_theme(request), **(context or {})}
    token = i18n.current_language.set(language)
    try:  # Starlette renders in the constructor, so the language holds for the whole page
        response = templates().TemplateResponse(
            request, name, full, status_code=status_code, headers=PAGE_HEADERS
        )
    finally:
        i18n.current_language.reset(token)
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


# What the error page calls the thing that is missing, by the start of its address.
MISSING = (
    ("/chat/", "conversation"),
    ("/chats", "conversation"),
    ("/scenes", "scene"),
    ("/studio/", "character"),
    ("/@", "profile"),
    ("/tags/", "page"),
)


def error_page(
    request: Request, status_code: int, message: str, viewer: Viewer | None = None
) -> HTMLResponse:
    """A friendly error page: what happened and where to go (the service's message is
    translated when the catalogs know it), signed in as `viewer` when someone is."""
    path = request.url.path
    missing = next((kind for prefix, kind in MISSING if path.startswith(prefix)), "page")
    context: dict[str, Any] = {"status": status_code, "message": message, "missing": missing}
    if viewer is not None:
        context["viewer"] = viewer
    return render(request, "error.html", context, status_code=status_code)
