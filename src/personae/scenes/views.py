"""What the API shows of a scene: members, messages, who speaks next, auto-mode.

Plain functions from loaded rows to the typed answers of `schemas.py`, shared by the JSON
routes, the live events and the pages.
"""

from __future__ import annotations

from datetime import datetime

from personae import clock
from personae.accounts.models import Account
from personae.chat.formatting import message_html
from personae.chat.models import CHARACTER, Message
from personae.chat.service import path_to
from personae.scenes import turns
from personae.scenes.access import Participant, SceneAccess, SceneData
from personae.scenes.models import Scene
from personae.scenes.schemas import (
    AutoOut,
    GenerationOut,
    MemberOut,
    NextOut,
    PersonRef,
    SceneMessageOut,
    SceneOut,
    SceneSummary,
    SpeakerOut,
    SwipeOut,
)


def iso(moment: datetime | None) -> str | None:
    """A time as the API writes it."""
    return moment.isoformat() if moment is not None else None


def person_ref(account: Account | None) -> PersonRef:
    """A person as scenes name them."""
    if account is None:
        return PersonRef(username="", display_name="(gone)")
    return PersonRef(username=account.username, display_name=account.display_name)


def avatar_url(data: SceneData, participant: Participant, *, in_scene: bool = True) -> str | None:
    """Where the member's avatar is, or None when it has none (a client shows an initial
    rather than asking for an image that would 404).

    In the scene it is the scene's own address, which answers whoever may read the scene
    (a private character's picture is part of what the scene shows them); outside it (a
    shared transcript) only a picture anyone may see: a person's, a public character's.
    """
    character = data.characters.get(participant.character_id or "")
    if participant.kind == CHARACTER:
        if character is None or not character.avatar_mime:
            return None
    elif participant.account_id not in data.pictured:
        return None
    if in_scene:
        return f"/api/v1/scenes/{data.id}/members/{participant.id}/avatar"
    handle = data.handle_of(participant)
    if character is not None:
        visible = character.visibility in ("public", "unlisted")
        return f"/api/v1/characters/{handle}/avatar" if visible else None
    return f"/api/v1/actors/{handle}/avatar" if handle else None


def member_out(data: SceneData, participant: Participant, *, in_scene: bool = True) -> MemberOut:
    """One participant; every character is labelled AI."""
    is_character = participant.kind == CHARACTER
    character = data.characters.get(participant.character_id or "") if is_character else None
    handle = data.handle_of(participant)
    avatar = avatar_url(data, participant, in_scene=in_scene)
    return MemberOut(
        id=participant.id,
        kind="character" if is_character else "person",
        name=data.name_of(participant),
        handle=handle,
        avatar_url=avatar,
        is_ai=bool(character.is_ai) if character is not None else is_character,
        status=participant.status,
        muted=participant.muted,
        talkativeness=participant.talkativeness,
        backend=participant.backend,
        joined_at=participant.joined_at.isoformat(),
        left_at=iso(participant.left_at),
    )


def members_out(data: SceneData, *, all_statuses: bool = True) -> list[MemberOut]:
    """The participants (members first, then the invited and those who left)."""
    order = {"member": 0, "invited": 1, "left": 2, "declined": 3}
    shown = [p for p in data.participants if all_statuses or p.status == "member"]
    shown.sort(key=lambda p: (order.get(p.status, 4), p.position))
    return [member_out(data, p) for p in shown]


def speaker_out(data: SceneData, participant_id: str | None) -> SpeakerOut:
    """Who said a message (a participant removed since: nobody, named "(gone)")."""
    participant = data.participant(participant_id)
    if participant is None:
        return SpeakerOut(participant_id=None, kind=None, name="(gone)", handle="", is_ai=False)
    member = member_out(data, participant)
    return SpeakerOut(
        participant_id=participant.id,
        kind=member.kind,
        name=member.name,
        handle=member.handle,
        is_ai=member.is_ai,
    )


def message_out(data: SceneData, message: Message, siblings: list[Message]) -> SceneMessageOut:
    """One message with its speaker, reason, swipe position and generation record."""
    ids = [s.id for s in siblings] or [message.id]
    generation = None
    if message.backend is not None:
        generation = GenerationOut(
            backend=message.backend,
            model=message.model,
            prompt_tokens=message.prompt_tokens,
            completion_tokens=message.completion_tokens,
            cached_tokens=message.cached_tokens,
            ttft_ms=message.ttft_ms,
            duration_ms=message.duration_ms,
            finish_reason=message.finish_reason,
        )
    return SceneMessageOut(
        id=message.id,
        parent_id=message.parent_id,
        role="user" if message.role == "user" else "assistant",
        speaker=speaker_out(data, message.participant_id),
        content=message.content,
        html=message_html(message.content),
        reason=message.reason,
        is_greeting=bool(message.is_greeting),
        created_at=message.created_at.isoformat(),
        edited_at=iso(message.edited_at),
        swipe=SwipeOut(
            index=ids.index(message.id) if message.id in ids else 0, count=len(ids), sibling_ids=ids
        ),
        generation=generation,
    )


def shown_messages(data: SceneData, messages: list[Message]) -> list[SceneMessageOut]:
    """The messages of the shown branch, oldest first."""
    children: dict[str | None, list[Message]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m)
    path = path_to(messages, data.conversation.active_leaf_id)
    return [message_out(data, m, children.get(m.parent_id, [m])) for m in path]


def turn_members(data: SceneData) -> list[turns.Member]:
    """The character members as turn-taking sees them (those who left are absent)."""
    out: list[turns.Member] = []
    for p in data.participants:
        if p.kind != CHARACTER or p.status not in ("member", "left"):
            continue
        out.append(
            turns.Member(
                participant_id=p.id,
                name=data.name_of(p),
                handle=data.handle_of(p),
                talkativeness=p.talkativeness,
                muted=p.muted,
                present=p.status == "member",
            )
        )
    return out


def spoken(data: SceneData, path: list[Message]) -> list[turns.SpokenTurn]:
    """The shown branch as turn-taking sees it."""
    out: list[turns.SpokenTurn] = []
    for m in path:
        participant = data.participant(m.participant_id)
        is_person = m.role == "user" if participant is None else participant.kind != CHARACTER
        out.append(turns.SpokenTurn(m.participant_id or "", is_person, m.content))
    return out


def next_out(data: SceneData, choice: turns.Choice) -> NextOut:
    """A choice as the API shows it."""
    participant = data.participant(choice.participant_id)
    return NextOut(
        participant_id=choice.participant_id,
        name=data.name_of(participant) if participant is not None else None,
        reason=choice.reason,
    )


def preview_next(data: SceneData, path: list[Message]) -> NextOut:
    """Who would speak next now ("who speaks next" in the UI)."""
    members = turn_members(data)
    history = spoken(data, path)
    scene = data.scene
    if history and history[-1].is_person:
        choices = turns.speakers_after_person(
            scene.mode,
            members,
            history,
            allow_self=scene.allow_self,
            seed=scene.seed,
            turn_index=len(history),
        )
        if choices:
            return next_out(data, choices[0])
    if not history:
        return NextOut(participant_id=None, name=None, reason="a person should speak")
    choice = turns.next_after_character(
        scene.mode,
        members,
        history,
        allow_self=scene.allow_self,
        seed=scene.seed,
        turn_index=len(history),
    )
    return next_out(data, choice)


def today() -> str:
    """The day auto-mode's token budget is counted for (UTC)."""
    return clock.now().date().isoformat()


def auto_out(scene: Scene, paused: str | None = None) -> AutoOut:
    """Auto-mode's state; `paused` overrides the stored reason (a person typing now)."""
    used_today = scene.auto_tokens_used if scene.auto_tokens_day == today() else 0
    return AutoOut(
        on=scene.auto_on,
        delay_s=scene.auto_delay_s,
        turns_left=max(0, scene.auto_turn_budget - scene.auto_turns_used),
        tokens_left_today=max(0, scene.auto_tokens_per_day - used_today),
        paused_reason=paused or scene.auto_paused_reason,
    )


def scene_out(
    access: SceneAccess,
    messages: list[Message],
    *,
    busy: bool = False,
    paused: str | None = None,
) -> SceneOut:
    """The whole scene as the caller may see it (an invitation: the title and inviter)."""
    data = access.data
    invited = access.role == "invited" and data.scene.visibility != "public"
    inviter = None
    if access.me is not None and access.me.invited_by:
        inviter = person_ref(data.accounts.get(access.me.invited_by))
    path = path_to(messages, data.conversation.active_leaf_id)
    return SceneOut(
        id=data.id,
        title=data.conversation.title,
        scenario="" if invited else data.scene.scenario,
        visibility=data.scene.visibility,
        mode=data.scene.mode,
        allow_self=data.scene.allow_self,
        lorebook_id=None if invited else data.scene.lorebook_id,
        owner=person_ref(data.accounts.get(data.conversation.owner_id)),
        my_role=access.role,
        invited_by=inviter,
        members=[] if invited else members_out(data),
        messages=[] if invited else shown_messages(data, messages),
        next=NextOut(participant_id=None, name=None, reason="")
        if invited
        else preview_next(data, path),
        auto=auto_out(data.scene, paused),
        busy=busy,
        created_at=data.conversation.created_at.isoformat(),
        updated_at=data.conversation.updated_at.isoformat(),
    )


def summary_out(access: SceneAccess) -> SceneSummary:
    """A scene as listed."""
    data = access.data
    inviter = None
    if access.me is not None and access.me.invited_by:
        inviter = person_ref(data.accounts.get(access.me.invited_by))
    return SceneSummary(
        id=data.id,
        title=data.conversation.title,
        visibility=data.scene.visibility,
        mode=data.scene.mode,
        owner=person_ref(data.accounts.get(data.conversation.owner_id)),
        my_role=access.role,
        invited_by=inviter,
        characters=[data.name_of(p) for p in data.members(CHARACTER)],
        people=[data.name_of(p) for p in data.members("person")],
        updated_at=data.conversation.updated_at.isoformat(),
    )
