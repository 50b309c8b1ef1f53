"""Scenes: a conversation of kind "scene" plus its settings, presence intervals and shares.

A scene IS a `Conversation` (so messages, the tree, swipes, branches and participants
carry over from chat); `scenes` holds what only a scene has, keyed by the conversation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, utcnow

VISIBILITIES = ("private", "invite", "public")
MODES = ("natural", "list", "pooled", "manual", "director")
# Auto-mode defaults: a pause between turns, a number of turns, and tokens per day.
AUTO_DELAY_S = 4.0
AUTO_TURN_BUDGET = 10
AUTO_TOKENS_PER_DAY = 20_000


class Scene(Base):
    """What a conversation of kind "scene" has beyond a chat."""

    __tablename__ = "scenes"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    scenario: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    mode: Mapped[str] = mapped_column(String(10), default="natural")
    allow_self: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seeds the talkativeness rolls, so a replay of the scene makes the same choices.
    seed: Mapped[str] = mapped_column(String(40), default="")
    lorebook_id: Mapped[str | None] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="SET NULL"), default=None
    )
    # Auto-mode: characters go on by themselves, `auto_delay_s` apart, until the turn
    # budget or the day's tokens are spent. Counters live here, not in memory, so a
    # restart does not hand out a fresh budget.
    auto_on: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_delay_s: Mapped[float] = mapped_column(Float, default=AUTO_DELAY_S)
    auto_turn_budget: Mapped[int] = mapped_column(Integer, default=AUTO_TURN_BUDGET)
    auto_turns_used: Mapped[int] = mapped_column(Integer, default=0)
    auto_tokens_per_day: Mapped[int] = mapped_column(Integer, default=AUTO_TOKENS_PER_DAY)
    auto_tokens_day: Mapped[str] = mapped_column(String(10), default="")  # YYYY-MM-DD (UTC)
    auto_tokens_used: Mapped[int] = mapped_column(Integer, default=0)
    auto_paused_reason: Mapped[str | None] = mapped_column(String(100), default=None)


class ScenePresence(IdMixin, Base):
    """One interval a participant was in the scene (leave and rejoin make two rows)."""

    __tablename__ = "scene_presence"
    __table_args__ = (Index("ix_scene_presence_conversation_id", "conversation_id"),)

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(
        ForeignKey("conversation_participants.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)


class SceneShare(IdMixin, Base):
    """A range of a scene published as a post (the post links to the transcript)."""

    __tablename__ = "scene_shares"
    __table_args__ = (Index("ix_scene_shares_conversation_id", "conversation_id"),)

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Plain ids, not foreign keys: a message deleted later shortens the transcript, it
    # does not take the post down.
    from_message_id: Mapped[str] = mapped_column(String(32))
    to_message_id: Mapped[str] = mapped_column(String(32))
    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
