"""Planning replies (a new one, a swipe, a continuation) in the request, and saving them.

chat/runner.py runs a planned reply in a task of its own and calls `save_reply` at its end.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.accounts.models import Account
from personae.accounts.service import default_persona
from personae.characters.lorebooks import list_entries
from personae.characters.models import Character, CharacterLorebook, Lorebook
from personae.characters.prompting import definition_of, generation_params, macro_context
from personae.chat.access import require_chat
from personae.chat.lore import DEFAULT_SCAN_DEPTH, DEFAULT_TOKEN_BUDGET, LoreEntry
from personae.chat.models import Conversation, Message
from personae.chat.participants import pairing_select
from personae.chat.prompt import AssembledPrompt, LoreSettings, Turn, assemble
from personae.chat.service import (
    all_messages,
    message_out,
    path_to,
    siblings_of,
)
from personae.db import new_id, transaction, utcnow
from personae.errors import Invalid, NotFound
from personae.llm.base import (
    Backend,
    ChatMessage,
    DoneEvent,
    GenerationParams,
)
from personae.llm.registry import BackendRegistry
from personae.memory.importance import heuristic_importance
from personae.memory.stream import recall, remember

log = logging.getLogger(__name__)
# What a character remembers of a chat turn: enough to recognise it, not a transcript.
MEMORY_TURN_CHARS = 300
# Memories of the person from elsewhere (the network, other chats) shown in a chat.
OUTSIDE_MEMORIES = 3


@dataclass
class ReplyPlan:
    """Everything a reply needs, computed while the request's session is open."""

    conversation_id: str
    parent_id: str
    user_message_id: str | None
    backend: Backend
    messages: list[Any]
    params: GenerationParams
    # For the memories the saved reply leaves: who is chatting (their person actor's id,
    # which is their account id, and the name the chat calls them) and, when this turn
    # added a user message, what they said (a regenerated reply does not repeat it).
    character_id: str = ""
    person_id: str = ""
    person_name: str = ""
    user_text: str | None = None
    # Who speaks: the person's participant (the user message), the character's (the reply).
    person_participant_id: str | None = None
    character_participant_id: str | None = None
    # Continue: the assistant message whose text the new tokens extend (None: a new reply).
    continue_id: str | None = None
    owner_id: str = ""


async def lore_for(
    session: AsyncSession, character: Character
) -> tuple[list[LoreEntry], LoreSettings]:
    """The entries of every lorebook a character uses, and the activation settings."""
    rows = (
        await session.execute(
            select(Lorebook, CharacterLorebook.is_primary)
            .join(CharacterLorebook, CharacterLorebook.lorebook_id == Lorebook.id)
            .where(CharacterLorebook.character_id == character.id)
            .order_by(CharacterLorebook.is_primary.desc(), Lorebook.id)
        )
    ).all()
    if not rows:
        return [], LoreSettings()
    return await book_lore([book for book, _ in rows], session)


def lore_settings(primary: Lorebook) -> LoreSettings:
    """A lorebook's activation settings, the defaults where it sets none."""
    return LoreSettings(
        scan_depth=primary.scan_depth or DEFAULT_SCAN_DEPTH,
        token_budget=primary.token_budget or DEFAULT_TOKEN_BUDGET,
        recursive=bool(primary.recursive_scanning),
    )


async def book_lore(
    books: Sequence[Lorebook], session: AsyncSession
) -> tuple[list[LoreEntry], LoreSettings]:
    """The entries of `books` as prompt assembly takes them; settings from the first."""
    entries = [
        LoreEntry(
            id=e.id,
            keys=tuple(str(k) for k in e.keys),
            secondary_keys=tuple(str(k) for k in e.secondary_keys),
            content=e.content,
            enabled=e.enabled,
            constant=e.constant,
            selective=e.selective,
            case_sensitive=e.case_sensitive,
            use_regex=e.use_regex,
            insertion_order=e.insertion_order,
            priority=e.priority,
            position=e.position,
        )
        for e in await list_entries(session, [book.id for book in books])
    ]
    return entries, lore_settings(books[0])


async def build_prompt(
    session: AsyncSession,
    character: Character,
    persona_name: str,
    persona_description: str,
    history: Sequence[Turn],
    backend: Backend,
    reply_tokens: int,
    seed: str,
    extra_system: str = "",
    *,
    memory_note: str = "",
) -> AssembledPrompt:
    """Assemble the messages for a character's next reply to `history`.

    `memory_note` (what the character remembers of the person from elsewhere) goes in a
    system message just before the newest user turn.
    """
    lore, lore_settings = await lore_for(session, character)
    ctx = macro_context(character, persona_name, seed)
    note: ChatMessage | None = None
    if memory_note.strip():
        note = {"role": "system", "content": memory_note.strip()}
        # The note must fit too: leave room for it as if it were part of the reply.
        reply_tokens += await backend.count_message_tokens([note])
    prompt = await assemble(
        definition_of(character),
        persona_name,
        persona_description,
        history,
        lore,
        lore_settings,
        ctx,
        backend.capabilities.context_window,
        reply_tokens,
        backend.count_message_tokens,
        extra_system,
    )
    if note is None:
        return prompt
    # Just before the newest user turn, not beside the definition: the definition and the
    # history stay a cached prefix, and only the last turn (which the backend reads anew
    # anyway) follows the note. Next turn the note has moved on, so the cache loses one
    # user turn, never the whole history.
    messages = list(prompt.messages)
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last_user is None:
        return prompt
    messages.insert(last_user, note)
    return AssembledPrompt(messages, prompt.history_kept, prompt.history_total, prompt.lore_ids)


async def outside_memories_note(
    session: AsyncSession,
    character: Character,
    person_id: str,
    person_name: str,
    conversation_id: str,
    query: str,
) -> str:
    """A note of what the character remembers about the person from outside this chat."""
    # Only memories about this person (a chat must never surface what someone else told
    # the character), and none from this conversation (its history is in the prompt).
    memories = await recall(
        session,
        character.id,
        query,
        audience=person_id,  # a private chat: theirs may come back, nobody else's
        about_actor_id=person_id,
        limit=OUTSIDE_MEMORIES,
        only_about=True,
        exclude_source_id=conversation_id,
    )
    if not memories:
        return ""
    lines = "\n".join(f"- {m.text}" for m in memories)
    return f"What {character.name} remembers about {person_name} from elsewhere:\n{lines}"


async def plan_reply(
    session: AsyncSession,
    account: Account,
    registry: BackendRegistry,
    conversation_id: str,
    content: str | None,
    parent_id: str | None,
    max_message_chars: int,
    reply_max_tokens: int,
) -> ReplyPlan:
    """Save the user's message (when there is one) and plan the reply under it.

    With `content`, the message is added under `parent_id` (default: the shown leaf), which
    makes a branch when that is not the leaf. Without it, a new reply is generated under
    `parent_id`, which must be a user message: this is regenerate (a new swipe).
    """
    # One query for the conversation, its character, participants and persona: this is the
    # hot path.
    row = (
        await session.execute(
            pairing_select().where(
                Conversation.id == conversation_id, Conversation.owner_id == account.id
            )
        )
    ).first()
    if row is None:
        raise NotFound("no such conversation")
    conversation, character, cast, person, chosen_persona = row
    # Every turn, not only the first: the character may have gone private since, or a
    # block come between the person and its operator.
    await require_chat(session, account, character)
    backend = registry.get(character.backend)
    messages = await all_messages(session, conversation.id)
    by_id = {m.id: m for m in messages}
    user_message_id: str | None = None
    if content is not None:
        if not content.strip():
            raise Invalid("content must not be empty", "empty_message")
        if len(content) > max_message_chars:
            raise Invalid(
                f"content is longer than {max_message_chars} characters", "field_too_long"
            )
        anchor = parent_id if parent_id is not None else conversation.active_leaf_id
        if anchor is not None and anchor not in by_id:
            raise NotFound("no such parent message in this conversation")
        user_message = Message(
            id=new_id(),
            conversation_id=conversation.id,
            parent_id=anchor,
            role="user",
            participant_id=person.id if person is not None else None,
            content=content,
            created_at=utcnow(),
        )
        session.add(user_message)  # flushed with the caller's commit: one round trip fewer
        messages.append(user_message)
        reply_parent = user_message.id
        user_message_id = user_message.id
    else:
        if parent_id is None or parent_id not in by_id:
            raise NotFound("no such parent message in this conversation")
        if by_id[parent_id].role != "user":
            raise Invalid("a reply is generated under a user message", "not_a_user_message")
        reply_parent = parent_id
    persona = chosen_persona or await default_persona(session, account)
    history = [Turn(m.role, m.content) for m in path_to(messages, reply_parent)]
    params = generation_params(character, reply_max_tokens)
    # A person's actor has the id of their account.
    note = await outside_memories_note(
        session, character, account.id, persona.name, conversation.id, history[-1].content
    )
    prompt = await build_prompt(
        session,
        character,
        persona.name,
        persona.description,
        history,
        backend,
        params.max_tokens,
        conversation.id,
        memory_note=note,
    )
    conversation.active_leaf_id = reply_parent
    conversation.updated_at = utcnow()
    return ReplyPlan(
        conversation_id=conversation.id,
        parent_id=reply_parent,
        user_message_id=user_message_id,
        backend=backend,
        messages=prompt.messages,
        params=params,
        character_id=character.id,
        person_id=account.id,
        person_name=persona.name,
        user_text=content,
        person_participant_id=person.id if person is not None else None,
        character_participant_id=cast.id,
        owner_id=account.id,
    )


async def plan_continue(
    session: AsyncSession,
    account: Account,
    registry: BackendRegistry,
    conversation_id: str,
    message_id: str,
    reply_max_tokens: int,
) -> ReplyPlan:
    """Plan more tokens for an assistant reply, to be appended to the same message.

    The message's text goes last as an assistant turn: llama.cpp (and other servers that
    "prefill") carry on from it instead of starting a new reply.
    """
    row = (
        await session.execute(
            pairing_select().where(
                Conversation.id == conversation_id, Conversation.owner_id == account.id
            )
        )
    ).first()
    if row is None:
        raise NotFound("no such conversation")
    conversation, character, cast, person, chosen_persona = row
    await require_chat(session, account, character)
    messages = await all_messages(session, conversation.id)
    by_id = {m.id: m for m in messages}
    message = by_id.get(message_id)
    if message is None:
        raise NotFound("no such message")
    if message.role != "assistant" or message.is_greeting or message.parent_id is None:
        raise Invalid("only a generated reply can be continued", "not_a_reply")
    backend = registry.get(character.backend)
    persona = chosen_persona or await default_persona(session, account)
    history = [Turn(m.role, m.content) for m in path_to(messages, message.parent_id)]
    params = generation_params(character, reply_max_tokens)
    prefill: ChatMessage = {"role": "assistant", "content": message.content}
    prompt = await build_prompt(
        session,
        character,
        persona.name,
        persona.description,
        history,
        backend,
        params.max_tokens + await backend.count_message_tokens([prefill]),
        conversation.id,
    )
    conversation.active_leaf_id = message.id
    conversation.updated_at = utcnow()
    return ReplyPlan(
        conversation_id=conversation.id,
        parent_id=message.parent_id,
        user_message_id=None,
        backend=backend,
        messages=[*prompt.messages, prefill],
        params=params,
        character_id=character.id,
        person_id=account.id,
        person_name=persona.name,
        person_participant_id=person.id if person is not None else None,
        character_participant_id=cast.id,
        continue_id=message.id,
        owner_id=account.id,
    )


async def save_reply(
    factory: async_sessionmaker[AsyncSession], plan: ReplyPlan, done: DoneEvent
) -> dict[str, Any]:
    async with transaction(factory) as session:
        conversation = await session.get(Conversation, plan.conversation_id)
        parent = await session.get(Message, plan.parent_id)
        if conversation is None or parent is None:
            raise NotFound("the conversation was deleted while the reply was generated")
        if plan.continue_id is not None:
            message = await _extend(session, plan.continue_id, done)
            conversation.active_leaf_id = message.id
            conversation.updated_at = utcnow()
            await session.flush()
            messages = await all_messages(session, plan.conversation_id)
            return message_out(message, siblings_of(messages, message))
        message = Message(
            conversation_id=plan.conversation_id,
            parent_id=plan.parent_id,
            role="assistant",
            participant_id=plan.character_participant_id,
            content=done.text.strip(),
            backend=done.backend,
            model=done.model[:300],
            prompt_tokens=done.usage.prompt_tokens,
            completion_tokens=done.usage.completion_tokens,
            cached_tokens=done.usage.cached_tokens,
            ttft_ms=done.ttft_ms,
            duration_ms=done.duration_ms,
            finish_reason=done.finish_reason[:30],
        )
        session.add(message)
        await session.flush()
        if plan.character_id and plan.person_id:
            await _remember_turn(session, plan, message.content)
        conversation.active_leaf_id = message.id
        conversation.updated_at = utcnow()
        await session.flush()
        messages = await all_messages(session, plan.conversation_id)
        return message_out(message, siblings_of(messages, message))


async def _extend(session: AsyncSession, message_id: str, done: DoneEvent) -> Message:
    """Append a continuation to its message; the record adds up both generations."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("the message was deleted while it was continued")
    message.content = (message.content + done.text).rstrip()
    message.completion_tokens = (message.completion_tokens or 0) + done.usage.completion_tokens
    message.prompt_tokens = done.usage.prompt_tokens or message.prompt_tokens
    message.cached_tokens = done.usage.cached_tokens or message.cached_tokens
    message.duration_ms = (message.duration_ms or 0.0) + done.duration_ms
    message.finish_reason = done.finish_reason[:30]
    message.backend = done.backend
    return message


def _cut(text: str, limit: int = MEMORY_TURN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def _remember_turn(session: AsyncSession, plan: ReplyPlan, reply: str) -> None:
    """The character remembers what the person told it and what it said (same transaction)."""
    # Heuristic importance only: a model call here would delay every chat reply, and the
    # chat path must stay fast. Scored on the words themselves, not the framing around them.
    name = plan.person_name
    turns: list[tuple[str, str, str]] = []
    if plan.user_text is not None and plan.user_text.strip():
        told = _cut(plan.user_text)
        turns.append(("told", f"In a chat, {name} told me: {told}", told))
    said = _cut(reply)
    turns.append(("said", f"In a chat with {name}, I said: {said}", said))
    for kind, text, words in turns:
        await remember(
            session,
            plan.character_id,
            kind,
            text,
            about_actor_id=plan.person_id,
            source="chat",
            source_id=plan.conversation_id,
            importance=heuristic_importance(words),
        )
