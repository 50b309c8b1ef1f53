"""Rendering pages: templates loaded on first use, asset URLs, security headers."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

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


@cache
def asset_url(name: str) -> str:
    """The URL of a static file, with a content hash so browsers never keep a stale copy."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


@cache
def templates() -> Jinja2Templates:
    """The page templates (autoescaped), built on first use."""
    built = Jinja2Templates(directory=TEMPLATE_DIR)
    built.env.globals["asset"] = asset_url
    return built


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A rendered template as an HTML response with the page security headers."""
    return templates().TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=PAGE_HEADERS
    )


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A friendly error page."""
    titles = {403: "Not allowed", 404: "Not found", 413: "Too large", 422: "Please check that"}
    title = titles.get(status_code, "Something went wrong")
    return render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )
