"""Tabbed form pages (settings, admin): the tabs, the notice after a saved change, any error.

Their forms post, the service checks and saves, and the page answers 303 back to its tab
with a notice key; a refusal re-renders the tab with the problem named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.web.pages import render
from personae.web.views import Viewer


@dataclass(frozen=True)
class TabbedArea:
    """One area's tabs (key, path, label) and the notices its redirects may name."""

    active: str
    tabs: tuple[tuple[str, str, str], ...]
    # Chosen by key so a link cannot put words on the page.
    notices: dict[str, str]

    def page(
        self,
        request: Request,
        account: Account,
        tab: str,
        template: str,
        context: dict[str, Any],
        status_code: int = 200,
        error: str = "",
    ) -> Response:
        """Render one tab with the tabs, the notice and any error."""
        done = request.query_params.get("done", "")
        full = {
            "viewer": Viewer.of(account),
            "active": self.active,
            "tabs": self.tabs,
            "tab": tab,
            "notice": self.notices.get(done, "") if not error else "",
            "error": error,
            **context,
        }
        return render(request, template, full, status_code)


def back(path: str, done: str) -> RedirectResponse:
    """303 back to a tab, with the notice for what was done."""
    return RedirectResponse(f"{path}?done={done}", status_code=303)


def checked(value: str) -> bool:
    """Whether a checkbox was ticked (browsers send "on", or its value)."""
    return value.strip().lower() in ("on", "true", "yes", "1")


async def undo(db: AsyncSession, account: Account) -> None:
    """Drop whatever a refused change left in the session, keeping the signed-in account
    usable for the page that explains the refusal."""
    await db.rollback()
    await db.refresh(account)  # the rollback expired it
