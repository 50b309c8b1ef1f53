"""Chat API: conversations, streamed replies, swipes, edits, branches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from personae.characters.models import Character
from personae.chat import service
from personae.chat.events import ReplyDone, ReplyError
from personae.chat.generation import plan_reply
from personae.deps import DB, CurrentAccount, State
from personae.errors import DomainError, NotFound
from personae.sse import sse_response

router = APIRouter(prefix="/api/v1", tags=["chat"])
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


async def _conversation_out(db: DB, conversation: Any) -> dict[str, Any]:
    character = await db.get(Character, conversation.character_id)
    if character is None:
        raise NotFound("the character of this conversation no longer exists")
    out = service.conversation_out(conversation, character)
    out["messages"] = await service.visible_history(db, conversation)
    return out


@router.post("/conversations", status_code=201)
async def open_conversation(
    body: ConversationIn, account: CurrentAccount, db: DB
) -> dict[str, Any]:
    """Start a chat; the character's greetings are its first message and swipes."""
    conversation = await service.open_conversation(
        db, account, body.character, body.persona_id, body.title
    )
    return await _conversation_out(db, conversation)


@router.get("/conversations")
async def list_conversations(
    account: CurrentAccount,
    db: DB,
    character_id: str | None = Query(default=None, max_length=32),
    limit: int = Query(default=50, ge=1, le=200),
    before: str | None = Query(default=None, max_length=32),
) -> list[dict[str, Any]]:
    """The caller's conversations, most recent first."""
    rows = await service.list_conversations(db, account, character_id, limit, before)
    out = []
    for conversation in rows:
        character = await db.get(Character, conversation.character_id)
        if character is not None:
            out.append(service.conversation_out(conversation, character))
    return out


@router.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, account: CurrentAccount, db: DB) -> dict[str, Any]:
    """A conversation with the messages of its shown branch."""
    conversation = await service.get_conversation(db, account, conversation_id)
    return await _conversation_out(db, conversation)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, account: CurrentAccount, db: DB) -> None:
    """Delete a conversation."""
    await service.delete_conversation(db, account, conversation_id)


async def _respond(
    state: State,
    db: DB,
    account: CurrentAccount,
    conversation_id: str,
    content: str | None,
    parent_id: str | None,
    stream: bool,
) -> Any:
    plan = await plan_reply(
        db,
        account,
        state.backends,
        conversation_id,
        content,
        parent_id,
        state.settings.max_message_chars,
        state.settings.reply_max_tokens,
    )
    events = state.replies.stream(plan)
    if stream:
        return sse_response(events)
    async for event in events:
        if isinstance(event, ReplyDone):
            return {"message": event.message, "usage": event.usage}
        if isinstance(event, ReplyError):
            raise _generation_failed(event)
    raise DomainError("the reply ended without a result", "internal")


def _generation_failed(event: ReplyError) -> DomainError:
    error = DomainError(event.message, event.code)
    error.status_code = 422 if event.code == "backend_context_overflow" else 502
    if event.code == "backend_timeout":
        error.status_code = 504
    return error


@router.post("/conversations/{conversation_id}/messages")
async def send_message(
    conversation_id: str, body: MessageIn, account: CurrentAccount, db: DB, state: State
) -> Any:
    """Send a message and get the reply, streamed as SSE (`start`, `token`..., `done`|`error`)."""
    return await _respond(
        state, db, account, conversation_id, body.content, body.parent_id, body.stream
    )


@router.post("/conversations/{conversation_id}/messages/{message_id}/regenerate")
async def regenerate(
    conversation_id: str,
    message_id: str,
    account: CurrentAccount,
    db: DB,
    state: State,
    body: RegenerateIn | None = None,
) -> Any:
    """A new reply beside an assistant message (a swipe), or under a user message."""
    _, message = await service.get_message(db, account, conversation_id, message_id)
    if message.role == "assistant":
        if message.parent_id is None:
            raise DomainError("a greeting is swiped, not regenerated", "is_greeting")
        parent_id = message.parent_id
    else:
        parent_id = message.id
    stream = body.stream if body else True
    return await _respond(state, db, account, conversation_id, None, parent_id, stream)


@router.patch("/conversations/{conversation_id}/messages/{message_id}")
async def edit_message(
    conversation_id: str,
    message_id: str,
    body: MessageEdit,
    account: CurrentAccount,
    db: DB,
    state: State,
) -> dict[str, Any]:
    """Change a message's text."""
    message = await service.edit_message(
        db, account, conversation_id, message_id, body.content, state.settings.max_message_chars
    )
    return service.message_out(message)


@router.delete("/conversations/{conversation_id}/messages/{message_id}")
async def delete_message(
    conversation_id: str, message_id: str, account: CurrentAccount, db: DB
) -> dict[str, Any]:
    """Delete a message and its replies; returns the conversation as now shown."""
    conversation = await service.delete_message(db, account, conversation_id, message_id)
    return await _conversation_out(db, conversation)


@router.post("/conversations/{conversation_id}/messages/{message_id}/select")
async def select_message(
    conversation_id: str, message_id: str, account: CurrentAccount, db: DB
) -> dict[str, Any]:
    """Show the branch through this message (switch swipes or branches)."""
    conversation = await service.select_message(db, account, conversation_id, message_id)
    return await _conversation_out(db, conversation)


@router.post("/conversations/{conversation_id}/branch", status_code=201)
async def branch(
    conversation_id: str, body: BranchIn, account: CurrentAccount, db: DB
) -> dict[str, Any]:
    """A new conversation that copies the history up to a message."""
    conversation = await service.branch_conversation(db, account, conversation_id, body.message_id)
    return await _conversation_out(db, conversation)
