"""Chat API: conversations, streamed replies, swipes, edits, branches."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from personae.accounts.models import Account
from personae.chat import participants, service
from personae.chat.events import ReplyDone, ReplyError
from personae.chat.generation import ReplyPlan, plan_continue, plan_reply
from personae.chat.models import Conversation
from personae.chat.schemas import (
    BranchIn,
    ConversationIn,
    ConversationOut,
    ConversationShown,
    MessageEdit,
    MessageIn,
    MessageOut,
    RegenerateIn,
    ReplyOut,
    StopOut,
)
from personae.db import transaction
from personae.deps import BEARER, DB, CurrentAccount, State, current_account, optional_account
from personae.errors import DomainError, NotFound
from personae.sse import sse_response

router = APIRouter(prefix="/api/v1", tags=["chat"])


async def _conversation_out(db: AsyncSession, conversation: Conversation) -> ConversationShown:
    pairing = await participants.pairing_of(db, conversation)
    if pairing is None:
        raise NotFound("the character of this conversation no longer exists")
    out = service.conversation_out(conversation, pairing.character, pairing.persona_id)
    out["messages"] = await service.visible_history(db, conversation)
    return ConversationShown.model_validate(out)


async def replying_account(
    request: Request,
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Account:
    """The caller, authenticated in a unit of work of its own, committed at once.

    Routes that start a reply own their transactions: the user's message is committed
    before the reply's task starts (which saves the reply in a transaction of its own),
    and no request-long transaction may hold the database meanwhile (SQLite has one
    writer: the reply's save would wait on it).
    """
    async with transaction(state.sessions) as session:
        return await current_account(await optional_account(request, session, bearer))


ReplyingAccount = Annotated[Account, Depends(replying_account)]


@router.post("/conversations", status_code=201)
async def open_conversation(
    body: ConversationIn, account: CurrentAccount, db: DB
) -> ConversationShown:
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
    kind: Literal["chat", "test"] = "chat",
) -> list[ConversationOut]:
    """The caller's conversations, most recent first (`kind=test`: the studio's test chats)."""
    rows = await service.list_conversations(db, account, character_id, limit, before, kind)
    found = await participants.pairings(db, rows)
    return [
        ConversationOut.model_validate(
            service.conversation_out(c, found[c.id].character, found[c.id].persona_id)
        )
        for c in rows
        if c.id in found
    ]


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: str, account: CurrentAccount, db: DB
) -> ConversationShown:
    """A conversation with the messages of its shown branch."""
    conversation = await service.get_conversation(db, account, conversation_id)
    return await _conversation_out(db, conversation)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, account: CurrentAccount, db: DB) -> None:
    """Delete a conversation."""
    await service.delete_conversation(db, account, conversation_id)


async def _respond(state: State, plan: ReplyPlan, stream: bool) -> Response | ReplyOut:
    """Start the planned reply (its user message is committed) and stream or await it."""
    events = state.replies.stream(plan)
    if stream:
        return sse_response(events)
    async for event in events:
        if isinstance(event, ReplyDone):
            return ReplyOut.model_validate({"message": event.message, "usage": event.usage})
        if isinstance(event, ReplyError):
            raise _generation_failed(event)
    raise DomainError("the reply ended without a result", "internal")


def _generation_failed(event: ReplyError) -> DomainError:
    error = DomainError(event.message, event.code)
    error.status_code = 422 if event.code == "backend_context_overflow" else 502
    if event.code == "backend_timeout":
        error.status_code = 504
    return error


# `stream` (the default) answers with SSE; `stream: false` with the saved reply as JSON.
REPLY_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The reply: SSE events, or with `stream: false` the saved reply.",
        "content": {"text/event-stream": {}},
    }
}


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=ReplyOut,
    responses=REPLY_RESPONSES,
)
async def send_message(
    conversation_id: str, body: MessageIn, account: ReplyingAccount, state: State
) -> Response | ReplyOut:
    """Send a message and get the reply, streamed as SSE (`start`, `token`..., `done`|`error`)."""
    async with transaction(state.sessions) as session:
        plan = await plan_reply(
            session,
            account,
            state.backends,
            conversation_id,
            body.content,
            body.parent_id,
            state.settings.max_message_chars,
            state.settings.reply_max_tokens,
        )
    return await _respond(state, plan, body.stream)


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/regenerate",
    response_model=ReplyOut,
    responses=REPLY_RESPONSES,
)
async def regenerate(
    conversation_id: str,
    message_id: str,
    account: ReplyingAccount,
    state: State,
    body: RegenerateIn | None = None,
) -> Response | ReplyOut:
    """A new reply beside an assistant message (a swipe), or under a user message."""
    async with transaction(state.sessions) as session:
        _, message = await service.get_message(session, account, conversation_id, message_id)
        if message.role == "assistant":
            if message.parent_id is None:
                raise DomainError("a greeting is swiped, not regenerated", "is_greeting")
            parent_id = message.parent_id
        else:
            parent_id = message.id
        plan = await plan_reply(
            session,
            account,
            state.backends,
            conversation_id,
            None,
            parent_id,
            state.settings.max_message_chars,
            state.settings.reply_max_tokens,
        )
    return await _respond(state, plan, body.stream if body else True)


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/continue",
    response_model=ReplyOut,
    responses=REPLY_RESPONSES,
)
async def continue_message(
    conversation_id: str,
    message_id: str,
    account: ReplyingAccount,
    state: State,
    body: RegenerateIn | None = None,
) -> Response | ReplyOut:
    """More of a reply (one cut by the token limit): the new tokens extend the same message."""
    async with transaction(state.sessions) as session:
        plan = await plan_continue(
            session,
            account,
            state.backends,
            conversation_id,
            message_id,
            state.settings.reply_max_tokens,
        )
    return await _respond(state, plan, body.stream if body else True)


@router.post("/conversations/{conversation_id}/stop")
async def stop_reply(conversation_id: str, account: ReplyingAccount, state: State) -> StopOut:
    """Stop the reply being generated: the backend stops at once, the partial is saved.

    Answers once the generation has ended and what it wrote is saved (finish_reason
    "stopped"); `stopped` is false when no reply was running.
    """
    async with transaction(state.sessions) as session:
        await service.get_conversation(session, account, conversation_id)  # 404 for others
    result = await state.replies.stop(conversation_id)
    return StopOut(stopped=result.stopped, released_ms=result.released_ms, saved_ms=result.saved_ms)


@router.patch("/conversations/{conversation_id}/messages/{message_id}")
async def edit_message(
    conversation_id: str,
    message_id: str,
    body: MessageEdit,
    account: CurrentAccount,
    db: DB,
    state: State,
) -> MessageOut:
    """Change a message's text."""
    message = await service.edit_message(
        db, account, conversation_id, message_id, body.content, state.settings.max_message_chars
    )
    return MessageOut.model_validate(service.message_out(message))


@router.delete("/conversations/{conversation_id}/messages/{message_id}")
async def delete_message(
    conversation_id: str, message_id: str, account: CurrentAccount, db: DB
) -> ConversationShown:
    """Delete a message and its replies; returns the conversation as now shown."""
    conversation = await service.delete_message(db, account, conversation_id, message_id)
    return await _conversation_out(db, conversation)


@router.post("/conversations/{conversation_id}/messages/{message_id}/select")
async def select_message(
    conversation_id: str, message_id: str, account: CurrentAccount, db: DB
) -> ConversationShown:
    """Show the branch through this message (switch swipes or branches)."""
    conversation = await service.select_message(db, account, conversation_id, message_id)
    return await _conversation_out(db, conversation)


@router.post("/conversations/{conversation_id}/branch", status_code=201)
async def branch(
    conversation_id: str, body: BranchIn, account: CurrentAccount, db: DB
) -> ConversationShown:
    """A new conversation that copies the history up to a message."""
    conversation = await service.branch_conversation(db, account, conversation_id, body.message_id)
    return await _conversation_out(db, conversation)
