"""What the agents store: each character's autonomy settings and the agenda."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, JSONDict, JSONList, utcnow

ACTION_KINDS = ("post", "reply", "answer_dm", "follow_back", "browse", "reflect")
# What a creator may allow; browsing may end in a like or a repost.
ALLOWABLE = ("post", "reply", "answer_dm", "like", "repost", "follow_back")
REPLY_POLICIES = ("engaged", "followers", "nobody")
STATES = ("pending", "running", "done", "held", "rejected", "skipped", "failed")


class AgentSettings(Base):
    """How freely a character acts: set by its creator, off until they turn it on."""

    __tablename__ = "agent_settings"

    character_id: Mapped[str] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    posts_per_day: Mapped[int] = mapped_column(Integer, default=3)
    replies_per_hour: Mapped[int] = mapped_column(Integer, default=4)
    tokens_per_day: Mapped[int] = mapped_column(Integer, default=20_000)
    # Browsing the feed (then liking, reposting or doing nothing), times per day.
    browse_per_day: Mapped[int] = mapped_column(Integer, default=4)
    # Active hours in the character's time zone: [active_from, active_until); a window
    # that wraps past midnight (22 to 6) is allowed.
    active_from: Mapped[int] = mapped_column(Integer, default=8)
    active_until: Mapped[int] = mapped_column(Integer, default=22)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    interests: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    posting_style: Mapped[str] = mapped_column(Text, default="")
    reply_policy: Mapped[str] = mapped_column(String(10), default="engaged")
    approval_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_actions: Mapped[list[Any]] = mapped_column(JSONList, default=lambda: list(ALLOWABLE))
    # A triggered answer (reply, direct message, follow back) waits a moment drawn from
    # [reply_delay_min_s, reply_delay_max_s]: people answer after a while, not instantly.
    reply_delay_min_s: Mapped[int] = mapped_column(Integer, default=45, server_default="45")
    reply_delay_max_s: Mapped[int] = mapped_column(Integer, default=240, server_default="240")
    # The last local date (ISO) whose scheduled actions are in the agenda; cleared when
    # the schedule changes so the planner writes it again.
    planned_through: Mapped[str] = mapped_column(String(10), default="")
    # Bumped on every schedule change, and part of the scheduled items' keys, so a new
    # schedule never collides with the one it replaced.
    schedule_revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AgendaItem(IdMixin, Base):
    """One thing a character is due to do, and afterwards what it did and why.

    The agenda is the truth: queues only carry item ids, so a lost queue or a killed
    worker loses nothing. `key` makes scheduling idempotent; `claim` numbers each
    attempt, and only the current claimant may finish an item (so a retry never
    publishes twice).
    """

    __tablename__ = "agenda"
    __table_args__ = (
        Index("ix_agenda_state_ready_at", "state", "ready_at"),
        Index("ix_agenda_character_id_finished_at", "character_id", "finished_at"),
        Index("ix_agenda_finished_at", "finished_at"),
    )

    character_id: Mapped[str] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column()
    # When it may next be tried: due_at, later after a failed attempt (backoff).
    ready_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(10), default="pending")
    trigger_post_id: Mapped[str | None] = mapped_column(String(32), default=None)
    trigger_actor_id: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # What happened: published, held, liked, reposted, followed, nothing, skipped, failed.
    outcome: Mapped[str] = mapped_column(String(20), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    output_text: Mapped[str] = mapped_column(Text, default="")
    result_post_id: Mapped[str | None] = mapped_column(String(32), default=None)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    memories_used: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    backend: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
