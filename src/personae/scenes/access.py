"""Who may see and change a scene, and the one loader every scene operation reads through.

The rules (docs/scenes.md): a private or invite-only scene exists only for its members
(and, as a title and an inviter, for people invited to it); everyone else gets 404, on
every route, whatever they ask. A public scene can be read by anyone, signed in or not,
as a watcher. Speaking needs membership; settings, characters, kicks and shares need the
owner; inviting needs the owner, or any member when the scene is invite-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account, Persona
from personae.characters.models import Character
from personae.chat.models import (
    CHARACTER,
    INVITED,
    MEMBER,
    PERSON,
    SCENE,
    Conversation,
    ConversationParticipant,
)
from personae.errors import Forbidden, NotFound
from personae.scenes.models import Scene, ScenePresence
from personae.social.models import Actor

Participant = ConversationParticipant
Role = Literal["owner", "member", "invited", "watcher"]
Need = Literal["see", "read", "member", "owner", "invite"]
NO_SCENE = "no such scene"


@dataclass
class SceneData:
    """A scene and everything about its participants, read in a few queries."""

    conversation: Conversation
    scene: Scene
    participants: list[Participant]
    characters: dict[str, Character] = field(default_factory=dict)  # by character id
    accounts: dict[str, Account] = field(default_factory=dict)  # by account id
    personas: dict[str, Persona] = field(default_factory=dict)  # by persona id
    actors: dict[str, Actor] = field(default_factory=dict)  # by actor id (public bios)
    presence: list[ScenePresence] = field(default_factory=list)
    # Accounts whose actor has an avatar: a member without one gets no avatar address.
    pictured: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        """The scene's id (its conversation's)."""
        return self.conversation.id

    def participant(self, participant_id: str | None) -> Participant | None:
        """A participant of this scene by id."""
        return next((p for p in self.participants if p.id == participant_id), None)

    def person_of(self, account_id: str) -> Participant | None:
        """The account's participant in this scene, whatever its status."""
        return next(
            (p for p in self.participants if p.kind == PERSON and p.account_id == account_id),
            None,
        )

    def members(self, kind: str | None = None) -> list[Participant]:
        """Participants taking part now (status member), of one kind if given."""
        return [
            p for p in self.participants if p.status == MEMBER and (kind is None or p.kind == kind)
        ]

    def name_of(self, participant: Participant) -> str:
        """The name the scene shows: a character's, or the persona a person speaks as."""
        if participant.kind == CHARACTER:
            character = self.characters.get(participant.character_id or "")
            return character.name if character else "(gone)"
        persona = self.personas.get(participant.persona_id or "")
        if persona is not None:
            return persona.name
        account = self.accounts.get(participant.account_id or "")
        if account is None:
            return "(gone)"
        return account.display_name or account.username

    def handle_of(self, participant: Participant) -> str:
        """A character's handle or a person's username."""
        if participant.kind == CHARACTER:
            character = self.characters.get(participant.character_id or "")
            return character.handle if character else ""
        account = self.accounts.get(participant.account_id or "")
        return account.username if account else ""

    def presence_of(self, participant_id: str) -> list[ScenePresence]:
        """The participant's presence intervals, oldest first."""
        return [p for p in self.presence if p.participant_id == participant_id]


@dataclass
class SceneAccess:
    """A scene as one caller may use it: the data, their role and their participant."""

    data: SceneData
    account: Account | None
    role: Role
    me: Participant | None

    @property
    def owner(self) -> bool:
        """Whether the caller owns the scene."""
        return self.role == "owner"


async def load_scene(
    session: AsyncSession, scene_id: str, *, bios: bool = False
) -> SceneData | None:
    """A scene with its participants, their characters, accounts, personas and presence
    (and, with `bios`, their actors' public bios, which only prompts need)."""
    if not isinstance(scene_id, str) or not 0 < len(scene_id) <= 32:
        return None
    row = (
        await session.execute(
            select(Conversation, Scene)
            .join(Scene, Scene.conversation_id == Conversation.id)
            .where(Conversation.id == scene_id, Conversation.kind == SCENE)
        )
    ).first()
    if row is None:
        return None
    conversation, scene = row
    participants = list(
        await session.scalars(
            select(Participant)
            .where(Participant.conversation_id == scene_id)
            .order_by(Participant.position)
        )
    )
    data = SceneData(conversation, scene, participants)
    character_ids = {p.character_id for p in participants if p.character_id}
    account_ids = {p.account_id for p in participants if p.account_id}
    account_ids |= {p.invited_by for p in participants if p.invited_by}
    account_ids.add(conversation.owner_id)
    persona_ids = {p.persona_id for p in participants if p.persona_id}
    if character_ids:
        data.characters = {
            c.id: c
            for c in await session.scalars(
                select(Character).where(Character.id.in_(sorted(character_ids)))
            )
        }
    data.accounts = {
        a.id: a
        for a in await session.scalars(select(Account).where(Account.id.in_(sorted(account_ids))))
    }
    if persona_ids:
        data.personas = {
            p.id: p
            for p in await session.scalars(
                select(Persona).where(Persona.id.in_(sorted(persona_ids)))
            )
        }
    people = {p.account_id for p in participants if p.account_id}
    actor_ids = sorted(character_ids | people)
    if bios and actor_ids:
        data.actors = {
            a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))
        }
        data.pictured = {a.id for a in data.actors.values() if a.id in people and a.avatar_mime}
    elif people:
        data.pictured = set(
            await session.scalars(
                select(Actor.id).where(Actor.id.in_(sorted(people)), Actor.avatar_mime != "")
            )
        )
    data.presence = list(
        await session.scalars(
            select(ScenePresence)
            .where(ScenePresence.conversation_id == scene_id)
            .order_by(ScenePresence.joined_at, ScenePresence.id)
        )
    )
    return data


def role_of(data: SceneData, account: Account | None) -> tuple[Role | None, Participant | None]:
    """The caller's role in a scene (None: none at all) and their participant."""
    me = data.person_of(account.id) if account is not None else None
    if account is not None and account.id == data.conversation.owner_id:
        return "owner", me
    if me is not None and me.status == MEMBER:
        return "member", me
    if me is not None and me.status == INVITED:
        return "invited", me
    if data.scene.visibility == "public":
        return "watcher", None
    return None, None


async def scene_for(
    session: AsyncSession, account: Account | None, scene_id: str, need: Need = "read"
) -> SceneAccess:
    """The scene if the caller may do what `need` says (404 when they may not even see it).

    `see`: members, the invited and public watchers; `read` (messages, members, events):
    the same but not the invited; `member`: people taking part; `owner`; `invite`: the
    owner, or any member of an invite-only scene.
    """
    data = await load_scene(session, scene_id)
    if data is None:
        raise NotFound(NO_SCENE)
    role, me = role_of(data, account)
    if role is None:
        raise NotFound(NO_SCENE)
    access = SceneAccess(data, account, role, me)
    if need == "see":
        return access
    if role == "invited" and data.scene.visibility != "public":
        # An invitation shows the title and who sent it; the scene itself waits for a yes.
        raise NotFound("accept the invitation to see this scene")
    if need == "read":
        return access
    if role == "watcher" or role == "invited":
        raise Forbidden("only the scene's members can do this; join by invitation")
    if need == "member":
        return access
    if need == "invite" and (role == "owner" or data.scene.visibility == "invite"):
        return access
    if role != "owner":
        if need == "invite":
            raise Forbidden("only the scene's owner can invite people to a private scene")
        raise Forbidden("only the scene's owner can do this")
    return access


def character_members(data: SceneData) -> list[Participant]:
    """The characters taking part now, in position order."""
    return data.members(CHARACTER)


def ids(participants: Iterable[Participant]) -> set[str]:
    """The ids of some participants."""
    return {p.id for p in participants}
