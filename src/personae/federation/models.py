"""Federation tables: signing keys, remote actors and servers, inbound dedupe, outbound
events, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, JSONDict, utcnow

# Longest ActivityPub id, inbox or key id we store; longer ones are refused on input.
URI_MAX = 500


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


class RemoteActor(Base):
    """What we know of an actor on another server; its `actors` row has `domain` set."""

    __tablename__ = "remote_actors"

    actor_id: Mapped[str] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )
    uri: Mapped[str] = mapped_column(String(URI_MAX), unique=True)
    actor_type: Mapped[str] = mapped_column(String(30), default="Person")
    inbox: Mapped[str] = mapped_column(String(URI_MAX))
    shared_inbox: Mapped[str] = mapped_column(String(URI_MAX), default="")
    outbox: Mapped[str] = mapped_column(String(URI_MAX), default="")
    followers_url: Mapped[str] = mapped_column(String(URI_MAX), default="")
    url: Mapped[str] = mapped_column(String(URI_MAX), default="")
    avatar_url: Mapped[str] = mapped_column(String(URI_MAX), default="")
    key_id: Mapped[str] = mapped_column(String(URI_MAX), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The server answered 410 Gone for it: nothing more is delivered to it.
    gone: Mapped[bool] = mapped_column(Boolean, default=False)


class PeerServer(Base):
    """What we learned about another server: the HTTP signature dialect it speaks.

    Learned from what its signed requests used and from which dialect its inbox accepted;
    outgoing requests to it are signed that way (draft-cavage while nothing is known).
    """

    __tablename__ = "peer_servers"

    # host[:port], lower case, the scheme's default port left out (`remote.host_of`).
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    signature_dialect: Mapped[str] = mapped_column(String(10), default="cavage")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundActivity(Base):
    """An activity id already processed, so a redelivery (or a replay) changes nothing."""

    __tablename__ = "inbound_activities"

    activity_id: Mapped[str] = mapped_column(String(URI_MAX), primary_key=True)
    actor_uri: Mapped[str] = mapped_column(String(URI_MAX))
    activity_type: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboundEvent(IdMixin, Base):
    """Something a local actor did that remote servers may need to hear about.

    Written by the social services in the same transaction as the change itself; the
    delivery worker turns each into an activity and one `deliveries` row per inbox.
    """

    __tablename__ = "outbound_events"
    # `outbound.cancel` looks events up by these on every take-back (unlike, edit, ...).
    __table_args__ = (
        Index("ix_outbound_events_kind_actor_id_subject_id", "kind", "actor_id", "subject_id"),
    )

    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(32), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)


class Delivery(IdMixin, Base):
    """One activity on its way to one inbox, retried with backoff until it lands or gives up."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),)

    activity_id: Mapped[str] = mapped_column(String(URI_MAX))
    # The local actor whose key signs it; None for the instance actor.
    sender_id: Mapped[str | None] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), default=None, index=True
    )
    inbox: Mapped[str] = mapped_column(String(URI_MAX))
    body: Mapped[str] = mapped_column(Text)
    # pending | delivered | failed (gave up) | gone (410: the inbox is no more)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set while a worker holds it, so two workers never send the same row at once.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
