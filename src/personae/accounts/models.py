"""Accounts, their personas and their credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin


class Account(IdMixin, Base):
    """A local person who signs in."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class Persona(IdMixin, Base):
    """Who the person is in a chat: the name and description the character sees."""

    __tablename__ = "personas"

    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class AuthToken(IdMixin, Base):
    """A browser session or an API bearer token; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "session" | "api"
    name: Mapped[str] = mapped_column(String(100), default="")
    # Every token ends: sessions after `session_days`, API tokens when their owner chose
    # (at most `api_token_max_days`); a password change ends them all but the one in use.
    expires_at: Mapped[datetime] = mapped_column()
    # Written at most once a minute, so using a token rarely costs a write.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthThrottle(Base):
    """A counter of sign-in or sign-up attempts in a time window (see accounts/throttle.py).

    Kept in the database so every process of the instance counts together; the key is a
    digest of what is counted (account, client address ...), so no address is stored.
    """

    __tablename__ = "auth_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    reset_at: Mapped[datetime] = mapped_column(index=True)
