"""Conversations and their message trees: open, read, edit, delete, switch, branch."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.accounts.service import default_persona, get_persona
from personae.characters.models import Character
from personae.characters.prompting import macro_context, render
from personae.characters.service import get_character
from personae.chat import participants
from personae.chat.access import blocked_for, chattable, require_chat
from personae.chat.formatting import message_html
from personae.chat.models import (
    CHARACTER,
    CHAT,
    SCENE,
    TEST,
    Conversation,
    ConversationParticipant,
    Message,
)
from personae.db import new_id, utcnow
from personae.errors import Invalid, NotFound

MAX_TITLE = 200


async def open_conversation(
    session: AsyncSession,
    account: Account,
    character_ref: str,
    persona_id: str | None = None,
    title: str = "",
    kind: str = CHAT,
) -> Conversation:
    """Start a chat with a visible character; its greetings become sibling first messages."""
    character = await get_character(session, account, character_ref)
    await require_chat(session, account, character, f"no character '{character_ref}'")
    persona = (
        await get_persona(session, account, persona_id)
        if persona_id
        else await default_persona(session, account)
    )
    if len(title) > MAX_TITLE:
        raise Invalid(f"title is longer than {MAX_TITLE} characters", "field_too_long")
    conversation = Conversation(
        id=new_id(),
        owner_id=account.id,
        title=title or f"Chat with {character.name}"[:MAX_TITLE],
        kind=kind,
    )
    person, cast = participants.one_to_one(conversation.id, account.id, persona.id, character.id)
    session.add_all([conversation, person, cast])
    await session.flush()
    ctx = macro_context(character, persona.name, conversation.id)
    greetings = [character.first_mes, *character.alternate_greetings]
    first: Message | None = None
    for text in greetings:
        if not isinstance(text, str) or not text.strip():
            continue
        message = Message(
            conversation_id=conversation.id,
            role="assistant",
            participant_id=cast.id,
            content=render(text, ctx),
            is_greeting=True,
        )
        session.add(message)
        await session.flush()
        first = first or message
    conversation.active_leaf_id = first.id if first else None
    await session.flush()
    return conversation


async def get_conversation(
    session: AsyncSession, account: Account, conversation_id: str, *, usable: bool = True
) -> Conversation:
    """One of the caller's conversations (404 for anyone else's).

    While the caller may no longer chat with its character (it went private, or a block
    came between them) the conversation is a 404 too, unless `usable=False`: deleting it
    stays possible, since what they said there is theirs.
    """
    row = (
        await session.execute(
            select(Conversation, Character)
            .join(
                ConversationParticipant,
                (ConversationParticipant.conversation_id == Conversation.id)
                & (ConversationParticipant.kind == CHARACTER),
            )
            .join(Character, Character.id == ConversationParticipant.character_id)
            .where(
                Conversation.id == conversation_id,
                Conversation.owner_id == account.id,
                Conversation.kind != SCENE,  # scenes are read through personae/scenes
            )
        )
    ).first()
    if row is None:
        raise NotFound("no such conversation")
    conversation, character = row
    if usable:
        await require_chat(session, account, character)
    return conversation


async def list_conversations(
    session: AsyncSession,
    account: Account,
    character_id: str | None = None,
    limit: int = 50,
    before: str | None = None,
    kind: str = CHAT,
) -> list[Conversation]:
    """The caller's conversations of a kind (chats, not the studio's tests), newest first."""
    blocked = await blocked_for(session, account)
    # One-to-one conversations: one character participant each, so one row each.
    stmt = (
        select(Conversation)
        .join(
            ConversationParticipant,
            (ConversationParticipant.conversation_id == Conversation.id)
            & (ConversationParticipant.kind == CHARACTER),
        )
        .join(Character, Character.id == ConversationParticipant.character_id)
        .where(
            Conversation.owner_id == account.id,
            Conversation.kind == kind,
            chattable(account, blocked),
        )
    )
    if character_id:
        stmt = stmt.where(ConversationParticipant.character_id == character_id)
    if before:
        anchor = await session.get(Conversation, before)
        if anchor is not None:
            stmt = stmt.where(Conversation.updated_at < anchor.updated_at)
    stmt = stmt.order_by(Conversation.updated_at.desc()).limit(max(1, min(limit, 200)))
    return list(await session.scalars(stmt))


async def test_conversation(
    session: AsyncSession, account: Account, character_id: str, title: str, *, fresh: bool = False
) -> Conversation:
    """The caller's one test chat with a character (the studio's): reused, else opened.

    `fresh` deletes the old one first (start over). Never listed among the chats.
    """
    found = await list_conversations(session, account, character_id, limit=200, kind=TEST)
    if found and not fresh:
        return found[0]
    for old in found:
        await session.delete(old)
    await session.flush()
    return await open_conversation(session, account, character_id, title=title, kind=TEST)


async def delete_conversation(
    session: AsyncSession, account: Account, conversation_id: str
) -> None:
    """Delete a conversation and all its messages (also one the caller can no longer use)."""
    conversation = await get_conversation(session, account, conversation_id, usable=False)
    await session.delete(conversation)
    await session.flush()


async def rename_conversation(
    session: AsyncSession, account: Account, conversation_id: str, title: str
) -> Conversation:
    """Give one of the caller's conversations a new title."""
    title = " ".join(title.split())
    if not title:
        raise Invalid("a title must not be empty", "empty_title")
    if len(title) > MAX_TITLE:
        raise Invalid(f"title is longer than {MAX_TITLE} characters", "field_too_long")
    conversation = await get_conversation(session, account, conversation_id)
    conversation.title = title
    await session.flush()
    return conversation


async def set_persona(
    session: AsyncSession, account: Account, conversation_id: str, persona_id: str
) -> Conversation:
    """Choose which of the caller's personas speaks in a conversation (from the next turn)."""
    conversation = await get_conversation(session, account, conversation_id)
    persona = await get_persona(session, account, persona_id)
    person = await participants.person_of(session, conversation)
    if person is None:
        raise NotFound("no such conversation")
    person.persona_id = persona.id
    await session.flush()
    return conversation


async def shown_leaves(
    session: AsyncSession, conversations: list[Conversation]
) -> dict[str, Message]:
    """The last shown message of each conversation (for previews), by conversation id."""
    ids = [c.active_leaf_id for c in conversations if c.active_leaf_id]
    if not ids:
        return {}
    rows = await session.scalars(select(Message).where(Message.id.in_(ids)))
    return {m.conversation_id: m for m in rows}


async def all_messages(session: AsyncSession, conversation_id: str) -> list[Message]:
    """Every message of a conversation in creation order."""
    rows = await session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id)
    )
    return list(rows)


def path_to(messages: list[Message], leaf_id: str | None) -> list[Message]:
    """Messages from the root down to `leaf_id` (the visible history)."""
    by_id = {m.id: m for m in messages}
    path: list[Message] = []
    current = by_id.get(leaf_id) if leaf_id else None
    while current is not None:
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def latest_leaf(messages: list[Message], start: Message) -> Message:
    """Follow the newest child from `start` down to a leaf (where a switch lands)."""
    children: dict[str | None, list[Message]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m)
    current = start
    while children.get(current.id):
        current = children[current.id][-1]
    return current


def siblings_of(messages: list[Message], message: Message) -> list[Message]:
    """Messages sharing `message`'s parent (its swipes), oldest first."""
    return [m for m in messages if m.parent_id == message.parent_id]


async def get_message(
    session: AsyncSession, account: Account, conversation_id: str, message_id: str
) -> tuple[Conversation, Message]:
    """A message of one of the caller's conversations."""
    conversation = await get_conversation(session, account, conversation_id)
    message = await session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound("no such message")
    return conversation, message


async def select_message(
    session: AsyncSession, account: Account, conversation_id: str, message_id: str
) -> Conversation:
    """Show the branch through `message_id` (a swipe or branch switch)."""
    conversation, message = await get_message(session, account, conversation_id, message_id)
    messages = await all_messages(session, conversation.id)
    conversation.active_leaf_id = latest_leaf(messages, message).id
    await session.flush()
    return conversation


async def edit_message(
    session: AsyncSession,
    account: Account,
    conversation_id: str,
    message_id: str,
    content: str,
    max_chars: int,
) -> Message:
    """Change a message's text in place."""
    if not content.strip():
        raise Invalid("content must not be empty", "empty_message")
    if len(content) > max_chars:
        raise Invalid(f"content is longer than {max_chars} characters", "field_too_long")
    conversation, message = await get_message(session, account, conversation_id, message_id)
    message.content = content
    message.edited_at = utcnow()
    conversation.updated_at = utcnow()
    await session.flush()
    return message


async def delete_message(
    session: AsyncSession, account: Account, conversation_id: str, message_id: str
) -> Conversation:
    """Delete a message and everything below it; the view moves to a sibling or the parent."""
    conversation, message = await get_message(session, account, conversation_id, message_id)
    messages = await all_messages(session, conversation.id)
    doomed = {message.id}
    changed = True
    while changed:
        changed = False
        for m in messages:
            if m.parent_id in doomed and m.id not in doomed:
                doomed.add(m.id)
                changed = True
    if conversation.active_leaf_id in doomed or conversation.active_leaf_id is None:
        remaining = [m for m in messages if m.id not in doomed]
        siblings = [m for m in remaining if m.parent_id == message.parent_id]
        if siblings:
            conversation.active_leaf_id = latest_leaf(remaining, siblings[-1]).id
        else:
            conversation.active_leaf_id = message.parent_id
    # Delete leaves first so the self-referencing foreign key is never violated.
    for m in sorted(
        (m for m in messages if m.id in doomed), key=lambda m: m.created_at, reverse=True
    ):
        await session.delete(m)
        await session.flush()
    return conversation


async def branch_conversation(
    session: AsyncSession, account: Account, conversation_id: str, message_id: str
) -> Conversation:
    """A new conversation holding a copy of the path up to `message_id`."""
    conversation, message = await get_message(session, account, conversation_id, message_id)
    messages = await all_messages(session, conversation.id)
    path = path_to(messages, message.id)
    copy = Conversation(
        id=new_id(),
        owner_id=account.id,
        title=f"{conversation.title} (branch)"[:MAX_TITLE],
    )
    session.add(copy)
    # The same people and characters take part, as participants of the copy.
    same: dict[str, str] = {}
    for original_participant in await participants.participants_of(session, conversation.id):
        twin = ConversationParticipant(
            id=new_id(),
            conversation_id=copy.id,
            kind=original_participant.kind,
            role=original_participant.role,
            account_id=original_participant.account_id,
            persona_id=original_participant.persona_id,
            character_id=original_participant.character_id,
            position=original_participant.position,
        )
        same[original_participant.id] = twin.id
        session.add(twin)
    await session.flush()
    parent: str | None = None
    columns = [c.key for c in Message.__table__.columns]
    for original in path:
        values: dict[str, Any] = {
            k: getattr(original, k)
            for k in columns
            if k not in ("id", "conversation_id", "parent_id", "participant_id")
        }
        speaker = same.get(original.participant_id) if original.participant_id else None
        clone = Message(**values, conversation_id=copy.id, parent_id=parent, participant_id=speaker)
        session.add(clone)
        await session.flush()
        parent = clone.id
    copy.active_leaf_id = parent
    await session.flush()
    return copy


async def message_count(session: AsyncSession, conversation_id: str) -> int:
    """How many messages a conversation holds (all branches)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation_id)
        )
        or 0
    )


def message_out(message: Message, siblings: list[Message] | None = None) -> dict[str, Any]:
    """The API representation of a message (with swipe position when siblings are given)."""
    out: dict[str, Any] = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.content,
        "html": message_html(message.content),
        "is_greeting": message.is_greeting,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "generation": None,
    }
    if message.backend is not None:
        out["generation"] = {
            "backend": message.backend,
            "model": message.model,
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "cached_tokens": message.cached_tokens,
            "ttft_ms": message.ttft_ms,
            "duration_ms": message.duration_ms,
            "finish_reason": message.finish_reason,
        }
    if siblings is not None:
        ids = [s.id for s in siblings]
        out["swipe_index"] = ids.index(message.id)
        out["swipe_count"] = len(ids)
        out["sibling_ids"] = ids
    return out


def conversation_out(
    conversation: Conversation, character: Character, persona_id: str | None
) -> dict[str, Any]:
    """The API representation of a conversation (without its messages)."""
    return {
        "id": conversation.id,
        "title": conversation.title,
        "character": {"id": character.id, "handle": character.handle, "name": character.name},
        "persona_id": persona_id,
        "active_leaf_id": conversation.active_leaf_id,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


async def visible_history(
    session: AsyncSession, conversation: Conversation
) -> list[dict[str, Any]]:
    """The messages on the active branch, each with its swipe position."""
    messages = await all_messages(session, conversation.id)
    return [
        message_out(m, siblings_of(messages, m))
        for m in path_to(messages, conversation.active_leaf_id)
    ]
