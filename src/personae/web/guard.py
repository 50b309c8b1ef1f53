"""Page routes: cross-site form posts are refused, domain errors become pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from personae.errors import DomainError, Unauthorized
from personae.origin import is_same_origin
from personae.web.failures import failure_page

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE = (
    "This form came from another site (or without saying where from), so it was refused. "
    "Go back to the page, reload it and try again."
)


class PageRoute(APIRoute):
    """An HTML route: unsafe methods need a same-origin request; errors render as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The normal handler, wrapped with the origin check and HTML error pages."""
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            if request.method not in SAFE_METHODS and not is_same_origin(request):
                return await failure_page(request, 403, CROSS_SITE)
            try:
                return await handler(request)
            except Unauthorized:
                return RedirectResponse("/", status_code=303)
            except DomainError as exc:
                page = await failure_page(request, exc.status_code, exc.message)
                page.headers.update(exc.headers() or {})
                return page
            except RequestValidationError:
                return await failure_page(request, 422, "Some fields were missing or too long.")

        return page_handler
