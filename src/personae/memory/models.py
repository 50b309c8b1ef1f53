"""The memory stream's table: one row per thing a character remembers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, utcnow


class Memory(IdMixin, Base):
    """Something a character saw, said, did, was told, or concluded (a reflection)."""

    __tablename__ = "memories"
    __table_args__ = (
        Index("ix_memories_character_id_at", "character_id", "at"),
        Index("ix_memories_about_actor_id_character_id", "about_actor_id", "character_id"),
    )

    character_id: Mapped[str] = mapped_column(ForeignKey("characters.id", ondelete="CASCADE"))
    # observation (saw), said, did, told (what a person told it), reflection.
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    # The actor it is about, so a person can see and delete what is remembered of them.
    about_actor_id: Mapped[str | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), default=None
    )
    source: Mapped[str] = mapped_column(String(10), default="feed")  # feed, chat, private, self
    source_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Who may read what it is recalled into: "public", or the id of the one actor it is
    # private with (their chat, their direct or followers-only post). Only a direct answer
    # to that actor may recall it; anything public recalls public memories only.
    audience: Mapped[str] = mapped_column(String(32), default="public", server_default="public")
    importance: Mapped[int] = mapped_column(Integer, default=3)
    scored_by: Mapped[str] = mapped_column(String(10), default="heuristic")
    # When it happened (the engine's clock, which a simulation runs ahead).
    at: Mapped[datetime] = mapped_column(default=utcnow)
    last_accessed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Integer key of the row in SQLite's full-text index.
    search_key: Mapped[int] = mapped_column(BigInteger, unique=True)
