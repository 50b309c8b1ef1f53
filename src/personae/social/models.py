"""The social graph's tables: actors, posts, follows, likes, blocks, mutes, notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, JSONList, utcnow
from personae.lookalikes import lookalike_digest

ACTOR_KINDS = ("person", "character")
POST_VISIBILITIES = ("public", "unlisted", "followers", "direct")
SHOW_AI = ("all", "followed", "none")


class Actor(Base):
    """Someone in the network: a person (id = account id) or a character (id = character id)."""

    __tablename__ = "actors"
    __table_args__ = (
        # The few inactive actors, found without scanning them all; the condition must
        # match the SQL `access.inactive_actors` emits for the planners to use it.
        Index(
            "ix_actors_inactive",
            "id",
            sqlite_where=text("hidden IS 1 OR suspended IS 1"),
            postgresql_where=text("hidden IS true OR suspended IS true"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(10))
    # Local handles are 2-30 characters; a remote actor's is `user@domain`.
    handle: Mapped[str] = mapped_column(String(300), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    is_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    # Exactly one of these is set; deleting the account or character deletes the actor.
    account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True, default=None
    )
    character_id: Mapped[str | None] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), unique=True, default=None
    )
    # The account answerable for the actor: the person themself, or a character's creator;
    # None for a remote actor (its server answers for it).
    operator_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True, default=None
    )
    # The server of a remote actor (its details are in `remote_actors`); None when local.
    domain: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Hidden: a private character; it cannot be seen or act in the network.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    avatar_mime: Mapped[str] = mapped_column(String(50), default="")
    header: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    header_mime: Mapped[str] = mapped_column(String(50), default="")
    # People's controls (ignored for characters).
    show_ai: Mapped[str] = mapped_column(String(10), default="all")
    accept_ai_replies: Mapped[bool] = mapped_column(Boolean, default=True)
    accept_ai_mentions: Mapped[bool] = mapped_column(Boolean, default=True)
    # Counters kept by atomic UPDATEs so profiles never count rows.
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    posts_count: Mapped[int] = mapped_column(Integer, default=0)
    # Integer key of the actor in the SQLite full-text index (FTS5 rows need integer ids).
    search_key: Mapped[int] = mapped_column(BigInteger, unique=True)
    # Digests of what the handle and display name look like (UTS #39 skeleton, any case),
    # kept by the events below, so a look-alike of anyone's name is one indexed lookup
    # away (lookalikes.py).
    handle_skeleton: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    name_skeleton: Mapped[str | None] = mapped_column(String(32), index=True, default=None)


@event.listens_for(Actor, "before_insert")
@event.listens_for(Actor, "before_update")
def _keep_name_skeletons(_mapper: Any, _connection: Any, actor: Actor) -> None:
    """Recompute the look-alike digests whenever the handle or display name changes."""
    state = inspect(actor)
    if state.attrs.handle.history.has_changes():
        actor.handle_skeleton = lookalike_digest(actor.handle or "")
    if state.attrs.display_name.history.has_changes():
        actor.name_skeleton = lookalike_digest(actor.display_name or "")


class Post(IdMixin, Base):
    """A post, reply, repost (no text, `repost_of_id` set) or quote."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_author_id_id", "author_id", "id"),
        Index("ix_posts_visibility_is_reply_id", "visibility", "is_reply", "id"),
        Index("ix_posts_in_reply_to_id_id", "in_reply_to_id", "id"),
        Index("ix_posts_root_id_id", "root_id", "id"),
        # One repost per actor and post (NULLs are distinct, so plain posts are unaffected).
        UniqueConstraint("repost_of_id", "author_id"),
    )

    author_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_warning: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    visibility: Mapped[str] = mapped_column(String(10), default="public")
    is_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    in_reply_to_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), default=None
    )
    reply_to_author_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The first post of the thread (kept as a plain id: the root may be deleted).
    root_id: Mapped[str] = mapped_column(String(32))
    repost_of_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), default=None
    )
    quote_of_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), default=None, index=True
    )
    # Who wrote the words shown: the author, or for a repost the original's author.
    origin_author_id: Mapped[str] = mapped_column(String(32), index=True)
    author_is_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    origin_is_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    likes_count: Mapped[int] = mapped_column(Integer, default=0)
    reposts_count: Mapped[int] = mapped_column(Integer, default=0)
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    quotes_count: Mapped[int] = mapped_column(Integer, default=0)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    search_key: Mapped[int] = mapped_column(BigInteger, unique=True)
    # A remote post's ActivityPub id and its web page; None for posts written here.
    uri: Mapped[str | None] = mapped_column(String(500), unique=True, index=True, default=None)
    url: Mapped[str | None] = mapped_column(String(500), default=None)


class PostEdit(IdMixin, Base):
    """A post's earlier text, kept when it is edited."""

    __tablename__ = "post_edits"

    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    content_warning: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(16), default="")


class PostMention(Base):
    """An actor a post addresses: @mentioned, or the author of the post it replies to."""

    __tablename__ = "post_mentions"
    __table_args__ = (Index("ix_post_mentions_actor_id_post_id", "actor_id", "post_id"),)

    post_id: Mapped[str] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    actor_id: Mapped[str] = mapped_column(
        ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True
    )


class PostTag(Base):
    """A hashtag on a post (lower-cased)."""

    __tablename__ = "post_tags"
    __table_args__ = (Index("ix_post_tags_post_id", "post_id"),)

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    post_id: Mapped[str] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )


class Like(IdMixin, Base):
    """An actor likes a post."""

    __tablename__ = "likes"
    __table_args__ = (
        UniqueConstraint("post_id", "actor_id"),
        Index("ix_likes_actor_id_id", "actor_id", "id"),
    )

    post_id: Mapped[str] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))


class Follow(IdMixin, Base):
    """`follower` follows `followee`; pending until a locked followee accepts."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("follower_id", "followee_id"),
        Index("ix_follows_followee_id_follower_id", "followee_id", "follower_id"),
    )

    follower_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    followee_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="accepted")  # accepted | pending
    # The ActivityPub Follow's id when a remote actor is on either side (Accept, Undo and
    # Reject name it).
    uri: Mapped[str | None] = mapped_column(String(500), default=None)


class Block(IdMixin, Base):
    """`blocker` blocks `blocked`: neither sees the other, the blocked cannot act on the blocker."""

    __tablename__ = "blocks"
    __table_args__ = (
        UniqueConstraint("blocker_id", "blocked_id"),
        Index("ix_blocks_blocked_id_blocker_id", "blocked_id", "blocker_id"),
    )

    blocker_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    blocked_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))


class Mute(IdMixin, Base):
    """`muter` no longer sees `muted` in timelines, search or notifications (silently)."""

    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("muter_id", "muted_id"),)

    muter_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    muted_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))


class Notification(IdMixin, Base):
    """Something happened to `recipient`: mention, reply, like, repost, quote, follow ..."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient_id_id", "recipient_id", "id"),)

    recipient_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), default=None, index=True
    )
    read: Mapped[bool] = mapped_column(Boolean, default=False)


class Report(IdMixin, Base):
    """A report to the admins about an actor or one of its posts."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status_id", "status", "id"),)

    reporter_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    target_id: Mapped[str] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[str | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), default=None
    )
    # The reported text as it was, so deleting the post does not erase the evidence.
    post_text: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | resolved | dismissed
    resolved_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
