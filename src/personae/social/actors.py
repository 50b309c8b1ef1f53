"""Actors: the network identities of people and characters, kept in step with their source."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from personae import events
from personae.accounts.models import Account
from personae.accounts.names import check_display_name
from personae.characters.models import Character
from personae.db import search_key as search_key  # where posts and federation take it
from personae.errors import Forbidden, Invalid, NotFound
from personae.images import check_image
from personae.social.events import ProfileChanged
from personae.social.models import SHOW_AI, Actor

MAX_BIO = 2000
MAX_FIELDS = 4
MAX_FIELD_NAME = 50
MAX_FIELD_VALUE = 200
MAX_DISPLAY_NAME = 100


async def create_person_actor(session: AsyncSession, account: Account) -> Actor:
    """The actor of a newly created account (same id, handle = username)."""
    actor = Actor(
        id=account.id,
        kind="person",
        handle=account.username,
        display_name=account.display_name or account.username,
        account_id=account.id,
        operator_id=account.id,
        is_ai=False,
        search_key=search_key(account.id),
    )
    session.add(actor)
    await session.flush()
    return actor


async def sync_character_actor(session: AsyncSession, character: Character) -> Actor:
    """Create or update a character's actor from the character (name, handle, visibility).

    A name that passes for someone else's is refused (422) when the character is shown
    with it for the first time: on creation, rename, or leaving private.
    """
    actor = await session.get(Actor, character.id)
    name = character.name[:MAX_DISPLAY_NAME]
    shown_before = actor is not None and not actor.hidden and actor.display_name == name
    if character.visibility != "private" and not shown_before:
        await check_display_name(
            session,
            name,
            kind="character",
            operator_id=character.owner_id,
            own_handle=character.handle,
        )
    if actor is None:
        actor = Actor(
            id=character.id,
            kind="character",
            character_id=character.id,
            search_key=search_key(character.id),
            bio="",
        )
        session.add(actor)
    actor.handle = character.handle
    actor.display_name = name
    actor.operator_id = character.owner_id
    actor.is_ai = True  # characters always show as AI, whatever the card says
    actor.hidden = character.visibility == "private"
    actor.discoverable = character.visibility == "public"
    await session.flush()
    return actor


async def person_actor(session: AsyncSession, account: Account) -> Actor:
    """The account's own actor."""
    actor = await session.get(Actor, account.id)
    if actor is None:  # an account made before the network existed and not backfilled
        actor = await create_person_actor(session, account)
    return actor


def require_can_publish(actor: Actor) -> None:
    """A private character is not in the network: it must be made public or unlisted."""
    if actor.hidden:
        raise Invalid(
            f"@{actor.handle} is a private character; make it public or unlisted to act "
            "in the network",
            code="character_private",
        )


async def acting_actor_and_identities(
    session: AsyncSession, account: Account, as_handle: str | None
) -> tuple[Actor, tuple[str, ...]]:
    """The actor a request acts as, and every actor the account operates, in one query.

    The acting actor is the account itself, or (`as`) one of its characters; naming a
    character that is not the caller's is a 404, like any character one cannot edit. A
    suspended actor may not act at all.
    """
    operated = list(await session.scalars(select(Actor).where(Actor.operator_id == account.id)))
    ids = tuple(sorted({a.id for a in operated} | {account.id}))
    wanted = (as_handle or "").strip().lstrip("@").lower()
    if not wanted or wanted == account.username:
        actor = next((a for a in operated if a.id == account.id), None)
        if actor is None:
            actor = await person_actor(session, account)
    else:
        actor = next((a for a in operated if a.handle == wanted and a.kind == "character"), None)
        if actor is None:
            raise NotFound(f"no character '@{as_handle}' of yours to act as")
    if actor.suspended:
        raise Forbidden(f"@{actor.handle} is suspended by the admins and cannot act")
    return actor, ids


async def find_actor(session: AsyncSession, handle: str) -> Actor | None:
    """An actor by handle or id (no visibility check)."""
    ref = handle.strip().lstrip("@")
    return await session.scalar(
        select(Actor).where(or_(Actor.handle == ref.lower(), Actor.id == ref))
    )


async def actors_by_handles(session: AsyncSession, handles: list[str]) -> dict[str, Actor]:
    """Visible, active actors for the given lower-case handles."""
    if not handles:
        return {}
    rows = await session.scalars(
        select(Actor).where(
            Actor.handle.in_(handles), Actor.hidden.is_(False), Actor.suspended.is_(False)
        )
    )
    return {a.handle: a for a in rows}


async def actors_by_ids(session: AsyncSession, ids: set[str]) -> dict[str, Actor]:
    """Actors by id, whatever their state (for lists whose rows were already filtered)."""
    if not ids:
        return {}
    return {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(ids)))}


async def with_avatar(session: AsyncSession, ids: set[str]) -> set[str]:
    """The ids among `ids` of actors that have an avatar, in one query."""
    if not ids:
        return set()
    # People keep their avatar on the actor; characters on the character (their card's).
    query = union_all(
        select(Actor.id).where(Actor.id.in_(ids), Actor.avatar_mime != ""),
        select(Character.id).where(Character.id.in_(ids), Character.avatar_mime != ""),
    )
    return set((await session.execute(query)).scalars())


def _check_fields(fields: list[Any]) -> list[dict[str, str]]:
    if len(fields) > MAX_FIELDS:
        raise Invalid(f"a profile has at most {MAX_FIELDS} fields", code="too_many_fields")
    clean = []
    for i, item in enumerate(fields):
        if not isinstance(item, dict) or set(item) != {"name", "value"}:
            raise Invalid(f"fields[{i}] must be an object with 'name' and 'value'", "bad_field")
        name, value = item["name"], item["value"]
        if not isinstance(name, str) or not isinstance(value, str):
            raise Invalid(f"fields[{i}].name and .value must be strings", code="bad_field")
        if not name.strip() or len(name) > MAX_FIELD_NAME or len(value) > MAX_FIELD_VALUE:
            raise Invalid(
                f"fields[{i}]: name 1-{MAX_FIELD_NAME} characters, value up to {MAX_FIELD_VALUE}",
                code="bad_field",
            )
        clean.append({"name": name.strip(), "value": value})
    return clean


async def update_profile(
    session: AsyncSession,
    actor: Actor,
    display_name: str | None = None,
    bio: str | None = None,
    fields: list[Any] | None = None,
    locked: bool | None = None,
) -> Actor:
    """Change an actor's profile; a character's display name is its character's name."""
    if display_name is not None:
        if actor.kind == "character":
            raise Invalid(
                "a character's display name is its name; rename the character instead",
                code="rename_character",
            )
        if not display_name.strip() or len(display_name) > MAX_DISPLAY_NAME:
            raise Invalid(f"display_name must be 1-{MAX_DISPLAY_NAME} characters", "bad_name")
        if display_name.strip() != actor.display_name:
            await check_display_name(
                session,
                display_name,
                kind="person",
                operator_id=actor.operator_id or actor.id,
                own_handle=actor.handle,
            )
    if bio is not None and len(bio) > MAX_BIO:
        raise Invalid(f"bio is longer than {MAX_BIO} characters", code="field_too_long")
    clean_fields = _check_fields(fields) if fields is not None else None
    if display_name is not None:
        actor.display_name = display_name.strip()
        if actor.account_id:
            await session.execute(
                update(Account)
                .where(Account.id == actor.account_id)
                .values(display_name=actor.display_name)
            )
    if bio is not None:
        actor.bio = bio
    if clean_fields is not None:
        actor.fields = clean_fields
    if locked is not None:
        actor.locked = locked
    await profile_changed(session, actor)
    return actor


async def profile_changed(session: AsyncSession, actor: Actor) -> None:
    """Tell the subscribers an actor's profile changed (remote followers hear of it)."""
    await events.emit(session, ProfileChanged(actor.id, local=actor.domain is None))


def preferences(actor: Actor) -> dict[str, Any]:
    """A person's controls over AI content, as plain data (the API and settings show them)."""
    return {
        "show_ai": actor.show_ai,
        "accept_ai_replies": actor.accept_ai_replies,
        "accept_ai_mentions": actor.accept_ai_mentions,
    }


async def update_preferences(
    session: AsyncSession,
    actor: Actor,
    show_ai: str | None = None,
    accept_ai_replies: bool | None = None,
    accept_ai_mentions: bool | None = None,
) -> Actor:
    """Change a person's controls over AI content."""
    if actor.kind != "person":
        raise Invalid("preferences belong to people, not characters", code="not_a_person")
    if show_ai is not None:
        if show_ai not in SHOW_AI:
            raise Invalid(f"show_ai must be one of {', '.join(SHOW_AI)}", code="bad_show_ai")
        actor.show_ai = show_ai
    if accept_ai_replies is not None:
        actor.accept_ai_replies = accept_ai_replies
    if accept_ai_mentions is not None:
        actor.accept_ai_mentions = accept_ai_mentions
    return actor


async def set_actor_image(
    session: AsyncSession, account: Account, actor: Actor, which: str, data: bytes
) -> Actor:
    """Replace a person's avatar or any actor's header; a character's avatar is its card's.

    `account` operates the actor (the acting actor of its request).
    """
    if which == "avatar" and actor.kind == "character":
        mime = check_image(data, "the avatar")
        character = await session.scalar(
            select(Character).where(Character.id == actor.id).options(undefer(Character.avatar))
        )
        if character is None or (character.owner_id != account.id and not account.is_admin):
            raise NotFound(f"no character '{actor.id}' of yours")
        character.avatar = data
        character.avatar_mime = mime
        character.revision += 1
        await profile_changed(session, actor)
        return actor
    mime = check_image(data)
    loaded = await session.scalar(
        select(Actor)
        .where(Actor.id == actor.id)
        .options(undefer(Actor.avatar), undefer(Actor.header))
    )
    assert loaded is not None
    setattr(loaded, which, data)
    setattr(loaded, f"{which}_mime", mime)
    await profile_changed(session, loaded)
    return loaded


async def actor_image(session: AsyncSession, actor: Actor, which: str) -> tuple[bytes, str] | None:
    """An actor's avatar or header bytes and type, if it has one."""
    if which == "avatar" and actor.kind == "character":
        character = await session.scalar(
            select(Character).where(Character.id == actor.id).options(undefer(Character.avatar))
        )
        if character is None or not character.avatar:
            return None
        return character.avatar, character.avatar_mime
    column = Actor.avatar if which == "avatar" else Actor.header
    mime_column = Actor.avatar_mime if which == "avatar" else Actor.header_mime
    row = (await session.execute(select(column, mime_column).where(Actor.id == actor.id))).first()
    if row is None or not row[0]:
        return None
    return bytes(row[0]), str(row[1])
