"""Settings pages: account and personas, sessions and tokens, AI visibility, muted and
blocked, memories about me.

Every form posts, the service checks and saves, and the page answers 303 back to its tab
with a notice; bad input re-renders the tab with the problem named (a 4xx, nothing saved).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.deps import DB, SESSION_COOKIE, State, request_token
from personae.errors import DomainError, Invalid, Unauthorized
from personae.memory import people as memory_people
from personae.social import actors, graph
from personae.social.access import viewer_for
from personae.uploads import read_upload
from personae.web.common import PageAccount
from personae.web.guard import PageRoute
from personae.web.tabbed import TabbedArea, back, checked, undo

router = APIRouter(include_in_schema=False, route_class=PageRoute)
TextField = Annotated[str, Form(max_length=20_000)]
ListField = Annotated[list[str], Form()]
SETTINGS = TabbedArea(
    "settings",
    (
        ("account", "/settings", "Account"),
        ("tokens", "/settings/tokens", "Sessions and tokens"),
        ("ai", "/settings/ai", "AI visibility"),
        ("muted", "/settings/muted", "Muted and blocked"),
        ("memories", "/settings/memories", "Memories about me"),
    ),
    {
        "profile": "Your profile is saved.",
        "avatar": "Your avatar is changed.",
        "password": "Your password is changed. Your other sessions and API tokens were ended.",
        "persona_added": "The persona is added.",
        "persona_saved": "The persona is saved.",
        "persona_deleted": "The persona is deleted.",
        "token_revoked": "It is revoked: whoever used it is signed out.",
        "ai": "Your AI visibility choices are saved.",
        "unmuted": "Unmuted. Their posts show again.",
        "unblocked": "Unblocked.",
        "forgot_one": "The character forgot that.",
        "forgot_all": "The character forgot everything about you.",
    },
)
MEMORY_PAGE = 100


def require(account: Account | None) -> Account:
    """The signed-in account; a signed-out visitor is sent to the start page."""
    if account is None:
        raise Unauthorized("sign in first")
    return account


# Account: profile, avatar, password, personas.


async def account_context(db: DB, account: Account, **values: Any) -> dict[str, Any]:
    """What the account tab shows."""
    actor = await actors.person_actor(db, account)
    fields = list(actor.fields or [])
    rows = [*fields, *({"name": "", "value": ""} for _ in range(actors.MAX_FIELDS - len(fields)))]
    return {
        "actor": actor,
        "profile_fields": rows[: actors.MAX_FIELDS],
        "personas": await accounts.list_personas(db, account),
        "values": values,
        "max_bio": actors.MAX_BIO,
    }


async def account_error(
    request: Request, db: DB, account: Account, exc: DomainError, **values: Any
) -> Response:
    """The account tab again, naming what was wrong (nothing was saved)."""
    await undo(db, account)
    context = await account_context(db, account, **values)
    return SETTINGS.page(
        request, account, "account", "settings/account.html", context, exc.status_code, exc.message
    )


@router.get("/settings")
async def settings_page(request: Request, db: DB, account: PageAccount) -> Response:
    """The account tab: profile, avatar, password and personas."""
    me = require(account)
    context = await account_context(db, me)
    return SETTINGS.page(request, me, "account", "settings/account.html", context)


@router.post("/settings/profile")
async def save_profile(
    request: Request,
    db: DB,
    account: PageAccount,
    display_name: TextField = "",
    bio: TextField = "",
    field_name: ListField = [],  # noqa: B006 - FastAPI copies defaults
    field_value: ListField = [],  # noqa: B006
) -> Response:
    """Save the display name, bio and profile fields."""
    me = require(account)
    pairs = list(zip(field_name, field_value, strict=False))
    fields = [{"name": n, "value": v} for n, v in pairs if n.strip() or v.strip()]
    try:
        actor = await actors.person_actor(db, me)
        await actors.update_profile(db, actor, display_name=display_name, bio=bio, fields=fields)
    except DomainError as exc:
        return await account_error(request, db, me, exc)
    return back("/settings", "profile")


@router.post("/settings/avatar")
async def save_avatar(
    request: Request,
    db: DB,
    state: State,
    account: PageAccount,
    avatar: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Replace the avatar with an uploaded PNG, JPEG, GIF or WebP image."""
    me = require(account)
    try:
        if avatar is None or not avatar.filename:
            raise Invalid("choose an image file first", code="no_file")
        data = await read_upload(request, avatar, state.settings.max_upload_bytes)
        actor = await actors.person_actor(db, me)
        await actors.set_actor_image(db, me, actor, "avatar", data)
    except DomainError as exc:
        return await account_error(request, db, me, exc)
    return back("/settings", "avatar")


@router.post("/settings/password")
async def save_password(
    request: Request,
    db: DB,
    account: PageAccount,
    current_password: TextField = "",
    new_password: TextField = "",
    confirm_password: TextField = "",
) -> Response:
    """Change the password (the current one is needed); other sessions end."""
    me = require(account)
    try:
        if new_password != confirm_password:
            raise Invalid("the new password and its confirmation differ", code="mismatch")
        await accounts.change_password(
            db, me, current_password, new_password, keep_token=request_token(request)
        )
    except DomainError as exc:
        return await account_error(request, db, me, exc)
    return back("/settings", "password")


@router.post("/settings/personas")
async def add_persona(
    request: Request,
    db: DB,
    account: PageAccount,
    name: TextField = "",
    description: TextField = "",
    is_default: TextField = "",
) -> Response:
    """Add a chat persona."""
    me = require(account)
    try:
        await accounts.create_persona(db, me, name, description, checked(is_default))
    except DomainError as exc:
        values = {"persona_name": name, "persona_description": description}
        return await account_error(request, db, me, exc, **values)
    return back("/settings", "persona_added")


@router.post("/settings/personas/{persona_id}")
async def save_persona(
    persona_id: str,
    request: Request,
    db: DB,
    account: PageAccount,
    name: TextField = "",
    description: TextField = "",
    is_default: TextField = "",
) -> Response:
    """Save one of the viewer's personas (anyone else's is a 404)."""
    me = require(account)
    try:
        await accounts.update_persona(
            db, me, persona_id, name, description, True if checked(is_default) else None
        )
    except DomainError as exc:
        return await account_error(request, db, me, exc)
    return back("/settings", "persona_saved")


@router.post("/settings/personas/{persona_id}/delete")
async def remove_persona(persona_id: str, db: DB, account: PageAccount) -> Response:
    """Delete one of the viewer's personas (anyone else's is a 404)."""
    me = require(account)
    await accounts.delete_persona(db, me, persona_id)
    return back("/settings", "persona_deleted")


# Sessions and API tokens.


async def tokens_page_for(
    request: Request,
    db: DB,
    state: State,
    account: Account,
    new_token: str = "",
    status_code: int = 200,
    error: str = "",
    **values: Any,
) -> Response:
    """The tokens tab: the live sessions and tokens, the form to make one (and, just after
    making one, the token itself, shown this once)."""
    settings = state.settings
    context = {
        "tokens": await accounts.list_tokens(db, account),
        "current_id": await accounts.token_id(db, request_token(request)),
        "new_token": new_token,
        "default_days": min(settings.api_token_days, settings.api_token_max_days),
        "max_days": settings.api_token_max_days,
        "values": values,
    }
    page = SETTINGS.page(
        request, account, "tokens", "settings/tokens.html", context, status_code, error
    )
    # The page may carry a secret: no cache, no copy in the history.
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/settings/tokens")
async def tokens_page(request: Request, db: DB, state: State, account: PageAccount) -> Response:
    """The viewer's browser sessions and API tokens, with a button to revoke each."""
    return await tokens_page_for(request, db, state, require(account))


@router.post("/settings/tokens")
async def create_token(
    request: Request,
    db: DB,
    state: State,
    account: PageAccount,
    name: Annotated[str, Form(max_length=100)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Make a named API token and show it once (answered directly, never by a redirect,
    so the token is in no address)."""
    me = require(account)
    settings = state.settings
    try:
        if not name.strip():
            raise Invalid("give the token a name, to know later what uses it", "no_name")
        days_text = expires_in_days.strip()
        if days_text and not days_text.isdigit():
            raise Invalid("the expiry must be a whole number of days", code="invalid_expiry")
        days = accounts.token_days(
            int(days_text) if days_text else None,
            settings.api_token_days,
            settings.api_token_max_days,
        )
        token = await accounts.issue_token(db, me, "api", name, days=days)
    except DomainError as exc:
        await undo(db, me)
        return await tokens_page_for(
            request,
            db,
            state,
            me,
            status_code=exc.status_code,
            error=exc.message,
            name=name,
            expires_in_days=expires_in_days,
        )
    return await tokens_page_for(request, db, state, me, new_token=token)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, db: DB, account: PageAccount) -> Response:
    """End one of the viewer's sessions or API tokens; ending this very session signs out."""
    me = require(account)
    current = await accounts.token_id(db, request_token(request))
    await accounts.revoke_token_id(db, me, token_id)
    if token_id == current:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
    return back("/settings/tokens", "token_revoked")


# AI visibility.


@router.get("/settings/ai")
async def ai_page(request: Request, db: DB, account: PageAccount) -> Response:
    """Choose how much of the AI characters' activity reaches you."""
    me = require(account)
    actor = await actors.person_actor(db, me)
    return SETTINGS.page(request, me, "ai", "settings/ai.html", actors.preferences(actor))


@router.post("/settings/ai")
async def save_ai(
    request: Request,
    db: DB,
    account: PageAccount,
    show_ai: TextField = "",
    accept_ai_replies: TextField = "",
    accept_ai_mentions: TextField = "",
) -> Response:
    """Save the AI visibility choices."""
    me = require(account)
    actor = await actors.person_actor(db, me)
    try:
        await actors.update_preferences(
            db, actor, show_ai, checked(accept_ai_replies), checked(accept_ai_mentions)
        )
    except DomainError as exc:
        await undo(db, me)
        actor = await actors.person_actor(db, me)
        context = actors.preferences(actor)
        return SETTINGS.page(
            request, me, "ai", "settings/ai.html", context, exc.status_code, exc.message
        )
    return back("/settings/ai", "ai")


# Muted and blocked.


@router.get("/settings/muted")
async def muted_page(request: Request, db: DB, account: PageAccount) -> Response:
    """The actors the viewer mutes and blocks, with a button to lift each."""
    me = require(account)
    viewer = await viewer_for(db, me)
    muted = [a for _, a in await graph.list_blocks_or_mutes(db, viewer, "mutes", limit=200)]
    blocked = [a for _, a in await graph.list_blocks_or_mutes(db, viewer, "blocks", limit=200)]
    context = {"muted": muted, "blocked": blocked}
    return SETTINGS.page(request, me, "muted", "settings/muted.html", context)


@router.post("/settings/muted/{handle}/unmute")
async def unmute(handle: str, db: DB, account: PageAccount) -> Response:
    """Lift a mute."""
    me = require(account)
    await graph.unmute(db, await viewer_for(db, me), handle)
    return back("/settings/muted", "unmuted")


@router.post("/settings/muted/{handle}/unblock")
async def unblock(handle: str, db: DB, account: PageAccount) -> Response:
    """Lift a block."""
    me = require(account)
    await graph.unblock(db, await viewer_for(db, me), handle)
    return back("/settings/muted", "unblocked")


# What characters remember about me.


@router.get("/settings/memories")
async def memories_page(
    request: Request,
    db: DB,
    account: PageAccount,
    character: Annotated[str, Query(max_length=31)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """What characters remember about the viewer, by character, newest first."""
    me = require(account)
    items, next_cursor = await memory_people.list_memories_about(
        db, me, character or None, cursor, MEMORY_PAGE
    )
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(
            item.character_handle,
            {"handle": item.character_handle, "name": item.character_name, "items": []},
        )
        group["items"].append(item.memory)
    older = None
    if next_cursor:
        older = f"/settings/memories?cursor={next_cursor}"
        older += f"&character={character}" if character else ""
    context = {"groups": list(groups.values()), "character": character, "older": older}
    return SETTINGS.page(request, me, "memories", "settings/memories.html", context)


@router.post("/settings/memories/{memory_id}/delete")
async def forget_one(memory_id: str, db: DB, account: PageAccount) -> Response:
    """Make a character forget one thing about the viewer (only memories about them)."""
    me = require(account)
    await memory_people.delete_memory_about(db, me, memory_id)
    return back("/settings/memories", "forgot_one")


@router.post("/settings/memories/forget")
async def forget_all(
    db: DB,
    account: PageAccount,
    character: Annotated[str, Form(max_length=31)] = "",
    confirm: TextField = "",
) -> Response:
    """Make one character forget everything about the viewer, once confirmed."""
    me = require(account)
    if not checked(confirm):
        raise Invalid("tick the box to confirm, then press the button again", "not_confirmed")
    if not character:
        raise Invalid("name the character that should forget you", code="no_character")
    await memory_people.forget_me(db, me, character)
    return back("/settings/memories", "forgot_all")
