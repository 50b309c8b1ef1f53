"""Scene pages: the list (with invitations, the create and import forms), a scene with its
members panel and live replies, and the shared transcript.

Pages read through the scenes services with the viewer built as the JSON API builds it, so
a page never shows what the API would not; anything a viewer may not see is a 404. Actions
on a scene's page are forms here (a 303 back without script, the fragment with htmx);
messages are sent and streamed by `static/js/scene.js` through the JSON API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.chat import service as chats
from personae.db import transaction
from personae.deps import DB, CurrentAccount, State
from personae.errors import DomainError, Invalid
from personae.scenes import auto, importing, sharing, turns
from personae.scenes import messages as scene_messages
from personae.scenes import service as scenes
from personae.scenes import views as scene_views
from personae.scenes.access import scene_for
from personae.scenes.conductor import conductor_of
from personae.scenes.models import MODES, VISIBILITIES
from personae.state import AppState
from personae.uploads import read_upload
from personae.web import i18n
from personae.web.common import PageAccount, is_htmx, page_context
from personae.web.guard import PageRoute
from personae.web.pages import render, thumb_url
from personae.web.tabbed import undo
from personae.web.views import character_cards

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Short = Annotated[str, Form(max_length=200)]
Long = Annotated[str, Form(max_length=20_000)]
IMPORT_LIMIT = 1024 * 1024  # a SillyTavern group file is small (the parser's own limit)


def _dump(value: Any) -> dict[str, Any]:
    """A service answer as plain data for the templates (never ORM objects)."""
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(mode="json"))
    return dict(value)


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "on", "true", "1")


async def _scene(
    db: DB, account: Account | None, scene_id: str, state: AppState | None = None
) -> dict[str, Any]:
    """The scene as the viewer may see it, as the API shows it (404 when they may not);
    with `state`, also whether a reply is being written and why auto-mode waits now."""
    access = await scene_for(db, account, scene_id, "see")
    messages = [] if access.role == "invited" else await chats.all_messages(db, scene_id)
    live: dict[str, Any] = {}
    if state is not None:
        conductor = conductor_of(state)
        live = {"busy": conductor.busy(scene_id), "paused": conductor.paused(scene_id)}
    scene = _dump(scene_views.scene_out(access, messages, **live))
    _thumbnails(scene["members"])
    return scene


def _thumbnails(members: list[dict[str, Any]]) -> None:
    """Members' avatars as small thumbnails; "" where there is none (an initial shows)."""
    for member in members:
        url = member.get("avatar_url") or ""
        member["avatar_url"] = thumb_url(url, 96) if url else ""


async def scene_context(
    db: DB, account: Account | None, scene: dict[str, Any], max_chars: int = 0
) -> dict[str, Any]:
    """Everything the scene page and its fragments show, for one viewer."""
    role = scene.get("my_role", "watcher")
    me = ""
    if account is not None:
        me = next(
            (
                m["id"]
                for m in scene["members"]
                if m["kind"] == "person" and m.get("handle") == account.username
            ),
            "",
        )
    is_owner = role == "owner"
    can_write = role in ("owner", "member")
    addable: list[Any] = []
    lorebooks: list[tuple[str, str]] = []
    if is_owner and account is not None:
        present = {m.get("handle") for m in scene["members"] if m["status"] == "member"}
        addable = [c for c in await character_cards(db, account) if c.handle not in present]
        lorebooks = await scenes.lorebook_choices(db, account, scene.get("lorebook_id"))
    return page_context(
        account,
        active="scenes",
        scene=scene,
        me=me,
        avatars={m["id"]: m.get("avatar_url") or "" for m in scene["members"]},
        is_owner=is_owner,
        can_write=can_write,
        can_invite=is_owner or (can_write and scene.get("visibility") == "invite"),
        addable=addable,
        lorebooks=lorebooks,
        modes=MODES,
        visibilities=VISIBILITIES,
        max_chars=max_chars,
    )


# ---- the list ---------------------------------------------------------------------


async def list_page(
    request: Request,
    db: DB,
    account: Account,
    form: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The viewer's scenes and invitations, with the create and import forms."""
    mine, invited = await scenes.list_scenes(db, account)
    personas = await accounts.list_personas(db, account)
    context = page_context(
        account,
        active="scenes",
        scenes=[_dump(scene_views.summary_out(a)) for a in mine],
        invitations=[_dump(scene_views.summary_out(a)) for a in invited],
        characters=await character_cards(db, account),
        personas=[{"id": p.id, "name": p.name} for p in personas],
        modes=MODES,
        visibilities=VISIBILITIES,
        form=form or {"characters": []},
        error=error,
    )
    return render(request, "scenes/list.html", context, status_code=status_code)


@router.get("/scenes", response_class=HTMLResponse)
async def scenes_page(request: Request, account: CurrentAccount, db: DB) -> Response:
    """The viewer's scenes, invitations first."""
    return await list_page(request, db, account)


@router.post("/scenes")
async def create_scene(
    request: Request,
    account: CurrentAccount,
    db: DB,
    title: Short = "",
    scenario: Long = "",
    mode: Annotated[str, Form(max_length=20)] = "natural",
    visibility: Annotated[str, Form(max_length=20)] = "private",
    allow_self: Annotated[str, Form(max_length=5)] = "",
    persona_id: Annotated[str, Form(max_length=32)] = "",
    character: Annotated[list[str] | None, Form(max_length=32)] = None,
) -> Response:
    """Create a scene from the form and open it; a refused form keeps what was written."""
    handles = list(dict.fromkeys(character or []))[:50]
    fields: dict[str, Any] = {
        "scenario": scenario,
        "mode": mode,
        "visibility": visibility,
        "allow_self": _yes(allow_self),
        "characters": handles,
        "persona_id": persona_id or None,
    }
    try:
        if not handles:
            raise Invalid("pick at least one character for the scene", "no_characters")
        scene = await scenes.create_scene(db, account, title, **fields)
    except DomainError as exc:
        await undo(db, account)
        form = {**fields, "title": title}
        return await list_page(request, db, account, form, exc.message, exc.status_code)
    return RedirectResponse(f"/scenes/{scene.id}", status_code=303)


@router.post("/scenes/import")
async def import_scene(
    request: Request,
    account: CurrentAccount,
    db: DB,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Make a scene from a SillyTavern group file; the scene names who was not found."""
    try:
        if file is None or not file.filename:
            raise DomainError("choose a SillyTavern group file (.json) first", "no_file")
        data = await read_upload(request, file, IMPORT_LIMIT)
        result = _dump(await importing.import_group(db, account, data))
    except DomainError as exc:
        await undo(db, account)
        return await list_page(request, db, account, None, exc.message, exc.status_code)
    scene = result["scene"]
    missing = result.get("missing") or []
    target = f"/scenes/{scene['id']}"
    if missing:
        from urllib.parse import urlencode

        target += "?" + urlencode([("missing", name) for name in missing[:50]])
    return RedirectResponse(target, status_code=303)


@router.post("/scenes/{scene_id}/invitation")
async def answer_invitation(
    scene_id: str,
    account: CurrentAccount,
    db: DB,
    accept: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Accept (and open the scene) or decline (and go back to the list)."""
    yes = _yes(accept)
    await scenes.answer_invitation(db, account, scene_id, yes)
    return RedirectResponse(f"/scenes/{scene_id}" if yes else "/scenes", status_code=303)


# ---- a scene ------------------------------------------------------------------------


@router.get("/scenes/{scene_id}", response_class=HTMLResponse)
async def scene_page(
    scene_id: str,
    request: Request,
    account: PageAccount,
    db: DB,
    missing: Annotated[list[str] | None, Query(max_length=200)] = None,
) -> Response:
    """A scene: for its members to talk in, for an invited person to answer, for anyone
    to watch when it is public (signed out too); a 404 for everyone else."""
    return await full_page(request, db, account, scene_id, missing=(missing or [])[:50])


async def full_page(
    request: Request,
    db: DB,
    account: Account | None,
    scene_id: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The scene's page for this viewer (or the invitation, for an invited person)."""
    scene = await _scene(db, account, scene_id, request.app.state.personae)
    if scene.get("my_role") == "invited":
        inviter = scene.get("invited_by") or scene["owner"]
        context = page_context(
            account, active="scenes", scene=scene, invited_by=inviter["display_name"]
        )
        return render(request, "scenes/invitation.html", context, status_code=status_code)
    settings = request.app.state.personae.settings
    context = await scene_context(db, account, scene, settings.max_message_chars)
    if account is not None and context["can_write"]:
        personas = await accounts.list_personas(db, account)
        context["personas"] = [{"id": p.id, "name": p.name} for p in personas]
        context["persona_id"] = next((p.id for p in personas if p.is_default), "")
    return render(request, "scenes/scene.html", {**context, **extra}, status_code=status_code)


async def _fragment(
    request: Request, db: DB, account: Account | None, scene_id: str, name: str, **extra: Any
) -> HTMLResponse:
    """One part of the scene page, as the page's script (or an htmx form) asks for it."""
    scene = await _scene(db, account, scene_id, request.app.state.personae)
    context = await scene_context(db, account, scene)
    return render(request, f"scenes/_{name}.html", {**context, **extra})


@router.get("/scenes/{scene_id}/messages", response_class=HTMLResponse)
async def messages_fragment(
    scene_id: str, request: Request, account: PageAccount, db: DB
) -> Response:
    """The messages as now shown (after a reply was saved, an edit, a swipe...)."""
    return await _fragment(request, db, account, scene_id, "messages")


@router.get("/scenes/{scene_id}/panel", response_class=HTMLResponse)
async def panel_fragment(scene_id: str, request: Request, account: PageAccount, db: DB) -> Response:
    """The members panel as it is now."""
    return await _fragment(request, db, account, scene_id, "panel")


@router.get("/scenes/{scene_id}/live", response_class=HTMLResponse)
async def live_fragment(scene_id: str, request: Request, account: PageAccount, db: DB) -> Response:
    """Who speaks next, and auto-mode."""
    return await _fragment(request, db, account, scene_id, "live")


# ---- what members do on the page (forms: htmx gets the fragment back) -------------------


def _me(scene: dict[str, Any], account: Account | None) -> str:
    """The viewer's participant id in the scene ("" when they have none)."""
    if account is None:
        return ""
    return next(
        (
            m["id"]
            for m in scene["members"]
            if m["kind"] == "person" and m.get("handle") == account.username
        ),
        "",
    )


async def _act(
    request: Request,
    db: DB,
    account: Account,
    scene_id: str,
    fragment: str,
    action: Callable[[], Awaitable[Any]],
    back: str = "",
) -> Response:
    """Do `action`; answer htmx with the fragment, a plain form with a 303 back to the
    scene. A refusal is named where the form was: in the fragment, or in the whole page
    (with the refusal's status)."""
    try:
        done = await action()
    except DomainError as exc:
        await undo(db, account)
        error = {f"{fragment}_error": exc.message}
        if not is_htmx(request):
            return await full_page(request, db, account, scene_id, exc.status_code, **error)
        return await _fragment(request, db, account, scene_id, fragment, **error)
    if not is_htmx(request):
        return RedirectResponse(back or f"/scenes/{scene_id}", status_code=303)
    extra = done if isinstance(done, dict) else {}
    return await _fragment(request, db, account, scene_id, fragment, **extra)


@router.post("/scenes/{scene_id}/members")
async def add_member(
    scene_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    character: Annotated[str, Form(max_length=300)] = "",
    person: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Add a character (the owner) or invite a person (whoever may invite)."""

    async def action() -> None:
        if character.strip():
            backends = state.backends.names()
            await scenes.add_character(db, account, scene_id, character, backends=backends)
        elif person.strip():
            await scenes.invite_person(db, account, scene_id, person)
        else:
            raise Invalid("name a character to add or a person to invite", "nobody")

    return await _act(request, db, account, scene_id, "panel", action)


@router.post("/scenes/{scene_id}/members/{participant_id}")
async def change_member(
    scene_id: str,
    participant_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    muted: Annotated[str, Form(max_length=5)] = "",
    talkativeness: Annotated[float | None, Form(ge=0, le=1)] = None,
) -> Response:
    """Mute or unmute a character, or set how talkative it is (the owner)."""

    async def action() -> None:
        await scenes.update_member(
            db,
            account,
            scene_id,
            participant_id,
            muted=_yes(muted) if muted else None,
            talkativeness=talkativeness,
        )

    return await _act(request, db, account, scene_id, "panel", action)


@router.post("/scenes/{scene_id}/members/{participant_id}/remove")
async def remove_member(
    scene_id: str, participant_id: str, request: Request, account: CurrentAccount, db: DB
) -> Response:
    """Remove a member (the owner), or leave (yourself: back to the list)."""
    leaving = participant_id == _me(await _scene(db, account, scene_id), account)
    if leaving:
        await scenes.remove_member(db, account, scene_id, participant_id)
        return RedirectResponse("/scenes", status_code=303)

    async def action() -> None:
        await scenes.remove_member(db, account, scene_id, participant_id)

    return await _act(request, db, account, scene_id, "panel", action)


@router.post("/scenes/{scene_id}/speak")
async def speak(
    scene_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    participant_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Make a character speak now (a tap); its reply streams in over the scene's events."""

    async def action() -> None:
        # As the API does: the check in a unit of work of its own, then the conductor.
        conductor = conductor_of(state)
        async with transaction(state.sessions) as session:
            await scene_messages.check_speaker(session, account, scene_id, participant_id)
        run = conductor.claim(scene_id)
        conductor.start(run, [turns.Choice(participant_id, "manual")])

    return await _act(request, db, account, scene_id, "panel", action)


@router.post("/scenes/{scene_id}/auto")
async def set_auto(
    scene_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    on: Annotated[str, Form(max_length=5)] = "",
    turn_budget: Annotated[int | None, Form(ge=1, le=500)] = None,
) -> Response:
    """Turn auto-mode on (the owner, with a number of turns) or off."""

    async def action() -> None:
        # Committed before the loop wakes, so the loop sees auto-mode on.
        async with transaction(state.sessions) as session:
            await auto.set_auto(session, account, scene_id, _yes(on), turn_budget=turn_budget)
        conductor_of(state).wake_auto(scene_id)

    return await _act(request, db, account, scene_id, "live", action)


@router.post("/scenes/{scene_id}/stop")
async def stop(
    scene_id: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """Stop the reply being written and auto-mode (what was written is kept)."""

    async def action() -> None:
        async with transaction(state.sessions) as session:
            access = await scene_for(session, account, scene_id, "member")
            if access.data.scene.auto_on:
                await auto.set_auto(session, account, scene_id, False, paused=auto.STOPPED)
        await conductor_of(state).stop(scene_id)

    return await _act(request, db, account, scene_id, "live", action)


@router.post("/scenes/{scene_id}/settings")
async def change_settings(
    scene_id: str,
    account: CurrentAccount,
    db: DB,
    title: Short = "",
    scenario: Long = "",
    mode: Annotated[str, Form(max_length=20)] = "natural",
    visibility: Annotated[str, Form(max_length=20)] = "private",
    allow_self: Annotated[str, Form(max_length=5)] = "",
    lorebook_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Change the scene's title, scenario, turn-taking, visibility and lorebook (the
    owner); an empty lorebook choice takes the lorebook away."""
    await scenes.update_scene(
        db,
        account,
        scene_id,
        title=title,
        scenario=scenario,
        mode=mode,
        visibility=visibility,
        allow_self=_yes(allow_self),
        lorebook_id=lorebook_id or None,
        lorebook_given=True,
    )
    return RedirectResponse(f"/scenes/{scene_id}", status_code=303)


@router.post("/scenes/{scene_id}/delete")
async def delete_scene(scene_id: str, account: CurrentAccount, db: DB) -> Response:
    """Delete the scene for everyone (the owner) and go back to the list."""
    await scenes.delete_scene(db, account, scene_id)
    return RedirectResponse("/scenes", status_code=303)


@router.post("/scenes/{scene_id}/share")
async def share_scene(
    scene_id: str,
    request: Request,
    account: CurrentAccount,
    db: DB,
    state: State,
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Publish the scene's transcript to the feed as a post (the owner)."""
    base = state.settings.effective_base_url

    async def action() -> dict[str, str]:
        shared = await sharing.share_range(db, account, scene_id, text=text, base_url=base)
        post = f"/@{account.username}/{shared.post_id}"
        return {"panel_note": i18n.gettext("Shared to the feed."), "panel_link": post}

    if not is_htmx(request):
        done = await action()
        return RedirectResponse(done["panel_link"], status_code=303)
    return await _act(request, db, account, scene_id, "panel", action)


@router.get("/scenes/{scene_id}/shared/{share_id}", response_class=HTMLResponse)
async def shared_page(
    scene_id: str, share_id: str, request: Request, account: PageAccount, db: DB
) -> Response:
    """A shared range of a scene, read-only, for whoever may see the post that shares it."""
    shared = _dump(await sharing.shared_transcript(db, account, scene_id, share_id))
    _thumbnails(shared["members"])
    context = page_context(
        account,
        active="scenes",
        shared=shared,
        avatars={m["id"]: m.get("avatar_url") or "" for m in shared["members"]},
        post_url=f"/@{shared['owner']['username']}/{shared['post_id']}",
    )
    return render(request, "scenes/shared.html", context)
