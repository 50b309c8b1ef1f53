"""Characters (Character Card V3 superset), their assets and lorebooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, JSONDict, JSONList, utcnow

VISIBILITIES = ("private", "unlisted", "public")


class Character(IdMixin, Base):
    """An AI character: card fields plus our own settings."""

    __tablename__ = "characters"

    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    handle: Mapped[str] = mapped_column(String(30), unique=True)
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    is_ai: Mapped[bool] = mapped_column(Boolean, default=True)
    # Card V3 fields.
    name: Mapped[str] = mapped_column(String(200))
    nickname: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    personality: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")
    first_mes: Mapped[str] = mapped_column(Text, default="")
    alternate_greetings: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    group_only_greetings: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    mes_example: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    post_history_instructions: Mapped[str] = mapped_column(Text, default="")
    creator_notes: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(200), default="")
    character_version: Mapped[str] = mapped_column(String(100), default="")
    tags: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    extensions: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    # Everything else a card carried (V3 extras, unknown keys) so export loses nothing.
    card_extra: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    # Our own fields.
    backend: Mapped[str | None] = mapped_column(String(100), default=None)
    sampling: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    avatar_mime: Mapped[str] = mapped_column(String(50), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CharacterAsset(IdMixin, Base):
    """A file that came with a card (CHARX assets), kept for lossless export."""

    __tablename__ = "character_assets"

    character_id: Mapped[str] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    ext: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Lorebook(IdMixin, Base):
    """Keyword-triggered knowledge (a card's character_book or a world-info file)."""

    __tablename__ = "lorebooks"

    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    scan_depth: Mapped[int | None] = mapped_column(Integer, default=None)
    token_budget: Mapped[int | None] = mapped_column(Integer, default=None)
    recursive_scanning: Mapped[bool | None] = mapped_column(Boolean, default=None)
    extensions: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)


class CharacterLorebook(Base):
    """Which lorebooks a character uses; the primary one is exported with its card."""

    __tablename__ = "character_lorebooks"

    character_id: Mapped[str] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    lorebook_id: Mapped[str] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class LorebookEntry(IdMixin, Base):
    """One entry: keys that trigger it and the text it inserts."""

    __tablename__ = "lorebook_entries"

    lorebook_id: Mapped[str] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="CASCADE"), index=True
    )
    keys: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    secondary_keys: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    content: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    constant: Mapped[bool] = mapped_column(Boolean, default=False)
    selective: Mapped[bool] = mapped_column(Boolean, default=False)
    case_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    use_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    insertion_order: Mapped[int] = mapped_column(Integer, default=100)
    priority: Mapped[int | None] = mapped_column(Integer, default=None)
    position: Mapped[str] = mapped_column(String(20), default="before_char")
    card_entry_id: Mapped[int | None] = mapped_column(Integer, default=None)
    extensions: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    sort: Mapped[int] = mapped_column(Integer, default=0)
