"""Planning one character's turn (or the director's call): everything read from the
database and the prompt built, in a short transaction, before any model is called.

The prompt is LOGIC's `scenes/prompt.py`: the shared frame, the history the speaker was
present for (its presence intervals decide; a message said while it was away is not in
it), its own definition last. Memories are recalled with the scene's audience
(`memories.py`); the backend is the member's own in this scene, else the character's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from personae import clock
from personae.characters.lorebooks import get_lorebook
from personae.characters.prompting import definition_of, generation_params
from personae.chat.generation import book_lore, lore_for
from personae.chat.lore import LoreEntry
from personae.chat.models import CHARACTER, MEMBER, PERSON, Message
from personae.chat.prompt import LoreSettings
from personae.chat.service import all_messages, path_to
from personae.errors import Invalid, NotFound
from personae.llm.base import Backend, ChatMessage, GenerationParams
from personae.llm.registry import BackendRegistry
from personae.scenes import turns, views
from personae.scenes.access import NO_SCENE, Participant, SceneData, load_scene
from personae.scenes.memories import recall_for
from personae.scenes.prompt import (
    CastMember,
    Notice,
    Presence,
    SceneLine,
    SceneSpeaker,
    assemble_director_prompt,
    assemble_scene_prompt,
)

# The director answers with a name and a short reason: a few dozen tokens.
DIRECTOR_TOKENS = 80


@dataclass
class TurnPlan:
    """One character's reply, ready to generate: no database needed until it is saved."""

    scene_id: str
    participant_id: str
    character_id: str
    name: str
    others: list[str]
    reason: str
    parent_id: str | None
    backend: Backend
    messages: list[ChatMessage]
    params: GenerationParams
    auto: bool = False
    swipe_of: str | None = None  # regenerate: the message this reply is a sibling of


@dataclass
class DirectorPlan:
    """The director's call: its prompt, schema and what to fall back on."""

    backend: Backend
    messages: list[ChatMessage]
    params: GenerationParams
    members: list[turns.Member]
    fallback: turns.Choice | None
    names: dict[str, str] = field(default_factory=dict)


async def scene_lore(
    session: AsyncSession, data: SceneData
) -> tuple[list[LoreEntry], LoreSettings]:
    """The entries of the scene's own lorebook and its activation settings: for every
    speaker, and the director, alike."""
    if data.scene.lorebook_id is None:
        return [], LoreSettings()
    try:
        # Read as the owner now, not only when it was set: a book its author has since
        # made private (or a character it came with) stops reaching the scene's prompts.
        owner = data.accounts.get(data.conversation.owner_id)
        book = await get_lorebook(session, owner, data.scene.lorebook_id)
    except NotFound:
        return [], LoreSettings()
    return await book_lore([book], session)


def lines_of(data: SceneData, path: list[Message]) -> list[SceneLine]:
    """The shown branch as the prompt takes it (every line with its speaker and time)."""
    out: list[SceneLine] = []
    for m in path:
        participant = data.participant(m.participant_id)
        if participant is None:
            out.append(SceneLine("", "(gone)", m.role == "user", m.content, m.created_at))
            continue
        out.append(
            SceneLine(
                participant.id,
                data.name_of(participant),
                participant.kind == PERSON,
                m.content,
                m.created_at,
            )
        )
    return out


def notices_of(data: SceneData) -> list[Notice]:
    """Joins and leaves after the scene began (the first cast is simply there)."""
    start = data.conversation.created_at
    out: list[Notice] = []
    for interval in data.presence:
        participant = data.participant(interval.participant_id)
        if participant is None:
            continue
        name = data.name_of(participant)
        if interval.joined_at > start:
            out.append(Notice(name, True, interval.joined_at))
        if interval.left_at is not None:
            out.append(Notice(name, False, interval.left_at))
    return out


def cast_of(data: SceneData) -> list[CastMember]:
    """Who takes part now, with public descriptions only (a profile's bio, a persona's
    self-description), never a card's hidden fields."""
    out: list[CastMember] = []
    for p in data.members():
        if p.kind == CHARACTER:
            actor = data.actors.get(p.character_id or "")
            description = actor.bio if actor is not None else ""
        else:
            persona = data.personas.get(p.persona_id or "")
            description = persona.description if persona is not None else ""
        out.append(CastMember(p.id, data.name_of(p), p.kind == PERSON, description))
    return out


def backend_for(registry: BackendRegistry, data: SceneData, participant: Participant) -> Backend:
    """The member's backend in this scene, else its character's own, else the default."""
    character = data.characters.get(participant.character_id or "")
    return registry.get(participant.backend or (character.backend if character else None))


def speaking_member(data: SceneData, participant_id: str) -> Participant:
    """A character that may speak now: present and not muted (else a 422 saying why)."""
    participant = data.participant(participant_id)
    if participant is None or participant.kind != CHARACTER:
        raise NotFound("no such character in this scene")
    name = data.name_of(participant)
    if participant.status != MEMBER:
        raise Invalid(f"{name} is not in the scene now", "not_present")
    if participant.muted:
        raise Invalid(f"{name} is muted in this scene", "muted")
    if participant.character_id not in data.characters:
        raise Invalid(f"{name} no longer exists", "not_present")
    return participant


async def plan_turn(
    session: AsyncSession,
    registry: BackendRegistry,
    scene_id: str,
    participant_id: str,
    reason: str,
    *,
    reply_max_tokens: int,
    parent_id: str | None = None,
    auto: bool = False,
    swipe_of: str | None = None,
) -> TurnPlan:
    """Build a character's prompt for its next message under `parent_id` (default: the
    message shown last)."""
    data = await load_scene(session, scene_id, bios=True)
    if data is None:
        raise NotFound(NO_SCENE)
    participant = speaking_member(data, participant_id)
    character = data.characters[participant.character_id or ""]
    messages = await all_messages(session, scene_id)
    anchor = parent_id if parent_id is not None else data.conversation.active_leaf_id
    path = path_to(messages, anchor)
    backend = backend_for(registry, data, participant)
    params = generation_params(character, reply_max_tokens)
    last_person = next(
        (
            m
            for m in reversed(path)
            if (p := data.participant(m.participant_id)) and p.kind == PERSON
        ),
        None,
    )
    about = None
    if last_person is not None:
        person = data.participant(last_person.participant_id)
        about = person.account_id if person is not None else None
    memories = await recall_for(
        session, data, participant, path[-1].content if path else data.scene.scenario, about
    )
    lore, lore_settings = await scene_lore(session, data)
    own_lore, own_settings = await lore_for(session, character)
    name = data.name_of(participant)
    presence = [Presence(i.joined_at, i.left_at) for i in data.presence_of(participant.id)]
    cast = cast_of(data)
    prompt = await assemble_scene_prompt(
        data.conversation.title,
        data.scene.scenario,
        SceneSpeaker(participant.id, definition_of(character), presence, name),
        cast,
        lines_of(data, path),
        notices_of(data),
        context_window=backend.capabilities.context_window,
        reply_tokens=params.max_tokens,
        count=backend.count_message_tokens,
        memories=memories,
        scene_lore=lore,
        own_lore=own_lore,
        lore_settings=lore_settings if lore else own_settings,
        seed=data.scene.seed,
        now=clock.now(),
        # End on the speaker's own "Name:" for the server to continue: the small models
        # otherwise often open with a label (someone else's, cleaned to nothing).
        prefill=True,
    )
    params.stop = [*params.stop, *(s for s in prompt.stop if s not in params.stop)]
    others = [c.name for c in cast if c.participant_id != participant.id]
    # Characters who left can still be named in a reply: their labels are cut too.
    others += [
        data.name_of(p) for p in data.participants if p.status != MEMBER and p.id != participant.id
    ]
    return TurnPlan(
        scene_id=scene_id,
        participant_id=participant.id,
        character_id=character.id,
        name=name,
        others=others,
        reason=reason[:300],
        parent_id=path[-1].id if path else None,
        backend=backend,
        messages=prompt.messages,
        params=params,
        auto=auto,
        swipe_of=swipe_of,
    )


async def plan_director(
    session: AsyncSession, registry: BackendRegistry, scene_id: str
) -> DirectorPlan | None:
    """The director's call for the scene as shown now (None: no character may speak)."""
    data = await load_scene(session, scene_id, bios=True)
    if data is None:
        raise NotFound(NO_SCENE)
    members = views.turn_members(data)
    able = turns.eligible(members)
    if not able:
        return None
    messages = await all_messages(session, scene_id)
    path = path_to(messages, data.conversation.active_leaf_id)
    history = views.spoken(data, path)
    natural = turns.speakers_after_person(
        "natural",
        members,
        history,
        allow_self=data.scene.allow_self,
        seed=data.scene.seed,
        turn_index=len(history),
    )
    fallback = natural[0] if natural else None
    first = data.participant(able[0].participant_id)
    assert first is not None
    backend = backend_for(registry, data, first)
    lore, lore_settings = await scene_lore(session, data)
    labels = list(turns.director_labels(members))
    prompt = await assemble_director_prompt(
        data.conversation.title,
        data.scene.scenario,
        cast_of(data),
        lines_of(data, path),
        notices_of(data),
        labels=labels,
        context_window=backend.capabilities.context_window,
        reply_tokens=DIRECTOR_TOKENS,
        count=backend.count_message_tokens,
        scene_lore=lore,
        lore_settings=lore_settings,
        seed=data.scene.seed,
        now=clock.now(),
    )
    params = GenerationParams(
        max_tokens=DIRECTOR_TOKENS,
        temperature=0.2,
        json_schema=turns.director_schema(members),
        seed=len(history),
    )
    return DirectorPlan(backend, prompt.messages, params, members, fallback)
