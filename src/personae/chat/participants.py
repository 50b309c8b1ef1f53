"""Who takes part in a conversation: people (each through a persona) and characters.

A conversation holds a set of participants, each with a kind, a role and a position.
Today's chats are the two-participant case, a one-to-one: the owner's person (position 0)
and one character (position 1). The helpers named `*_of` for one conversation, and
`pairings` for a page of them, read that case; group scenes will read the set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, Select, and_, delete, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from personae.accounts.models import Persona
from personae.characters.events import CharacterDeleted
from personae.characters.models import Character
from personae.chat.models import (
    CHARACTER,
    OWNER,
    PERSON,
    SCENE,
    Conversation,
    ConversationParticipant,
)
from personae.db import new_id, utcnow

Participant = ConversationParticipant


@dataclass(frozen=True)
class Pairing:
    """The one-to-one view of a conversation: its character and the person chatting."""

    character: Character
    character_participant_id: str
    person_participant_id: str | None
    persona_id: str | None


def one_to_one(
    conversation_id: str,
    account_id: str,
    persona_id: str | None,
    character_id: str,
    joined_at: datetime | None = None,
) -> tuple[Participant, Participant]:
    """The two participants of a one-to-one chat: the owner's person, then the character."""
    when = joined_at or utcnow()
    person = Participant(
        id=new_id(),
        conversation_id=conversation_id,
        kind=PERSON,
        role=OWNER,
        account_id=account_id,
        persona_id=persona_id,
        position=0,
        joined_at=when,
    )
    character = Participant(
        id=new_id(),
        conversation_id=conversation_id,
        kind=CHARACTER,
        role=CHARACTER,
        character_id=character_id,
        position=1,
        joined_at=when,
    )
    return person, character


async def participants_of(session: AsyncSession, conversation_id: str) -> list[Participant]:
    """Everyone in a conversation, in their order."""
    rows = await session.scalars(
        select(Participant)
        .where(Participant.conversation_id == conversation_id)
        .order_by(Participant.position)
    )
    return list(rows)


@cache  # built once: making the aliases and joins costs milliseconds, on every chat turn
def pairing_select() -> Select[Conversation, Character, Participant, Participant, Persona]:
    """Conversations with their character, and (outer) their owner's person and persona.

    Statements are immutable (`.where()` returns a new one), so sharing it is safe.
    """
    cast = aliased(Participant, name="cast_member")
    person = aliased(Participant, name="person")
    return (
        select(Conversation, Character, cast, person, Persona)
        .join(cast, and_(cast.conversation_id == Conversation.id, cast.kind == CHARACTER))
        .join(Character, Character.id == cast.character_id)
        .outerjoin(
            person,
            and_(
                person.conversation_id == Conversation.id,
                person.kind == PERSON,
                person.role == OWNER,
            ),
        )
        .outerjoin(Persona, Persona.id == person.persona_id)
        # Scenes have many characters and are read through personae/scenes, never as pairs.
        .where(Conversation.kind != SCENE)
    )


def _pairing(character: Character, cast: Participant, person: Participant | None) -> Pairing:
    return Pairing(
        character=character,
        character_participant_id=cast.id,
        person_participant_id=person.id if person is not None else None,
        persona_id=person.persona_id if person is not None else None,
    )


async def pairing_of(session: AsyncSession, conversation: Conversation) -> Pairing | None:
    """The character and person of a one-to-one conversation (None: its character is gone)."""
    row = (
        await session.execute(pairing_select().where(Conversation.id == conversation.id))
    ).first()
    if row is None:
        return None
    _, character, cast, person, _ = row
    return _pairing(character, cast, person)


async def pairings(session: AsyncSession, conversations: list[Conversation]) -> dict[str, Pairing]:
    """The one-to-one view of many conversations in one query, by conversation id."""
    ids = [c.id for c in conversations]
    if not ids:
        return {}
    rows = await session.execute(pairing_select().where(Conversation.id.in_(ids)))
    return {conv.id: _pairing(character, cast, person) for conv, character, cast, person, _ in rows}


async def character_of(session: AsyncSession, conversation: Conversation) -> Character | None:
    """The character of a one-to-one conversation (its first character participant)."""
    character: Character | None = await session.scalar(
        select(Character)
        .join(Participant, Participant.character_id == Character.id)
        .where(Participant.conversation_id == conversation.id, Participant.kind == CHARACTER)
        .order_by(Participant.position)
        .limit(1)
    )
    return character


async def person_of(session: AsyncSession, conversation: Conversation) -> Participant | None:
    """The owner's participant: the person who opened the conversation."""
    person: Participant | None = await session.scalar(
        select(Participant).where(
            Participant.conversation_id == conversation.id,
            Participant.kind == PERSON,
            Participant.role == OWNER,
        )
    )
    return person


def chatted_with(person_id: str, character_id: str) -> Select[int]:
    """A row when the person ever opened a conversation the character takes part in (the
    agents count it as engagement: see `personae.wiring`)."""
    return (
        select(literal(1))
        .select_from(Participant)
        .join(Conversation, Conversation.id == Participant.conversation_id)
        .where(Participant.character_id == character_id, Conversation.owner_id == person_id)
    )


def with_character(character_id: str) -> ColumnElement[bool]:
    """The condition on Conversation for conversations a character takes part in."""
    return Conversation.id.in_(
        select(Participant.conversation_id).where(Participant.character_id == character_id)
    )


async def on_character_deleted(session: AsyncSession, event: CharacterDeleted) -> None:
    """A deleted character's one-to-one conversations go with it (same transaction).

    Conversations it shares with other characters keep going without it: the foreign key
    removes its participant, and its messages stay, spoken by nobody now.
    """
    other = aliased(Participant)
    mine = select(Participant.conversation_id).where(
        Participant.character_id == event.character_id,
        ~exists().where(
            other.conversation_id == Participant.conversation_id,
            other.kind == CHARACTER,
            other.character_id != event.character_id,
        ),
    )
    await session.execute(
        delete(Conversation)
        # A scene keeps going without it, even when it was its only character.
        .where(Conversation.id.in_(mine), Conversation.kind != SCENE)
        .execution_options(synchronize_session="fetch")
    )
