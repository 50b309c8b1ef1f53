"""Admin pages: model backends (configured and added, tested, the default), the reports
queue, and the instance-wide limits of autonomous characters. A 404 to anyone else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.deps import DB, State
from personae.errors import DomainError, Invalid
from personae.instance import backends, limits
from personae.instance.admin import require_admin
from personae.social import reports
from personae.social.actors import actors_by_ids
from personae.social.models import Report
from personae.state import AppState
from personae.web.common import PageAccount
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.tabbed import TabbedArea, back, checked, undo

router = APIRouter(include_in_schema=False, route_class=PageRoute)
TextField = Annotated[str, Form(max_length=5000)]
ADMIN = TabbedArea(
    "admin",
    (
        ("backends", "/admin", "Model backends"),
        ("reports", "/admin/reports", "Reports"),
        ("limits", "/admin/limits", "Instance limits"),
    ),
    {
        "added": "The backend is added and ready to use.",
        "added_off": "The backend is added, switched off.",
        "enabled": "The backend is switched on.",
        "disabled": "The backend is switched off.",
        "removed": "The backend is removed.",
        "default": "The default backend is changed.",
        "dismiss": "The report is dismissed.",
        "delete_post": "The post is deleted and the report resolved.",
        "suspend": "The account is suspended and the report resolved.",
        "limits": "The limits are saved. They apply to the next action.",
    },
)
LIMIT_LABELS = {
    "agents_posts_per_day": "Posts per day, all characters together",
    "agents_replies_per_hour": "Replies per hour, all characters together",
    "agents_tokens_per_day": "Model tokens per day, all characters together",
    "agents_max_ai_turns": "AI posts in a row in one thread",
    "chat_max_tokens": "Longest reply a client may ask for through /v1, in tokens",
}


# Model backends.


async def backends_context(
    db: AsyncSession, state: AppState, account: Account, **extra: Any
) -> dict[str, Any]:
    """What the backends tab shows."""
    return {
        "configured": backends.configured_backends(state.settings),
        "added": await backends.list_added(db, account),
        "default": state.backends.default,
        "usable": state.backends.names(),
        "values": {},
        "result": None,
        **extra,
    }


@router.get("/admin")
async def backends_page(request: Request, db: DB, state: State, account: PageAccount) -> Response:
    """The model backends: configured, added, the default; add and test a URL."""
    admin = require_admin(account)
    context = await backends_context(db, state, admin)
    return ADMIN.page(request, admin, "backends", "admin/backends.html", context)


@router.post("/admin/backends")
async def add_backend(
    request: Request,
    db: DB,
    state: State,
    account: PageAccount,
    name: TextField = "",
    base_url: TextField = "",
    model: TextField = "",
    api_key: TextField = "",
    context_window: TextField = "8192",
    enabled: TextField = "",
) -> Response:
    """Add an OpenAI-compatible server; re-render with the problem when it is refused."""
    admin = require_admin(account)
    on = checked(enabled)
    window = context_window.strip()
    try:
        if not window.isdigit() or len(window) > 9:
            raise Invalid("context window must be a whole number of tokens", "bad_context_window")
        await backends.add_backend(
            db, state.backends, admin, name, base_url, model, api_key, int(window), on
        )
    except DomainError as exc:
        await undo(db, admin)
        values = {"name": name, "base_url": base_url, "model": model, "context_window": window}
        context = await backends_context(db, state, admin, values=values, open_add=True)
        return ADMIN.page(
            request, admin, "backends", "admin/backends.html", context, exc.status_code, exc.message
        )
    return back("/admin", "added" if on else "added_off")


@router.post("/admin/backends/{name}/test")
async def test_backend(
    name: str, request: Request, db: DB, state: State, account: PageAccount
) -> Response:
    """Test a backend for real; htmx gets the result alone, a plain form the whole page."""
    admin = require_admin(account)
    result = await backends.test_backend(db, admin, name)
    if request.headers.get("hx-request") == "true":
        return render(request, "admin/_test_result.html", {"result": result, "name": name})
    context = await backends_context(db, state, admin, result=result, tested=name)
    return ADMIN.page(request, admin, "backends", "admin/backends.html", context)


@router.post("/admin/backends/{name}/enable")
async def enable_backend(name: str, db: DB, state: State, account: PageAccount) -> Response:
    """Switch an added backend on: usable at once."""
    admin = require_admin(account)
    await backends.set_enabled(db, state.backends, state.settings, admin, name, True)
    return back("/admin", "enabled")


@router.post("/admin/backends/{name}/disable")
async def disable_backend(name: str, db: DB, state: State, account: PageAccount) -> Response:
    """Switch an added backend off."""
    admin = require_admin(account)
    await backends.set_enabled(db, state.backends, state.settings, admin, name, False)
    return back("/admin", "disabled")


@router.post("/admin/backends/{name}/delete")
async def delete_backend(name: str, db: DB, state: State, account: PageAccount) -> Response:
    """Remove an added backend."""
    admin = require_admin(account)
    await backends.remove_backend(db, state.backends, state.settings, admin, name)
    return back("/admin", "removed")


@router.post("/admin/default")
async def set_default(db: DB, state: State, account: PageAccount, name: TextField = "") -> Response:
    """Choose the backend characters use when they name none."""
    admin = require_admin(account)
    await backends.set_default(db, state.backends, admin, name)
    return back("/admin", "default")


# Reports.


async def report_views(db: AsyncSession, rows: list[Report]) -> list[dict[str, Any]]:
    """Reports with who reported whom, for the queue."""
    ids = {r.target_id for r in rows} | {r.reporter_id for r in rows}
    by_id = await actors_by_ids(db, ids)
    views = []
    for report in rows:
        target, reporter = by_id.get(report.target_id), by_id.get(report.reporter_id)
        views.append(
            {
                "id": report.id,
                "reason": report.reason,
                "comment": report.comment,
                "post_id": report.post_id,
                "post_text": report.post_text,
                "created_at": report.created_at,
                "target": target,
                "reporter": reporter.handle if reporter else "?",
            }
        )
    return views


@router.get("/admin/reports")
async def reports_page(request: Request, db: DB, account: PageAccount) -> Response:
    """The open reports, oldest first, each with what was reported."""
    admin = require_admin(account)
    rows = await reports.list_reports(db, admin, "open", limit=100)
    context = {"reports": await report_views(db, rows)}
    return ADMIN.page(request, admin, "reports", "admin/reports.html", context)


@router.post("/admin/reports/{report_id}")
async def resolve_report(
    report_id: str, db: DB, account: PageAccount, action: TextField = "", note: TextField = ""
) -> Response:
    """Dismiss a report, or resolve it by deleting the post or suspending the actor."""
    admin = require_admin(account)
    await reports.resolve_report(db, admin, report_id, action, note)
    return back("/admin/reports", action)


# Instance limits.


async def limits_context(db: AsyncSession, state: AppState, account: Account) -> dict[str, Any]:
    """What the limits tab shows."""
    found = await limits.list_limits(db, state.settings, account)
    values = {f.name: "" if f.override is None else str(f.override) for f in found}
    return {"limits": found, "labels": LIMIT_LABELS, "values": values}


@router.get("/admin/limits")
async def limits_page(request: Request, db: DB, state: State, account: PageAccount) -> Response:
    """The instance-wide limits of autonomous characters, editable at runtime."""
    admin = require_admin(account)
    context = await limits_context(db, state, admin)
    return ADMIN.page(request, admin, "limits", "admin/limits.html", context)


@router.post("/admin/limits")
async def save_limits(request: Request, db: DB, state: State, account: PageAccount) -> Response:
    """Save the limits; an empty field returns a limit to its configured value."""
    admin = require_admin(account)
    form = await request.form()
    values: dict[str, object | None] = {}
    for name in limits.LIMITS:
        raw = form.get(name)
        if isinstance(raw, str):
            values[name] = raw.strip() or None
    try:
        await limits.set_limits(db, state.settings, admin, values)
    except DomainError as exc:
        await undo(db, admin)
        context = await limits_context(db, state, admin)
        context["values"] = {k: form.get(k) for k in limits.LIMITS}
        return ADMIN.page(
            request, admin, "limits", "admin/limits.html", context, exc.status_code, exc.message
        )
    return back("/admin/limits", "limits")
