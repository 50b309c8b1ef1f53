"""Conversations, who takes part in them, and their messages (a tree, by parent id, for
swipes and branches)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from personae.db import Base, IdMixin, utcnow

# Participant kinds: a person (an account speaking through one of its personas) or a character.
PERSON = "person"
CHARACTER = "character"
# Roles: the person who opened the conversation; a character taking part has role CHARACTER.
OWNER = "owner"
# Conversation kinds: an ordinary chat, or the studio's test chat with a character it edits
# (one per creator and character, kept out of the list of chats).
CHAT = "chat"
TEST = "test"
# A group scene (personae/scenes/): any number of characters and people.
SCENE = "scene"
# A participant's standing: taking part, invited (a person who has not answered yet),
# declined, or gone (left or removed). One-to-one chats only ever have members.
MEMBER = "member"
INVITED = "invited"
DECLINED = "declined"
LEFT = "left"


class Conversation(IdMixin, Base):
    """A chat between participants; one-to-one today (its owner's person and a character)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_owner_kind", "owner_id", "kind"),)

    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    # CHAT | TEST | SCENE
    kind: Mapped[str] = mapped_column(String(10), default=CHAT, server_default=CHAT)
    # The message the conversation currently shows as its last; the path to the root is the
    # visible history. Not a foreign key: messages point at conversations already.
    active_leaf_id: Mapped[str | None] = mapped_column(String(32), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationParticipant(IdMixin, Base):
    """Someone taking part in a conversation: a person (account and persona) or a character."""

    __tablename__ = "conversation_participants"
    __table_args__ = (
        Index(
            "ix_conversation_participants_conversation_position",
            "conversation_id",
            "position",
            unique=True,
        ),
        # Conversations with a character (lists by character, engagement, deletion).
        Index("ix_conversation_participants_character_id", "character_id"),
        Index("ix_conversation_participants_account_id", "account_id"),
    )

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # PERSON | CHARACTER
    role: Mapped[str] = mapped_column(String(20))  # OWNER | CHARACTER
    account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None
    )
    # The persona a person speaks as (None: their default one, found at each turn).
    persona_id: Mapped[str | None] = mapped_column(
        ForeignKey("personas.id", ondelete="SET NULL"), default=None
    )
    character_id: Mapped[str | None] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), default=None
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Scenes: MEMBER | INVITED | DECLINED | LEFT; muted characters stay but never speak;
    # talkativeness (0-1) weighs natural turn-taking; `backend` overrides the character's
    # own in this conversation (None: its own).
    status: Mapped[str] = mapped_column(String(10), default=MEMBER, server_default=MEMBER)
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    talkativeness: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    backend: Mapped[str | None] = mapped_column(String(100), default=None)
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    # Who invited this person into a scene (an account id, shown with the invitation; not
    # a foreign key, so adding it needs no table rebuild on SQLite: a deleted inviter's id
    # simply finds nobody).
    invited_by: Mapped[str | None] = mapped_column(String(32), default=None)


class Message(IdMixin, Base):
    """One turn. Siblings (same parent) are swipes or branches."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_parent", "conversation_id", "parent_id"),)

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), default=None
    )
    role: Mapped[str] = mapped_column(String(10))  # "user" | "assistant"
    # Who spoke: the person for "user" turns, the character for "assistant" ones.
    participant_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversation_participants.id", ondelete="SET NULL"), default=None
    )
    content: Mapped[str] = mapped_column(Text)
    is_greeting: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    # Generation record (assistant replies only).
    backend: Mapped[str | None] = mapped_column(String(100), default=None)
    model: Mapped[str | None] = mapped_column(String(300), default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    cached_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    ttft_ms: Mapped[float | None] = mapped_column(Float, default=None)
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    finish_reason: Mapped[str | None] = mapped_column(String(30), default=None)
    # Scenes: why this character spoke ("mentioned", "roll 0.31 < 0.50", "pool" ...).
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
