"""The JSON shapes of the chat API (requests and responses).

Times are strings as `datetime.isoformat` writes them; the fields keep the order the API
has always had, so responses stay the same byte for byte.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class ConversationIn(BaseModel):
    """Open a chat with a character."""

    model_config = ConfigDict(extra="forbid")
    character: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    persona_id: Id | None = None
    title: Annotated[str, StringConstraints(max_length=200)] = ""


class MessageIn(BaseModel):
    """A message to send; `parent_id` branches from an earlier message."""

    model_config = ConfigDict(extra="forbid")
    content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    parent_id: Id | None = None
    stream: bool = True


class RegenerateIn(BaseModel):
    """Options for a regenerated reply."""

    model_config = ConfigDict(extra="forbid")
    stream: bool = True


class MessageEdit(BaseModel):
    """New text for a message."""

    model_config = ConfigDict(extra="forbid")
    content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class BranchIn(BaseModel):
    """Where to branch a new conversation from."""

    model_config = ConfigDict(extra="forbid")
    message_id: Id


class GenerationOut(BaseModel):
    """How an assistant reply was generated (backend, model, tokens, timings)."""

    backend: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    ttft_ms: float | None
    duration_ms: float | None
    finish_reason: str | None  # "stop", "length" (cut: can be continued), "stopped"


class MessageOut(BaseModel):
    """One message of a conversation."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str  # "user" | "assistant"
    content: str
    html: str  # the content as sanitised HTML (chat/formatting.py)
    is_greeting: bool
    created_at: str
    edited_at: str | None
    generation: GenerationOut | None


class ShownMessageOut(MessageOut):
    """A message on the shown branch, with its place among its swipes."""

    swipe_index: int
    swipe_count: int
    sibling_ids: list[str]


class ConversationCharacter(BaseModel):
    """The character a conversation is with."""

    id: str
    handle: str
    name: str


class ConversationOut(BaseModel):
    """A conversation, without its messages (as listed)."""

    id: str
    title: str
    character: ConversationCharacter
    persona_id: str | None
    active_leaf_id: str | None
    created_at: str
    updated_at: str


class ConversationShown(ConversationOut):
    """A conversation with the messages of its shown branch."""

    messages: list[ShownMessageOut]


class UsageOut(BaseModel):
    """What a reply cost: tokens and timings."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    ttft_ms: float | None
    duration_ms: float


class ReplyOut(BaseModel):
    """A reply saved, for a request that asked not to stream (`stream: false`)."""

    message: ShownMessageOut
    usage: UsageOut


class StopOut(BaseModel):
    """What stopping did: whether a reply was running, and how long it took the backend to
    let go of the generation (the model's slot free) and the partial reply to be saved."""

    stopped: bool
    released_ms: float
    saved_ms: float
