"""What characters remember of a scene, and what they may recall in it.

A memory's audience is who may read what it goes into (`memory.stream`): "public", or one
id. A scene's audience is:

- public scenes: "public" (anyone can read them, so only public memories come back, and
  what is said there is public);
- a private or invite-only scene with one person in it: that person, as a one-to-one chat
  (their private chats with the character may be recalled, since nobody else reads);
- a private or invite-only scene with several people: the scene itself (its id), so what
  was said there comes back only there, and no private one-to-one chat is ever recalled
  where others can read it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from personae.chat.models import CHARACTER, PERSON, Message
from personae.memory.importance import heuristic_importance
from personae.memory.stream import PUBLIC, recall, remember
from personae.scenes.access import Participant, SceneData

# How many memories go into a speaker's prompt, and how much of a message is remembered.
RECALLED = 3
MEMORY_CHARS = 300


def audience_of(data: SceneData) -> str:
    """Who reads what is said in this scene (see the module's docstring)."""
    if data.scene.visibility == "public":
        return PUBLIC
    people = [p for p in data.members(PERSON) if p.account_id]
    if len(people) == 1:
        return str(people[0].account_id)
    return data.id


def _actor_of(data: SceneData, participant: Participant | None) -> str | None:
    """The actor a message is about: a person's account, or a character."""
    if participant is None:
        return None
    return participant.account_id if participant.kind == PERSON else participant.character_id


async def recall_for(
    session: AsyncSession, data: SceneData, speaker: Participant, query: str, about: str | None
) -> list[str]:
    """What the speaking character remembers that this scene's audience may hear."""
    character_id = speaker.character_id
    if not character_id or not query.strip():
        return []
    audience = audience_of(data)
    memories = await recall(
        session,
        character_id,
        query,
        audience=audience,
        about_actor_id=about,
        limit=RECALLED,
        # The scene's own history is in the prompt (what the speaker was there for).
        exclude_source_id=data.id,
    )
    return [m.text for m in memories]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MEMORY_CHARS else text[: MEMORY_CHARS - 1].rstrip() + "…"


async def remember_heard(session: AsyncSession, data: SceneData, message: Message) -> None:
    """Every character present remembers a message said in the scene (same transaction).

    The speaker remembers saying it; the others hearing it. A character that is not
    present remembers nothing of it: it was not there.
    """
    speaker = data.participant(message.participant_id)
    if speaker is None:
        return
    name = data.name_of(speaker)
    words = _cut(message.content)
    if not words:
        return
    audience = audience_of(data)
    title = data.conversation.title
    about = _actor_of(data, speaker)
    importance = heuristic_importance(words)
    for member in data.members(CHARACTER):
        if not member.character_id:
            continue
        if member.id == speaker.id:
            kind, text = "said", f'In the scene "{title}", I said: {words}'
        else:
            kind, text = "told", f'In the scene "{title}", {name} said: {words}'
        await remember(
            session,
            member.character_id,
            kind,
            text,
            about_actor_id=about,
            source="chat",
            source_id=data.id,
            importance=importance,
            audience=audience,
        )
