"""Federation tables: the key pairs local actors and the instance actor sign with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, utcnow


class ActorKey(Base):
    """A local actor's RSA key pair, made the first time a remote server needs it."""

    __tablename__ = "actor_keys"

    actor_id: Mapped[str] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstanceKey(Base):
    """The instance actor's key pair (one row, `name` = "instance"); it has no actors row."""

    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
