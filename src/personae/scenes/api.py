"""Scenes API: thin routes over the scene services, the conductor and the live hub.

Routes that start replies own their transactions (as chat's do): what the person did is
committed before the conductor's task starts, and no request-long transaction holds the
database while replies are written (SQLite has one writer).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response, StreamingResponse

from personae import sse
from personae.accounts.models import Account
from personae.chat.service import all_messages
from personae.db import transaction
from personae.deps import (
    BEARER,
    DB,
    CurrentAccount,
    OptionalAccount,
    State,
    current_account,
    optional_account,
)
from personae.errors import Conflict, DomainError, Invalid, TooLarge
from personae.image_http import image_response
from personae.scenes import auto, importing, messages, service, sharing, turns, views
from personae.scenes.access import scene_for
from personae.scenes.conductor import conductor_of
from personae.scenes.events import ERROR, MEMBERS, SCENE, START, TOKEN
from personae.scenes.hub import CLOSED, HUB
from personae.scenes.schemas import (
    AcceptedOut,
    AutoIn,
    AutoOut,
    BranchIn,
    ImportOut,
    InvitationAnswer,
    InvitationOut,
    MemberIn,
    MemberOut,
    MemberPatch,
    MembersOut,
    MessageEditIn,
    NextOut,
    PostedOut,
    SceneIn,
    SceneList,
    SceneMessageIn,
    SceneMessageOut,
    SceneOut,
    ScenePatch,
    SharedOut,
    ShareIn,
    ShareOut,
    SpeakIn,
    StopOut,
)
from personae.scenes.sillytavern import MAX_BYTES
from personae.state import AppState

router = APIRouter(prefix="/api/v1", tags=["scenes"])
# A stream ends after this long and the browser reconnects (proxies drop idle streams).
STREAM_LIFETIME_S = 600.0
KEEPALIVE_S = 15.0


async def acting_account(
    request: Request,
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Account:
    """The caller, authenticated in a unit of work of its own, committed at once (routes
    that start replies own their transactions)."""
    async with transaction(state.sessions) as session:
        return await current_account(await optional_account(request, session, bearer))


ActingAccount = Annotated[Account, Depends(acting_account)]


async def _scene_out(db: DB, account: Account | None, scene_id: str, state: AppState) -> SceneOut:
    access = await scene_for(db, account, scene_id, "see")
    found = [] if access.role == "invited" else await all_messages(db, scene_id)
    conductor = conductor_of(state)
    return views.scene_out(
        access, found, busy=conductor.busy(scene_id), paused=conductor.paused(scene_id)
    )


@router.post("/scenes", status_code=201)
async def create_scene(body: SceneIn, account: CurrentAccount, db: DB, state: State) -> SceneOut:
    """Open a scene with some characters; the caller owns it."""
    data = await service.create_scene(
        db,
        account,
        body.title,
        scenario=body.scenario,
        visibility=body.visibility,
        mode=body.mode,
        allow_self=body.allow_self,
        characters=body.characters,
        persona_id=body.persona_id,
    )
    return await _scene_out(db, account, data.id, state)


@router.get("/scenes")
async def list_scenes(account: CurrentAccount, db: DB) -> SceneList:
    """The caller's scenes and the invitations waiting for an answer."""
    mine, invited = await service.list_scenes(db, account)
    return SceneList(
        scenes=[views.summary_out(a) for a in mine],
        invitations=[views.summary_out(a) for a in invited],
    )


@router.post("/scenes/import", status_code=201)
async def import_scene(request: Request, account: CurrentAccount, db: DB) -> ImportOut:
    """A scene from a SillyTavern group file: multipart `file`, or the file's JSON as the
    body. Members no character matched are listed in `missing`."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("file: send the SillyTavern group file as `file`", "no_file")
        data = await upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise TooLarge("the group file is larger than 1 MB", "too_large")
    else:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BYTES:
            raise TooLarge("the group file is larger than 1 MB", "too_large")
        data = await request.body()
    return await importing.import_group(db, account, data)


@router.get("/scenes/{scene_id}")
async def get_scene(scene_id: str, account: OptionalAccount, db: DB, state: State) -> SceneOut:
    """A scene with its members, its shown messages, who speaks next and auto-mode."""
    return await _scene_out(db, account, scene_id, state)


@router.patch("/scenes/{scene_id}")
async def update_scene(
    scene_id: str, body: ScenePatch, account: CurrentAccount, db: DB, state: State
) -> SceneOut:
    """Change the title, scenario, visibility, mode, self-responses or lorebook (owner)."""
    fields = body.model_dump(exclude_unset=True)
    # `lorebook_id: null` clears the lorebook, so "given" and "null" are told apart.
    fields["lorebook_given"] = "lorebook_id" in fields
    await service.update_scene(db, account, scene_id, **fields)
    return await _scene_out(db, account, scene_id, state)


@router.delete("/scenes/{scene_id}", status_code=204)
async def delete_scene(scene_id: str, account: ActingAccount, state: State) -> None:
    """Delete the scene and everything in it (owner); replies being written stop."""
    async with transaction(state.sessions) as session:
        await scene_for(session, account, scene_id, "owner")
    await conductor_of(state).stop(scene_id)
    async with transaction(state.sessions) as session:
        await service.delete_scene(session, account, scene_id)
    HUB.close(scene_id)


@router.post("/scenes/{scene_id}/members", status_code=201)
async def add_member(
    scene_id: str, body: MemberIn, account: CurrentAccount, db: DB, state: State
) -> MemberOut:
    """Add a character (owner) or invite a person (the owner; any member if invite-only)."""
    if body.character is not None:
        participant = await service.add_character(
            db,
            account,
            scene_id,
            body.character,
            talkativeness=body.talkativeness,
            backend=body.backend,
            backends=state.backends.names(),
        )
    else:
        assert body.person is not None
        participant = await service.invite_person(db, account, scene_id, body.person)
    access = await scene_for(db, account, scene_id, "read")
    return views.member_out(access.data, participant)


@router.get(
    "/scenes/{scene_id}/members/{participant_id}/avatar",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
async def member_avatar(
    scene_id: str,
    participant_id: str,
    request: Request,
    account: OptionalAccount,
    db: DB,
    state: State,
    size: Annotated[int | None, Query(description="Thumbnail size in px (96 or 192)")] = None,
) -> Response:
    """A member's avatar for whoever may read the scene (a private character's too)."""
    image, mime = await service.member_avatar(db, account, scene_id, participant_id)
    return await image_response(request, image, mime, "avatar", size, state.settings.data_dir)


@router.patch("/scenes/{scene_id}/members/{participant_id}")
async def update_member(
    scene_id: str,
    participant_id: str,
    body: MemberPatch,
    account: CurrentAccount,
    db: DB,
    state: State,
) -> MemberOut:
    """Mute, set talkativeness, or a backend for this scene (null: its own) (owner)."""
    given = body.model_fields_set
    participant = await service.update_member(
        db,
        account,
        scene_id,
        participant_id,
        muted=body.muted,
        talkativeness=body.talkativeness,
        backend=body.backend,
        backend_given="backend" in given,
        backends=state.backends.names(),
    )
    access = await scene_for(db, account, scene_id, "read")
    return views.member_out(access.data, participant)


@router.delete("/scenes/{scene_id}/members/{participant_id}")
async def remove_member(
    scene_id: str, participant_id: str, account: CurrentAccount, db: DB
) -> MembersOut:
    """Kick a member (owner) or leave (yourself)."""
    data = await service.remove_member(db, account, scene_id, participant_id)
    return MembersOut(members=views.members_out(data))


@router.post("/scenes/{scene_id}/invitation")
async def answer_invitation(
    scene_id: str, body: InvitationAnswer, account: CurrentAccount, db: DB, state: State
) -> InvitationOut:
    """Accept (join: the scene) or decline (nothing more of the scene is shown)."""
    await service.answer_invitation(db, account, scene_id, body.accept)
    if body.accept:
        return InvitationOut(accepted=True, scene=await _scene_out(db, account, scene_id, state))
    return InvitationOut(accepted=False, scene=None)


@router.post("/scenes/{scene_id}/messages", status_code=201)
async def post_message(
    scene_id: str, body: SceneMessageIn, account: ActingAccount, state: State
) -> PostedOut:
    """Say something; the characters who answer (`speakers`) reply over the event stream."""
    conductor = conductor_of(state)
    run = conductor.claim(scene_id)
    try:
        async with transaction(state.sessions) as session:
            posted = await messages.post_message(
                session,
                account,
                scene_id,
                body.content,
                parent_id=body.parent_id,
                persona_id=body.persona_id,
                max_chars=state.settings.max_message_chars,
            )
            speakers = [views.next_out(posted.data, c) for c in posted.choices]
            if posted.director:
                speakers = [NextOut(participant_id=None, name=None, reason="the director decides")]
    except BaseException:
        conductor.release(run)
        raise
    conductor.start(run, posted.choices, director=posted.director)
    return PostedOut(message=posted.out, speakers=speakers)


@router.post("/scenes/{scene_id}/speak", status_code=202)
async def speak(scene_id: str, body: SpeakIn, account: ActingAccount, state: State) -> AcceptedOut:
    """Make a character speak now (a tap), in any mode."""
    conductor = conductor_of(state)
    async with transaction(state.sessions) as session:
        data = await messages.check_speaker(session, account, scene_id, body.participant_id)
    run = conductor.claim(scene_id)
    choice = turns.Choice(body.participant_id, "manual")
    conductor.start(run, [choice])
    return AcceptedOut(accepted=True, speakers=[views.next_out(data, choice)])


@router.post("/scenes/{scene_id}/messages/{message_id}/regenerate", status_code=202)
async def regenerate(
    scene_id: str, message_id: str, account: ActingAccount, state: State
) -> AcceptedOut:
    """A new version of a character's message (a swipe), by the same character."""
    conductor = conductor_of(state)
    async with transaction(state.sessions) as session:
        speaker, reason, parent = await messages.regenerate_target(
            session, account, scene_id, message_id
        )
        data = await messages.check_speaker(session, account, scene_id, speaker)
    run = conductor.claim(scene_id)
    choice = turns.Choice(speaker, reason)
    conductor.start(run, [choice], parent_id=parent, swipe_of=message_id)
    return AcceptedOut(accepted=True, speakers=[views.next_out(data, choice)])


@router.patch("/scenes/{scene_id}/messages/{message_id}")
async def edit_message(
    scene_id: str,
    message_id: str,
    body: MessageEditIn,
    account: CurrentAccount,
    db: DB,
    state: State,
) -> SceneMessageOut:
    """Change a message's text (your own; the owner also the characters')."""
    return await messages.edit_message(
        db, account, scene_id, message_id, body.content, state.settings.max_message_chars
    )


@router.delete("/scenes/{scene_id}/messages/{message_id}")
async def delete_message(
    scene_id: str, message_id: str, account: ActingAccount, state: State
) -> SceneOut:
    """Delete a message and what follows it (your own; the owner any)."""
    if conductor_of(state).busy(scene_id):
        raise Conflict("a character is answering in this scene; stop it first", "scene_busy")
    async with transaction(state.sessions) as session:
        await messages.delete_message(session, account, scene_id, message_id)
        return await _scene_out(session, account, scene_id, state)


@router.post("/scenes/{scene_id}/messages/{message_id}/select")
async def select_message(
    scene_id: str, message_id: str, account: CurrentAccount, db: DB, state: State
) -> SceneOut:
    """Show the branch through this message (switch swipes or branches) for everyone."""
    await messages.select_message(db, account, scene_id, message_id)
    return await _scene_out(db, account, scene_id, state)


@router.post("/scenes/{scene_id}/branch", status_code=201)
async def branch(
    scene_id: str, body: BranchIn, account: CurrentAccount, db: DB, state: State
) -> SceneOut:
    """A new scene with the same cast and the history up to a message (owner)."""
    data = await messages.branch_scene(db, account, scene_id, body.message_id)
    return await _scene_out(db, account, data.id, state)


@router.post("/scenes/{scene_id}/auto")
async def set_auto(scene_id: str, body: AutoIn, account: ActingAccount, state: State) -> AutoOut:
    """Turn auto-mode on (owner; a fresh turn budget) or off (any member)."""
    async with transaction(state.sessions) as session:
        scene = await auto.set_auto(
            session,
            account,
            scene_id,
            body.on,
            delay_s=body.delay_s,
            turn_budget=body.turn_budget,
            tokens_per_day=body.tokens_per_day,
        )
        out = views.auto_out(scene, conductor_of(state).paused(scene_id))
    # On: start the loop; off: a waiting loop looks again, sees "off" and ends.
    conductor_of(state).wake_auto(scene_id)
    return out


@router.post("/scenes/{scene_id}/typing", status_code=204)
async def typing(scene_id: str, account: ActingAccount, state: State) -> None:
    """A person is typing: auto-mode waits until they send (or stop typing)."""
    async with transaction(state.sessions) as session:
        access = await scene_for(session, account, scene_id, "member")
        scene = access.data.scene
    conductor = conductor_of(state)
    conductor.typing(scene_id)
    if scene.auto_on:
        HUB.publish(
            scene_id, "auto", views.auto_out(scene, conductor.paused(scene_id)).model_dump()
        )


@router.post("/scenes/{scene_id}/stop")
async def stop(scene_id: str, account: ActingAccount, state: State) -> StopOut:
    """Stop the reply being written (what it wrote is kept) and auto-mode."""
    async with transaction(state.sessions) as session:
        access = await scene_for(session, account, scene_id, "member")
        if access.data.scene.auto_on:
            await auto.set_auto(session, account, scene_id, False, paused=auto.STOPPED)
    stopped = await conductor_of(state).stop(scene_id)
    return StopOut(stopped=stopped)


@router.post("/scenes/{scene_id}/share", status_code=201)
async def share(
    scene_id: str, body: ShareIn, account: CurrentAccount, db: DB, state: State
) -> ShareOut:
    """Publish the scene (or a range of it) as a post linking to its transcript (owner)."""
    return await sharing.share_range(
        db,
        account,
        scene_id,
        from_message_id=body.from_message_id,
        to_message_id=body.to_message_id,
        text=body.text,
        base_url=state.settings.effective_base_url,
    )


@router.get("/scenes/{scene_id}/shared/{share_id}")
async def shared(scene_id: str, share_id: str, account: OptionalAccount, db: DB) -> SharedOut:
    """A shared transcript, for whoever may see its post."""
    return await sharing.shared_transcript(db, account, scene_id, share_id)


@router.get(
    "/scenes/{scene_id}/events",
    response_class=StreamingResponse,
    responses={200: {"description": "Server-sent events", "content": {"text/event-stream": {}}}},
)
async def scene_events(scene_id: str, account: OptionalAccount, db: DB, state: State) -> Response:
    """The scene live: `message`, `start`, `token`, `done`, `error`, `members`, `next`,
    `auto` and `scene` events, the same for every member and watcher at once."""
    await scene_for(db, account, scene_id, "read")
    return sse.stream(_live(scene_id, account, state))


async def _still_allowed(state: AppState, account: Account | None, scene_id: str) -> bool:
    try:
        async with state.sessions() as session:
            await scene_for(session, account, scene_id, "read")
    except DomainError:
        return False
    return True


async def _live(scene_id: str, account: Account | None, state: AppState) -> AsyncIterator[bytes]:
    started = time.monotonic()
    with HUB.subscribe(scene_id) as sub:
        yield sse.frame(retry=3000, comment="scene stream open")
        writing = conductor_of(state).writing(scene_id)
        if writing is not None:  # opened in the middle of a reply: catch up on it
            start = {"participant_id": writing.participant_id, "name": writing.name}
            yield _frame(START, {**start, "reason": writing.reason})
            if writing.text:
                yield _frame(
                    TOKEN, {"participant_id": writing.participant_id, "text": writing.text}
                )
        while time.monotonic() - started < STREAM_LIFETIME_S:
            left = STREAM_LIFETIME_S - (time.monotonic() - started)
            try:
                item = await asyncio.wait_for(sub.queue.get(), min(KEEPALIVE_S, left))
            except TimeoutError:
                yield sse.frame(comment="keep-alive")
                continue
            name, data = item
            if item is CLOSED or name == CLOSED[0]:
                return
            if name == SCENE and data.get("deleted"):
                yield _frame(ERROR, {"code": "not_found", "message": "the scene was deleted"})
                return
            # Someone left or was removed: a stream that may no longer read the scene ends.
            if name in (MEMBERS, SCENE) and not await _still_allowed(state, account, scene_id):
                yield _frame(ERROR, {"code": "not_found", "message": "no such scene"})
                return
            yield _frame(name, data)


def _frame(name: str, data: dict[str, object]) -> bytes:
    return sse.frame(event=name, data=json.dumps(data, ensure_ascii=False))
