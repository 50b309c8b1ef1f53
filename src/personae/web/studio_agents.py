"""Studio pages for a character's life on its own: autonomy settings, the review queue of
held posts, and the operator view of what it did and why."""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.agents import service as agents
from personae.agents.models import ALLOWABLE, STATES
from personae.deps import DB, CurrentAccount, State
from personae.errors import DomainError
from personae.social.posts import MAX_POST_CHARS
from personae.web import studio_forms as forms
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.studio_context import back, editor_context

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVITY_PAGE = 20
KINDS = ("post", "reply", "answer_dm", "follow_back", "browse", "reflect")


@cache
def time_zones() -> list[str]:
    """IANA zone names for the time zone field's suggestions (read once, when first needed)."""
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


async def autonomy_render(
    request: Request,
    db: DB,
    state: State,
    account: CurrentAccount,
    handle: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The autonomy tab, with stored or re-shown values."""
    context = await editor_context(request, db, state, account, handle, "autonomy", False)
    stored = agents.settings_out(await agents.get_autonomy(db, account, handle))
    context["values"] = values or forms.autonomy_values(stored)
    context["errors"] = errors or {}
    context["summary"] = await agents.activity_summary(db, state.settings, account, handle)
    context["actions"] = ALLOWABLE
    context["zones"] = time_zones()
    return render(request, "studio/autonomy.html", context, status_code)


@router.get("/studio/{handle}/autonomy", response_class=HTMLResponse)
async def autonomy_page(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """How freely the character acts, and what it did in the last day."""
    return await autonomy_render(request, db, state, account, handle)


@router.post("/studio/{handle}/autonomy")
async def save_autonomy(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Save the autonomy form; every problem is shown beside its field, nothing is written."""
    changes, shown, errors = forms.posted_autonomy(request, await request.form())
    status = 422
    if not errors:
        try:
            await agents.update_autonomy(db, account, handle, changes)
        except DomainError as exc:
            await forms.undo(db, account)
            errors = {forms.CODE_FIELDS.get(exc.code, "form"): exc.message}
            status = exc.status_code
    if errors:
        return await autonomy_render(request, db, state, account, handle, shown, errors, status)
    return back(handle, "autonomy", "autonomy")


def item_view(item: Any) -> dict[str, Any]:
    """An agenda item for the pages, with its inputs readable."""
    out = agents.item_out(item)
    out["inputs_text"] = json.dumps(out["inputs"], indent=2, ensure_ascii=False, default=str)
    out["memories"] = [
        m if isinstance(m, str) else json.dumps(m, ensure_ascii=False, default=str)
        for m in out["memories_used"] or []
    ]
    return out


async def review_render(
    request: Request,
    db: DB,
    state: State,
    account: CurrentAccount,
    handle: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The review queue."""
    context = await editor_context(request, db, state, account, handle, "review", False)
    items, _ = await agents.list_activity(db, account, handle, "held", None, None, 100)
    context["items"] = [item_view(i) for i in items]
    context["errors"] = errors or {}
    context["max_post"] = MAX_POST_CHARS
    context["reviewed"] = request.query_params.get("done", "")
    return render(request, "studio/review.html", context, status_code)


@router.get("/studio/{handle}/review", response_class=HTMLResponse)
async def review_page(
    handle: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Posts held for the creator's review, each with why it was held."""
    return await review_render(request, db, state, account, handle)


@router.post("/studio/{handle}/review/{item_id}/approve")
async def approve(
    handle: str,
    item_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    text: Annotated[str, Form(max_length=MAX_POST_CHARS * 2)] = "",
) -> Response:
    """Publish a held post, as written or as edited here."""
    await editor_context(request, db, state, account, handle, "review", False)
    body = text.replace("\r\n", "\n")
    try:
        if len(body) > MAX_POST_CHARS:
            raise DomainError(
                forms.tr(request, "Too long: at most %(n)s characters.", n=MAX_POST_CHARS),
                "too_long",
            )
        await agents.approve(db, state.settings, account, item_id, body or None)
    except DomainError as exc:
        await forms.undo(db, account)
        return await review_render(
            request, db, state, account, handle, {item_id: exc.message}, exc.status_code
        )
    return _reviewed(handle, "approved")


@router.post("/studio/{handle}/review/{item_id}/reject")
async def reject(
    handle: str, item_id: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Turn a held post down."""
    await editor_context(request, db, state, account, handle, "review", False)
    try:
        await agents.reject(db, account, item_id)
    except DomainError as exc:
        await forms.undo(db, account)
        return await review_render(
            request, db, state, account, handle, {item_id: exc.message}, exc.status_code
        )
    return _reviewed(handle, "rejected")


def _reviewed(handle: str, what: str) -> Response:
    """Back to the queue, saying what was done."""
    return RedirectResponse(f"/studio/{handle}/review?done={what}", status_code=303)


@router.get("/studio/{handle}/activity", response_class=HTMLResponse)
async def activity_page(
    handle: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    state_filter: Annotated[str, Query(alias="state", max_length=10)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The operator view: what the character did, when, why, and at what cost."""
    context = await editor_context(request, db, state, account, handle, "activity", False)
    picked_state = state_filter if state_filter in STATES else None
    picked_kind = kind if kind in KINDS else None
    items, next_cursor = await agents.list_activity(
        db, account, handle, picked_state, picked_kind, cursor or None, ACTIVITY_PAGE
    )
    context.update(
        items=[item_view(i) for i in items],
        next_cursor=next_cursor,
        states=STATES,
        kinds=KINDS,
        picked_state=picked_state or "",
        picked_kind=picked_kind or "",
        paged=bool(cursor),
    )
    return render(request, "studio/activity.html", context)
