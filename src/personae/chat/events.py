"""Typed events a reply yields while it is generated; only HTTP turns them into SSE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReplyStarted:
    """The user's message is saved (if there was one) and generation has begun."""

    conversation_id: str
    user_message_id: str | None
    parent_id: str | None


@dataclass(frozen=True)
class ReplyToken:
    """A piece of the reply's text."""

    text: str


@dataclass(frozen=True)
class ReplyDone:
    """The reply is complete and saved."""

    message: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyError:
    """Generation failed; nothing of the reply was saved."""

    code: str
    message: str


ChatEvent = ReplyStarted | ReplyToken | ReplyDone | ReplyError


def event_name(event: ChatEvent) -> str:
    """The SSE event name for an event."""
    return {
        ReplyStarted: "start",
        ReplyToken: "token",
        ReplyDone: "done",
        ReplyError: "error",
    }[type(event)]
