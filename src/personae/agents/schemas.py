"""The JSON shapes of the autonomy API: settings, the operator view, the review queue."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AutonomyOut(BaseModel):
    """A character's autonomy settings."""

    enabled: bool
    posts_per_day: int
    replies_per_hour: int
    tokens_per_day: int
    browse_per_day: int
    active_from: int
    active_until: int
    timezone: str
    interests: list[str]
    posting_style: str
    reply_policy: str
    approval_mode: bool
    allowed_actions: list[str]
    reply_delay_min_s: int
    reply_delay_max_s: int


class TokensOut(BaseModel):
    """The tokens an action cost."""

    prompt: int
    completion: int


class ActivityItem(BaseModel):
    """One agenda item: what, when, why, with what, at what cost."""

    id: str
    kind: str
    state: str
    reason: str
    due_at: str
    finished_at: str | None
    outcome: str
    detail: str
    text: str
    post_id: str | None
    trigger_post_id: str | None
    attempts: int
    inputs: dict[str, Any]  # what the action was given; free-form, by kind of action
    memories_used: list[str]  # memory ids
    tokens: TokensOut
    backend: str
    model: str


class ActivityPage(BaseModel):
    """A page of agenda items, newest first."""

    items: list[ActivityItem]
    next_cursor: str | None


class LastDay(BaseModel):
    """What a character spent and did in the last 24 hours."""

    tokens: int
    posts: int
    replies_last_hour: int
    outcomes: dict[str, int]  # "kind:outcome" -> how many


class SummaryLimits(BaseModel):
    """The character's limits and the instance's."""

    tokens_per_day: int
    posts_per_day: int
    replies_per_hour: int
    instance_tokens_per_day: int
    instance_posts_per_day: int
    instance_replies_per_hour: int


class ActivitySummary(BaseModel):
    """The last day against the limits; what is pending and held."""

    enabled: bool
    last_24h: LastDay
    limits: SummaryLimits
    pending: int
    held: int
    next_due_at: str | None
