"""Scenes and their members: open, list, change, delete; add characters, invite people,
answer invitations, mute, kick, leave. Session and plain arguments; flush only.

A scene is a `Conversation` of kind "scene" with a `Scene` row. People take part through
a persona and join only by accepting an invitation; characters are added by the owner.
Every join and leave is a `ScenePresence` interval, which is what keeps an absent
character from knowing what was said while it was away (see `planning.py`).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from personae import events
from personae.accounts.models import Account
from personae.accounts.service import default_persona, get_account_by_username, get_persona
from personae.characters.lorebooks import get_lorebook
from personae.characters.models import Character, Lorebook
from personae.characters.prompting import macro_context, render
from personae.characters.service import get_character
from personae.chat.access import may_chat
from personae.chat.models import (
    CHARACTER,
    DECLINED,
    INVITED,
    LEFT,
    MEMBER,
    OWNER,
    PERSON,
    SCENE,
    Conversation,
    Message,
)
from personae.chat.service import all_messages, siblings_of
from personae.db import new_id, utcnow
from personae.errors import Conflict, Forbidden, Invalid, NotFound
from personae.scenes import views
from personae.scenes.access import (
    NO_SCENE,
    Participant,
    SceneAccess,
    SceneData,
    load_scene,
    role_of,
    scene_for,
)
from personae.scenes.events import MEMBERS, MESSAGE, SceneLive
from personae.scenes.events import SCENE as SCENE_EVENT
from personae.scenes.models import MODES, VISIBILITIES, Scene, ScenePresence
from personae.social.access import blocked_either_way
from personae.social.actors import actor_image
from personae.social.models import Actor

MAX_TITLE = 200
MAX_SCENARIO = 20_000
# A scene's cast: enough for any group chat people hold (Kindroid's groups stop at 10).
MAX_CHARACTERS = 50
MAX_PEOPLE = 50
DEFAULT_TALKATIVENESS = 0.5


def check_text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    """A text field as stored: no NUL (PostgreSQL cannot hold it), within its limit."""
    if "\x00" in value:
        raise Invalid(f"{field} must not contain NUL characters", "bad_text")
    if len(value) > limit:
        raise Invalid(f"{field} is longer than {limit} characters", "field_too_long")
    if required and not value.strip():
        raise Invalid(f"{field} must not be empty", "empty_field")
    return value


def check_backend(backend: str | None, backends: Collection[str]) -> str | None:
    """A per-scene backend must be one this instance has (None: the character's own)."""
    if backend is None:
        return None
    if backend not in backends:
        raise Invalid(
            f"no backend named '{backend}'; choose one of {', '.join(sorted(backends))}",
            "unknown_backend",
        )
    return backend


def check_fraction(value: float, field: str) -> float:
    """A number from 0 to 1 (talkativeness)."""
    if not 0 <= value <= 1:
        raise Invalid(f"{field} must be a number from 0 to 1", "bad_number")
    return float(value)


async def _next_position(session: AsyncSession, scene_id: str) -> int:
    top = await session.scalar(
        select(func.max(Participant.position)).where(Participant.conversation_id == scene_id)
    )
    return int(top if top is not None else -1) + 1


async def _add_participant(session: AsyncSession, participant: Participant) -> None:
    """Insert a participant; two requests adding at once lose cleanly (409), not a 500."""
    try:
        async with session.begin_nested():
            session.add(participant)
    except IntegrityError:
        raise Conflict(
            "someone changed this scene's members at the same moment; try again",
            "members_changed",
        ) from None


def _join(session: AsyncSession, scene_id: str, participant: Participant, at: datetime) -> None:
    participant.status = MEMBER
    participant.left_at = None
    session.add(
        ScenePresence(conversation_id=scene_id, participant_id=participant.id, joined_at=at)
    )


async def _leave(
    session: AsyncSession, data: SceneData, participant: Participant, status: str
) -> None:
    at = utcnow()
    participant.status = status
    participant.left_at = at
    for interval in data.presence_of(participant.id):
        if interval.left_at is None:
            interval.left_at = at
    await session.flush()


async def announce_members(session: AsyncSession, scene_id: str) -> SceneData:
    """Tell the scene's viewers (after commit) who takes part now; the reloaded scene."""
    await session.flush()
    data = await load_scene(session, scene_id)
    if data is None:
        raise NotFound(NO_SCENE)
    members = [m.model_dump() for m in views.members_out(data)]
    await events.emit(session, SceneLive(scene_id, MEMBERS, {"members": members}))
    return data


async def _blocks_between(session: AsyncSession, actor_id: str, others: Collection[str]) -> bool:
    """Whether a block stands between the actor and any of `others` (either way; a block
    between people covers their characters, see `social.access.blocks_and_mutes`)."""
    actor = await session.get(Actor, actor_id)
    if actor is None or not others:
        return False
    return bool(await blocked_either_way(session, actor) & set(others))


async def _check_character_allowed(
    session: AsyncSession, owner: Account, data: SceneData | None, character: Character
) -> None:
    """The owner may chat with it, and no person in the scene is blocked from it."""
    if not await may_chat(session, owner, character):
        raise NotFound(f"no character '{character.handle}'")
    people = [owner.id]
    if data is not None:
        people = sorted({p.account_id for p in data.members(PERSON) if p.account_id} | {owner.id})
    for person_id in people:
        if await _blocks_between(session, person_id, [character.id]):
            raise Invalid(f"{character.name} cannot be added to this scene", "cannot_add_character")


GREETING = "greeting"


def greetings_of(character: Character) -> list[str]:
    """A card's greetings for a group: `first_mes` first (the one shown), then the
    alternates and the group-only ones (Character Card V3 keeps those for group chats)."""
    found = [character.first_mes, *character.alternate_greetings, *character.group_only_greetings]
    return [g for g in found if isinstance(g, str) and g.strip()]


async def _greet(
    session: AsyncSession,
    conversation: Conversation,
    participant: Participant,
    character: Character,
    user_name: str,
    at: datetime,
) -> Message | None:
    """Post the character's greeting as the scene's opening message (its other greetings
    as swipes of it), rendered for the owner's persona, as a one-to-one chat opens."""
    ctx = macro_context(character, user_name, conversation.id)
    first: Message | None = None
    for index, text in enumerate(greetings_of(character)):
        message = Message(
            id=new_id(),
            conversation_id=conversation.id,
            role="assistant",
            participant_id=participant.id,
            content=render(text, ctx),
            reason=GREETING,
            is_greeting=True,
            # A microsecond apart: swipes are ordered by time, and `first_mes` comes first.
            created_at=at + timedelta(microseconds=index),
        )
        session.add(message)
        await session.flush()
        first = first or message
    if first is not None:
        conversation.active_leaf_id = first.id
        await session.flush()
    return first


async def _is_empty(session: AsyncSession, scene_id: str) -> bool:
    """Whether nothing has been said in the scene yet (on any branch)."""
    said = await session.scalar(
        select(func.count(Message.id)).where(Message.conversation_id == scene_id)
    )
    return not said


async def create_scene(
    session: AsyncSession,
    account: Account,
    title: str,
    *,
    scenario: str = "",
    visibility: str = "private",
    mode: str = "natural",
    allow_self: bool = False,
    characters: Collection[str] = (),
    persona_id: str | None = None,
    seed: str | None = None,
) -> SceneData:
    """Open a scene owned by the caller, with the characters named by handle."""
    title = " ".join(check_text(title, "title", MAX_TITLE, required=True).split())
    check_text(scenario, "scenario", MAX_SCENARIO)
    if visibility not in VISIBILITIES:
        raise Invalid(f"visibility must be one of {', '.join(VISIBILITIES)}", "bad_visibility")
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}", "bad_mode")
    if len(characters) > MAX_CHARACTERS:
        raise Invalid(f"a scene has at most {MAX_CHARACTERS} characters", "too_many")
    persona = (
        await get_persona(session, account, persona_id)
        if persona_id
        else await default_persona(session, account)
    )
    cast: list[Character] = []
    for handle in characters:
        check_text(handle, "characters", 300)
        character = await get_character(session, account, handle.strip().lstrip("@"))
        await _check_character_allowed(session, account, None, character)
        if any(c.id == character.id for c in cast):
            raise Invalid(f"{character.name} is named twice", "duplicate_character")
        cast.append(character)
    now = utcnow()
    conversation = Conversation(
        id=new_id(), owner_id=account.id, title=title, kind=SCENE, created_at=now, updated_at=now
    )
    scene = Scene(
        conversation_id=conversation.id,
        scenario=scenario,
        visibility=visibility,
        mode=mode,
        allow_self=allow_self,
        seed=seed if seed is not None else secrets.token_hex(8),
    )
    session.add_all([conversation, scene])
    await session.flush()
    owner = Participant(
        id=new_id(),
        conversation_id=conversation.id,
        kind=PERSON,
        role=OWNER,
        account_id=account.id,
        persona_id=persona.id,
        position=0,
        joined_at=now,
    )
    session.add(owner)
    # The first cast joins at the scene's creation: no "joined" notice for them.
    _join(session, conversation.id, owner, now)
    greeter: tuple[Participant, Character] | None = None
    for position, character in enumerate(cast, start=1):
        member = Participant(
            id=new_id(),
            conversation_id=conversation.id,
            kind=CHARACTER,
            role=CHARACTER,
            character_id=character.id,
            position=position,
            joined_at=now,
            talkativeness=DEFAULT_TALKATIVENESS,
        )
        session.add(member)
        _join(session, conversation.id, member, now)
        if greeter is None and greetings_of(character):
            greeter = (member, character)
    await session.flush()
    # One opening message, by the first character that has a greeting: every member's
    # greeting at once would be a pile of monologues nobody answered.
    if greeter is not None:
        await _greet(session, conversation, *greeter, persona.name, now)
    data = await load_scene(session, conversation.id)
    assert data is not None
    return data


async def list_scenes(
    session: AsyncSession, account: Account, limit: int = 100
) -> tuple[list[SceneAccess], list[SceneAccess]]:
    """The caller's scenes (owned or joined), newest activity first, and invitations."""
    rows = await session.execute(
        select(Conversation.id, Participant.status)
        .join(Participant, Participant.conversation_id == Conversation.id)
        .where(
            Conversation.kind == SCENE,
            Participant.kind == PERSON,
            Participant.account_id == account.id,
            Participant.status.in_((MEMBER, INVITED)),
        )
        .order_by(Conversation.updated_at.desc())
        .limit(max(1, min(limit, 200)))
    )
    scenes: list[SceneAccess] = []
    invitations: list[SceneAccess] = []
    for scene_id, status in rows.all():
        data = await load_scene(session, scene_id)
        if data is None:
            continue
        role, me = role_of(data, account)
        if role is None:
            continue
        access = SceneAccess(data, account, role, me)
        (invitations if status == INVITED else scenes).append(access)
    return scenes, invitations


async def update_scene(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    *,
    title: str | None = None,
    scenario: str | None = None,
    visibility: str | None = None,
    mode: str | None = None,
    allow_self: bool | None = None,
    lorebook_id: str | None = None,
    lorebook_given: bool = False,
) -> SceneData:
    """Change the scene's settings (owner only); `lorebook_given` with `lorebook_id` None
    takes the scene's lorebook away."""
    access = await scene_for(session, account, scene_id, "owner")
    conversation, scene = access.data.conversation, access.data.scene
    if lorebook_given:
        scene.lorebook_id = await check_lorebook(session, account, lorebook_id)
    if title is not None:
        conversation.title = " ".join(check_text(title, "title", MAX_TITLE, required=True).split())
    if scenario is not None:
        scene.scenario = check_text(scenario, "scenario", MAX_SCENARIO)
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise Invalid(f"visibility must be one of {', '.join(VISIBILITIES)}", "bad_visibility")
        scene.visibility = visibility
    if mode is not None:
        if mode not in MODES:
            raise Invalid(f"mode must be one of {', '.join(MODES)}", "bad_mode")
        scene.mode = mode
    if allow_self is not None:
        scene.allow_self = allow_self
    conversation.updated_at = utcnow()
    await session.flush()
    await events.emit(session, SceneLive(scene_id, SCENE_EVENT, {"changed": True}))
    return access.data


async def check_lorebook(
    session: AsyncSession, account: Account, lorebook_id: str | None
) -> str | None:
    """A lorebook the owner may use for a scene: their own, or one they may read through a
    character they can see (the same rule as reading it); None clears it."""
    if lorebook_id is None:
        return None
    check_text(lorebook_id, "lorebook_id", 32)
    try:
        book = await get_lorebook(session, account, lorebook_id)
    except NotFound:
        raise NotFound(f"no lorebook '{lorebook_id}' that you may use") from None
    return book.id


async def lorebook_choices(
    session: AsyncSession, account: Account, current: str | None
) -> list[tuple[str, str]]:
    """(id, name) of the lorebooks to offer the owner: their own, and the scene's present
    one when it came from elsewhere (so saving the settings does not drop it)."""
    books = list(
        await session.scalars(
            select(Lorebook)
            .where(Lorebook.owner_id == account.id)
            .order_by(Lorebook.name, Lorebook.id)
            .limit(200)
        )
    )
    if current is not None and all(b.id != current for b in books):
        # One no longer usable is left out: the prompts skip it too; the owner may clear it.
        with contextlib.suppress(NotFound):
            books.insert(0, await get_lorebook(session, account, current))
    return [(b.id, b.name or b.id) for b in books]


async def member_avatar(
    session: AsyncSession, account: Account | None, scene_id: str, participant_id: str
) -> tuple[bytes, str]:
    """A member's avatar (bytes and type) for whoever may read the scene; 404 otherwise."""
    access = await scene_for(session, account, scene_id, "read")
    participant = access.data.participant(participant_id)
    if participant is None:
        raise NotFound("no such member in this scene")
    image = None
    if participant.kind == CHARACTER and participant.character_id:
        character = await session.scalar(
            select(Character)
            .where(Character.id == participant.character_id)
            .options(undefer(Character.avatar))
        )
        if character is not None and character.avatar:
            image = (bytes(character.avatar), character.avatar_mime)
    elif participant.account_id:
        actor = await session.get(Actor, participant.account_id)
        image = await actor_image(session, actor, "avatar") if actor is not None else None
    if image is None:
        raise NotFound("this member has no avatar")
    return image


async def delete_scene(session: AsyncSession, account: Account, scene_id: str) -> None:
    """Delete a scene with everything in it (owner only)."""
    access = await scene_for(session, account, scene_id, "owner")
    await session.delete(access.data.conversation)
    await session.flush()
    await events.emit(session, SceneLive(scene_id, SCENE_EVENT, {"deleted": True}))


async def add_character(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    handle: str,
    *,
    talkativeness: float | None = None,
    backend: str | None = None,
    backends: Collection[str] = (),
) -> Participant:
    """Add a character the owner may chat with; one that left before comes back."""
    access = await scene_for(session, account, scene_id, "owner")
    data = access.data
    check_text(handle, "character", 300)
    character = await get_character(session, account, handle.strip().lstrip("@"))
    await _check_character_allowed(session, account, data, character)
    backend = check_backend(backend, backends)
    existing = next((p for p in data.participants if p.character_id == character.id), None)
    if existing is not None and existing.status == MEMBER:
        raise Conflict(f"{character.name} is in this scene already", "already_member")
    if len(data.members(CHARACTER)) >= MAX_CHARACTERS:
        raise Invalid(f"a scene has at most {MAX_CHARACTERS} characters", "too_many")
    now = utcnow()
    if existing is not None:
        # Claim the comeback atomically: two adds at once must not both rejoin it.
        claimed = await session.execute(
            update(Participant)
            .where(Participant.id == existing.id, Participant.status != MEMBER)
            .values(status=MEMBER, left_at=None)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"{character.name} is in this scene already", "already_member")
        participant = existing
    else:
        participant = Participant(
            id=new_id(),
            conversation_id=scene_id,
            kind=CHARACTER,
            role=CHARACTER,
            character_id=character.id,
            position=await _next_position(session, scene_id),
            joined_at=now,
        )
        await _add_participant(session, participant)
    if talkativeness is not None:
        participant.talkativeness = check_fraction(talkativeness, "talkativeness")
    if backend is not None:
        participant.backend = backend
    _join(session, scene_id, participant, now)
    data.conversation.updated_at = now
    greeting = None
    if await _is_empty(session, scene_id) and greetings_of(character):
        owner = data.person_of(data.conversation.owner_id)
        persona = data.personas.get(owner.persona_id or "") if owner is not None else None
        user_name = persona.name if persona is not None else account.display_name
        greeting = await _greet(session, data.conversation, participant, character, user_name, now)
    fresh = await announce_members(session, scene_id)
    if greeting is not None:
        said = await all_messages(session, scene_id)
        out = views.message_out(fresh, greeting, siblings_of(said, greeting))
        await events.emit(session, SceneLive(scene_id, MESSAGE, out.model_dump()))
    return participant


async def invite_person(
    session: AsyncSession, account: Account, scene_id: str, username: str
) -> Participant:
    """Invite a person by username; they join when they accept."""
    access = await scene_for(session, account, scene_id, "invite")
    data = access.data
    check_text(username, "person", 300)
    try:
        invitee = await get_account_by_username(session, username.strip().lstrip("@"))
    except NotFound:
        raise NotFound(f"no person named '{username}'") from None
    present = {p.account_id for p in data.members(PERSON) if p.account_id}
    present |= {p.character_id for p in data.members(CHARACTER) if p.character_id}
    if await _blocks_between(session, invitee.id, present):
        raise Invalid(f"{invitee.username} cannot be added to this scene", "cannot_add_person")
    existing = data.person_of(invitee.id)
    if existing is not None and existing.status in (MEMBER, INVITED):
        what = "takes part already" if existing.status == MEMBER else "is invited already"
        raise Conflict(f"{invitee.username} {what}", "already_member")
    if len(data.members(PERSON)) >= MAX_PEOPLE:
        raise Invalid(f"a scene has at most {MAX_PEOPLE} people", "too_many")
    if existing is not None:
        claimed = await session.execute(
            update(Participant)
            .where(Participant.id == existing.id, Participant.status.in_((DECLINED, LEFT)))
            .values(status=INVITED, invited_by=account.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"{invitee.username} is invited already", "already_member")
        existing.status, existing.invited_by = INVITED, account.id
        participant = existing
    else:
        participant = Participant(
            id=new_id(),
            conversation_id=scene_id,
            kind=PERSON,
            role="member",
            account_id=invitee.id,
            position=await _next_position(session, scene_id),
            status=INVITED,
            invited_by=account.id,
        )
        await _add_participant(session, participant)
    await announce_members(session, scene_id)
    return participant


async def answer_invitation(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    accept: bool,
    persona_id: str | None = None,
) -> SceneData:
    """Accept (join, with a persona) or decline an invitation; answering twice is a 409."""
    access = await scene_for(session, account, scene_id, "see")
    me = access.me
    if me is None or me.status != INVITED:
        if me is not None and me.status == MEMBER:
            raise Conflict("you take part in this scene already", "already_answered")
        raise NotFound("no invitation to this scene")
    data = access.data
    if accept:
        others = {p.account_id for p in data.members(PERSON) if p.account_id}
        others |= {p.character_id for p in data.members(CHARACTER) if p.character_id}
        if await _blocks_between(session, account.id, others):
            raise Invalid("you cannot join this scene", "cannot_add_person")
    persona = (
        await get_persona(session, account, persona_id)
        if persona_id
        else await default_persona(session, account)
    )
    # The status moves from "invited" exactly once, whoever answers first.
    claimed = await session.execute(
        update(Participant)
        .where(Participant.id == me.id, Participant.status == INVITED)
        .values(status=MEMBER if accept else DECLINED)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this invitation was answered already", "already_answered")
    if accept:
        me.persona_id = persona.id
        now = utcnow()
        me.joined_at = now
        _join(session, scene_id, me, now)
    else:
        me.status = DECLINED
    return await announce_members(session, scene_id)


async def update_member(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    participant_id: str,
    *,
    muted: bool | None = None,
    talkativeness: float | None = None,
    backend: str | None = None,
    backend_given: bool = False,
    backends: Collection[str] = (),
) -> Participant:
    """Mute or unmute a character, set its talkativeness or its backend here (owner)."""
    access = await scene_for(session, account, scene_id, "owner")
    participant = access.data.participant(participant_id)
    if participant is None:
        raise NotFound("no such member in this scene")
    if participant.kind != CHARACTER and (
        muted is not None or talkativeness is not None or backend_given
    ):
        raise Invalid(
            "only characters are muted or given a talkativeness or backend", "not_a_character"
        )
    if muted is not None:
        participant.muted = muted
    if talkativeness is not None:
        participant.talkativeness = check_fraction(talkativeness, "talkativeness")
    if backend_given:
        participant.backend = check_backend(backend, backends)
    await announce_members(session, scene_id)
    return participant


async def remove_member(
    session: AsyncSession, account: Account, scene_id: str, participant_id: str
) -> SceneData:
    """Kick a member (owner) or leave (a person removing themselves).

    A character that is removed stays in the record as "left": its messages keep their
    speaker, and its presence interval ends now.
    """
    access = await scene_for(session, account, scene_id, "see")
    data = access.data
    participant = data.participant(participant_id)
    if participant is None:
        raise NotFound("no such member in this scene")
    leaving_myself = access.me is not None and participant.id == access.me.id
    if leaving_myself:
        if access.owner:
            raise Invalid(
                "the owner cannot leave their scene; delete it instead", "owner_cannot_leave"
            )
        if participant.status not in (MEMBER, INVITED):
            raise Conflict("you are not in this scene", "not_a_member")
    else:
        if access.role == "invited":
            raise NotFound(NO_SCENE)
        if not access.owner:
            raise Forbidden("only the scene's owner can remove members")
        if participant.status not in (MEMBER, INVITED):
            raise Conflict("they are not in this scene", "not_a_member")
    if participant.status == INVITED:
        participant.status = LEFT
        await session.flush()
    else:
        await _leave(session, data, participant, LEFT)
    data.conversation.updated_at = utcnow()
    return await announce_members(session, scene_id)
