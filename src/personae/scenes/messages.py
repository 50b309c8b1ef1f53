"""A scene's messages: a person's message and who answers it, a character's reply saved,
edits, deletes, swipes and branches. Session and plain arguments; flush only.

A reply is never saved in a person's voice: the conductor cleans it (`bleed.py`) and
`save_reply` only ever writes a character member's message, under its own participant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.accounts.models import Account
from personae.accounts.service import get_persona
from personae.chat.models import CHARACTER, MEMBER, PERSON, Conversation, Message
from personae.chat.service import all_messages, latest_leaf, path_to, siblings_of
from personae.db import new_id, utcnow
from personae.errors import Forbidden, Invalid, NotFound
from personae.llm.base import DoneEvent
from personae.scenes import turns, views
from personae.scenes.access import (
    NO_SCENE,
    Participant,
    SceneAccess,
    SceneData,
    load_scene,
    scene_for,
)
from personae.scenes.events import MESSAGE, SceneLive
from personae.scenes.memories import remember_heard
from personae.scenes.models import Scene, ScenePresence
from personae.scenes.planning import TurnPlan, speaking_member
from personae.scenes.schemas import SceneMessageOut
from personae.scenes.service import check_text


@dataclass
class Posted:
    """A person's message, saved, and who will answer it."""

    data: SceneData
    message: Message
    out: SceneMessageOut
    choices: list[turns.Choice]
    director: bool  # the director (a model call) decides who answers


def _check_content(content: str, max_chars: int) -> str:
    check_text(content, "content", max_chars, required=True)
    return content


async def message_of(
    session: AsyncSession, data: SceneData, message_id: str
) -> tuple[Message, list[Message]]:
    """A message of this scene (404 for any other's) and all the scene's messages."""
    messages = await all_messages(session, data.id)
    message = next((m for m in messages if m.id == message_id), None)
    if message is None:
        raise NotFound("no such message in this scene")
    return message, messages


def out_of(data: SceneData, message: Message, messages: list[Message]) -> SceneMessageOut:
    """One message as the API shows it, with its swipe position."""
    return views.message_out(data, message, siblings_of(messages, message))


def choices_after_person(data: SceneData, path: list[Message]) -> list[turns.Choice]:
    """Who answers the person's message that ends `path`, by the scene's mode."""
    history = views.spoken(data, path)
    return turns.speakers_after_person(
        data.scene.mode,
        views.turn_members(data),
        history,
        allow_self=data.scene.allow_self,
        seed=data.scene.seed,
        turn_index=len(history),
    )


async def post_message(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    content: str,
    *,
    parent_id: str | None = None,
    persona_id: str | None = None,
    max_chars: int = 20_000,
) -> Posted:
    """Save a person's message (under `parent_id`, default the shown leaf) and choose who
    answers it; the answers are generated afterwards (the conductor)."""
    access = await scene_for(session, account, scene_id, "member")
    data = access.data
    me = access.me
    if me is None or me.status != MEMBER:
        raise Forbidden("only the scene's members can speak")
    _check_content(content, max_chars)
    if persona_id is not None:
        me.persona_id = (await get_persona(session, account, persona_id)).id
    messages = await all_messages(session, scene_id)
    anchor = parent_id if parent_id is not None else data.conversation.active_leaf_id
    if anchor is not None and not any(m.id == anchor for m in messages):
        raise NotFound("no such parent message in this scene")
    now = utcnow()
    message = Message(
        id=new_id(),
        conversation_id=scene_id,
        parent_id=anchor,
        role="user",
        participant_id=me.id,
        content=content,
        created_at=now,
    )
    session.add(message)
    data.conversation.active_leaf_id = message.id
    data.conversation.updated_at = now
    await session.flush()
    messages.append(message)
    await remember_heard(session, data, message)
    path = path_to(messages, message.id)
    director = data.scene.mode == "director"
    choices = [] if director else choices_after_person(data, path)
    out = out_of(data, message, messages)
    await events.emit(session, SceneLive(scene_id, MESSAGE, out.model_dump()))
    return Posted(data, message, out, choices, director)


async def check_speaker(
    session: AsyncSession, account: Account, scene_id: str, participant_id: str
) -> SceneData:
    """A tap: the caller is a member and the character may speak now (else 4xx)."""
    access = await scene_for(session, account, scene_id, "member")
    speaking_member(access.data, participant_id)
    return access.data


async def regenerate_target(
    session: AsyncSession, account: Account, scene_id: str, message_id: str
) -> tuple[str, str, str | None]:
    """For a new swipe of a character's message: (speaker, reason, parent id)."""
    access = await scene_for(session, account, scene_id, "member")
    message, _ = await message_of(session, access.data, message_id)
    speaker = access.data.participant(message.participant_id)
    if message.role != "assistant" or speaker is None or speaker.kind != CHARACTER:
        raise Invalid("only a character's message can be regenerated", "not_a_reply")
    if message.is_greeting:
        # As in chat: a greeting is the card's text, its alternatives are its swipes.
        raise Invalid("a greeting is swiped, not regenerated", "is_greeting")
    speaking_member(access.data, speaker.id)
    return speaker.id, message.reason or "regenerate", message.parent_id


async def save_reply(
    session: AsyncSession, plan: TurnPlan, text: str, done: DoneEvent
) -> tuple[SceneData, SceneMessageOut, int] | None:
    """Save a character's cleaned reply; None when the scene or the speaker is gone, or
    the speaker was muted or left while it was writing. Returns the tokens it cost."""
    data = await load_scene(session, plan.scene_id)
    if data is None:
        return None
    speaker = data.participant(plan.participant_id)
    if speaker is None or speaker.kind != CHARACTER or speaker.status != MEMBER or speaker.muted:
        return None
    messages = await all_messages(session, plan.scene_id)
    ids = {m.id for m in messages}
    parent = plan.parent_id if plan.parent_id in ids else None
    if plan.parent_id is not None and parent is None:
        return None  # what it answered was deleted meanwhile
    now = utcnow()
    message = Message(
        id=new_id(),
        conversation_id=plan.scene_id,
        parent_id=parent,
        role="assistant",
        participant_id=speaker.id,
        content=text,
        reason=plan.reason[:300],
        backend=done.backend,
        model=done.model[:300],
        prompt_tokens=done.usage.prompt_tokens,
        completion_tokens=done.usage.completion_tokens,
        cached_tokens=done.usage.cached_tokens,
        ttft_ms=done.ttft_ms,
        duration_ms=done.duration_ms,
        finish_reason=done.finish_reason[:30],
        created_at=now,
    )
    session.add(message)
    data.conversation.active_leaf_id = message.id
    data.conversation.updated_at = now
    await session.flush()
    messages.append(message)
    await remember_heard(session, data, message)
    cost = done.usage.prompt_tokens - done.usage.cached_tokens + done.usage.completion_tokens
    if plan.auto:
        scene = data.scene
        day = views.today()
        if scene.auto_tokens_day != day:
            scene.auto_tokens_day, scene.auto_tokens_used = day, 0
        scene.auto_turns_used += 1
        scene.auto_tokens_used += max(0, cost)
        await session.flush()
    return data, out_of(data, message, messages), cost


async def edit_message(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    message_id: str,
    content: str,
    max_chars: int,
) -> SceneMessageOut:
    """Change a message's text: one's own, or (the owner) a character's."""
    access = await scene_for(session, account, scene_id, "member")
    _check_content(content, max_chars)
    message, messages = await message_of(session, access.data, message_id)
    _check_may_change(access, message, "edit")
    message.content = content
    message.edited_at = utcnow()
    access.data.conversation.updated_at = utcnow()
    await session.flush()
    out = out_of(access.data, message, messages)
    await events.emit(session, SceneLive(scene_id, MESSAGE, out.model_dump()))
    return out


def _check_may_change(access: SceneAccess, message: Message, verb: str) -> None:
    speaker = access.data.participant(message.participant_id)
    mine = access.me is not None and speaker is not None and speaker.id == access.me.id
    if mine:
        return
    if access.owner and (speaker is None or speaker.kind == CHARACTER or verb == "delete"):
        return  # the owner looks after the characters' lines, and may remove anything
    # Whole sentences per verb rather than a "{verb}" slot, so each can be translated.
    if verb == "edit":
        if access.owner:
            raise Forbidden("you can edit your own messages and the characters' only")
        raise Forbidden("you can edit your own messages only")
    raise Forbidden("you can delete your own messages only")


async def delete_message(
    session: AsyncSession, account: Account, scene_id: str, message_id: str
) -> SceneData:
    """Delete a message and everything below it; the view moves to a sibling or parent."""
    access = await scene_for(session, account, scene_id, "member")
    message, messages = await message_of(session, access.data, message_id)
    _check_may_change(access, message, "delete")
    conversation = access.data.conversation
    doomed = {message.id}
    changed = True
    while changed:
        changed = False
        for m in messages:
            if m.parent_id in doomed and m.id not in doomed:
                doomed.add(m.id)
                changed = True
    remaining = [m for m in messages if m.id not in doomed]
    if conversation.active_leaf_id in doomed or conversation.active_leaf_id is None:
        siblings = [m for m in remaining if m.parent_id == message.parent_id]
        conversation.active_leaf_id = (
            latest_leaf(remaining, siblings[-1]).id if siblings else message.parent_id
        )
    for m in sorted((m for m in messages if m.id in doomed), key=lambda m: m.id, reverse=True):
        await session.delete(m)
        await session.flush()
    conversation.updated_at = utcnow()
    await events.emit(session, SceneLive(scene_id, MESSAGE, {"deleted": sorted(doomed)}))
    return access.data


async def select_message(
    session: AsyncSession, account: Account, scene_id: str, message_id: str
) -> SceneData:
    """Show the branch through a message (switch swipes or branches) for everyone."""
    access = await scene_for(session, account, scene_id, "member")
    message, messages = await message_of(session, access.data, message_id)
    access.data.conversation.active_leaf_id = latest_leaf(messages, message).id
    await session.flush()
    await events.emit(session, SceneLive(scene_id, MESSAGE, {"selected": message.id}))
    return access.data


async def branch_scene(
    session: AsyncSession, account: Account, scene_id: str, message_id: str
) -> SceneData:
    """A new scene (owned by the owner) with the same cast and the path up to a message."""
    access = await scene_for(session, account, scene_id, "owner")
    data = access.data
    message, messages = await message_of(session, data, message_id)
    path = path_to(messages, message.id)
    now = utcnow()
    copy = Conversation(
        id=new_id(),
        owner_id=account.id,
        title=f"{data.conversation.title} (branch)"[:200],
        kind=data.conversation.kind,
        created_at=now,
        updated_at=now,
    )
    old = data.scene
    columns = [c.key for c in Scene.__table__.columns if c.key != "conversation_id"]
    scene_values: dict[str, Any] = {k: getattr(old, k) for k in columns}
    scene_values.update(auto_on=False, auto_turns_used=0, auto_paused_reason=None)
    session.add_all([copy, Scene(conversation_id=copy.id, **scene_values)])
    await session.flush()
    same: dict[str, str] = {}
    for original in data.participants:
        # People others invited come along only as members: nobody is put in a scene
        # they did not accept; the invited and those who left stay behind.
        if original.kind == PERSON and original.status != MEMBER:
            continue
        twin = Participant(
            id=new_id(),
            conversation_id=copy.id,
            kind=original.kind,
            role=original.role,
            account_id=original.account_id,
            persona_id=original.persona_id,
            character_id=original.character_id,
            position=original.position,
            status=original.status,
            muted=original.muted,
            talkativeness=original.talkativeness,
            backend=original.backend,
            left_at=original.left_at,
            invited_by=original.invited_by,
            joined_at=original.joined_at,
        )
        same[original.id] = twin.id
        session.add(twin)
    await session.flush()
    for interval in data.presence:
        if interval.participant_id in same:
            session.add(
                ScenePresence(
                    conversation_id=copy.id,
                    participant_id=same[interval.participant_id],
                    joined_at=interval.joined_at,
                    left_at=interval.left_at,
                )
            )
    parent: str | None = None
    skip = {"id", "conversation_id", "parent_id", "participant_id"}
    message_columns = [c.key for c in Message.__table__.columns if c.key not in skip]
    for original_message in path:
        values = {k: getattr(original_message, k) for k in message_columns}
        speaker = same.get(original_message.participant_id or "")
        clone = Message(
            **values, id=new_id(), conversation_id=copy.id, parent_id=parent, participant_id=speaker
        )
        session.add(clone)
        await session.flush()
        parent = clone.id
    copy.active_leaf_id = parent
    await session.flush()
    branched = await load_scene(session, copy.id)
    if branched is None:
        raise NotFound(NO_SCENE)
    return branched
