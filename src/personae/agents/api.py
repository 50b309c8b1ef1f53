"""Autonomy API: settings, the operator view and the review queue (creators only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.agents import service
from personae.agents.models import AgendaItem
from personae.agents.schemas import (
    ActivityItem,
    ActivityPage,
    ActivitySummary,
    AutonomyOut,
)
from personae.deps import DB, CurrentAccount, State
from personae.social.posts import MAX_POST_CHARS

router = APIRouter(prefix="/api/v1", tags=["autonomy"])
Interest = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Action = Literal["post", "reply", "answer_dm", "like", "repost", "follow_back"]


class AutonomyIn(BaseModel):
    """Changes to a character's autonomy; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    posts_per_day: int | None = Field(default=None, ge=0, le=48)
    replies_per_hour: int | None = Field(default=None, ge=0, le=60)
    tokens_per_day: int | None = Field(default=None, ge=0, le=10_000_000)
    browse_per_day: int | None = Field(default=None, ge=0, le=96)
    active_from: int | None = Field(default=None, ge=0, le=23)
    active_until: int | None = Field(default=None, ge=1, le=24)
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    interests: list[Interest] | None = Field(default=None, max_length=12)
    posting_style: Annotated[str, StringConstraints(max_length=500)] | None = None
    reply_policy: Literal["engaged", "followers", "nobody"] | None = None
    approval_mode: bool | None = None
    allowed_actions: list[Action] | None = Field(default=None, max_length=6)
    reply_delay_min_s: int | None = Field(default=None, ge=0, le=86_400)
    reply_delay_max_s: int | None = Field(default=None, ge=0, le=86_400)


class ApproveIn(BaseModel):
    """Approve a held post, optionally with edited text."""

    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_POST_CHARS)] | None = None


@router.get("/characters/{ref}/autonomy")
async def get_autonomy(ref: str, account: CurrentAccount, db: DB) -> AutonomyOut:
    """A character's autonomy settings."""
    return AutonomyOut.model_validate(
        service.settings_out(await service.get_autonomy(db, account, ref))
    )


@router.put("/characters/{ref}/autonomy")
async def put_autonomy(ref: str, body: AutonomyIn, account: CurrentAccount, db: DB) -> AutonomyOut:
    """Change a character's autonomy settings (a schedule change re-plans its days)."""
    changes = body.model_dump(exclude_none=True)
    agent = await service.update_autonomy(db, account, ref, changes)
    return AutonomyOut.model_validate(service.settings_out(agent))


@router.get("/characters/{ref}/activity")
async def activity(
    ref: str,
    account: CurrentAccount,
    db: DB,
    state: Annotated[str | None, Query(max_length=10)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ActivityPage:
    """The operator view: what the character did, when and why, and what it cost."""
    items, next_cursor = await service.list_activity(db, account, ref, state, kind, cursor, limit)
    return _page(items, next_cursor)


@router.get("/characters/{ref}/activity/summary")
async def activity_summary(
    ref: str, account: CurrentAccount, db: DB, state: State
) -> ActivitySummary:
    """Tokens, posts and replies in the last day against the limits; pending and held."""
    summary = await service.activity_summary(db, state.settings, account, ref)
    return ActivitySummary.model_validate(summary)


@router.get("/characters/{ref}/review")
async def review_queue(
    ref: str,
    account: CurrentAccount,
    db: DB,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ActivityPage:
    """Posts held for the creator's review, with the reason each was held."""
    items, next_cursor = await service.list_activity(db, account, ref, "held", None, cursor, limit)
    return _page(items, next_cursor)


@router.post("/agenda/{item_id}/approve")
async def approve(
    item_id: str, account: CurrentAccount, db: DB, state: State, body: ApproveIn | None = None
) -> ActivityItem:
    """Publish a held post as the character."""
    text = body.text if body else None
    item = await service.approve(db, state.settings, account, item_id, text)
    return ActivityItem.model_validate(service.item_out(item))


@router.post("/agenda/{item_id}/reject")
async def reject(item_id: str, account: CurrentAccount, db: DB) -> ActivityItem:
    """Turn a held post down."""
    return ActivityItem.model_validate(service.item_out(await service.reject(db, account, item_id)))


def _page(items: list[AgendaItem], next_cursor: str | None) -> ActivityPage:
    return ActivityPage(
        items=[ActivityItem.model_validate(service.item_out(i)) for i in items],
        next_cursor=next_cursor,
    )
