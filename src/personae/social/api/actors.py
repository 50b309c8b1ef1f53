"""Actors API: profiles, follows and requests, blocks, mutes, preferences, images."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.characters.routes import read_upload
from personae.characters.service import MAX_AVATAR_BYTES
from personae.deps import DB, get_state
from personae.errors import Invalid, NotFound
from personae.federation.context import Federation
from personae.federation.remote import lookup_acct, parse_acct
from personae.social import actors as actor_service
from personae.social import graph, timelines
from personae.social.access import get_visible_actor
from personae.social.api.common import ActingViewer, Cursor, Limit, ViewerDep, post_page
from personae.social.models import Actor, Follow
from personae.social.views import actor_profile, load_actors, render_actors

router = APIRouter(prefix="/api/v1", tags=["actors"])
LOCAL_HANDLE = re.compile(r"[A-Za-z0-9_]{1,30}")


class ProfileField(BaseModel):
    """One name/value line on a profile."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    value: Annotated[str, StringConstraints(max_length=200)]


class ProfilePatch(BaseModel):
    """Changes to the acting actor's profile."""

    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    bio: Annotated[str, StringConstraints(max_length=2000)] | None = None
    fields: Annotated[list[ProfileField], Field(max_length=4)] | None = None
    locked: bool | None = None


class PreferencesPatch(BaseModel):
    """A person's controls over AI content."""

    model_config = ConfigDict(extra="forbid")
    show_ai: Literal["all", "followed", "none"] | None = None
    accept_ai_replies: bool | None = None
    accept_ai_mentions: bool | None = None


async def _profile(db: DB, viewer: ViewerDep, handle: str) -> dict[str, Any]:
    actor = await get_visible_actor(db, viewer, handle)
    operators = await load_actors(db, {actor.id})
    relation = await graph.relationship(db, viewer, actor.id) if viewer.actor else None
    operator = operators[actor.id][1] if actor.id in operators else None
    return actor_profile(actor, operator, relation)


async def follow_page(db: DB, rows: list[tuple[Follow, Actor]], limit: int) -> dict[str, Any]:
    """A page of actors listed by follow rows; the cursor is the last row's id."""
    return {
        "items": await render_actors(db, [a for _, a in rows]),
        "next_cursor": rows[-1][0].id if len(rows) == limit else None,
    }


# Before "/actors/{handle}", which would otherwise take "lookup" for a handle.
@router.get("/actors/lookup")
async def lookup_actor(
    request: Request,
    viewer: ViewerDep,
    db: DB,
    acct: Annotated[
        str,
        Query(
            min_length=1,
            max_length=330,
            description="An account address, user@domain (a leading @ is fine); a bare "
            "handle finds a local actor.",
        ),
    ],
) -> dict[str, Any]:
    """Find an actor by address; a remote one is fetched from its server (signed in only)."""
    value = acct.strip().lstrip("@")
    if "@" not in value:
        if not LOCAL_HANDLE.fullmatch(value):
            raise Invalid("write an account as user@domain, or a local handle", code="bad_acct")
        return await _profile(db, viewer, value)
    user, domain = parse_acct(value)
    federation = Federation.from_settings(get_state(request).settings)
    if domain == federation.urls.domain:
        return await _profile(db, viewer, user)
    # Asking another server costs it (and us) a request: only members may make us do so.
    viewer.require_actor()
    actor, _ = await lookup_acct(db, federation, value)
    return await _profile(db, viewer, actor.handle)


@router.get("/actors/{handle}")
async def get_actor(handle: str, viewer: ViewerDep, db: DB) -> dict[str, Any]:
    """An actor's profile; characters carry their AI label and operator."""
    return await _profile(db, viewer, handle)


@router.get("/actors/{handle}/posts")
async def actor_posts(
    handle: str,
    viewer: ViewerDep,
    db: DB,
    replies: Annotated[bool, Query(description="Include replies.")] = False,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    """An actor's posts and reposts, newest first (with replies when asked)."""
    page = await timelines.profile(db, viewer, handle, replies, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/actors/{handle}/followers")
async def followers(
    handle: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> dict[str, Any]:
    """Who follows an actor, newest first."""
    rows = await graph.list_follows(db, viewer, handle, "followers", cursor, limit)
    return await follow_page(db, rows, limit)


@router.get("/actors/{handle}/following")
async def following(
    handle: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> dict[str, Any]:
    """Whom an actor follows, newest first."""
    rows = await graph.list_follows(db, viewer, handle, "following", cursor, limit)
    return await follow_page(db, rows, limit)


@router.get("/actors/{handle}/avatar")
async def avatar(handle: str, viewer: ViewerDep, db: DB) -> Response:
    """An actor's avatar image."""
    actor = await get_visible_actor(db, viewer, handle)
    image = await actor_service.actor_image(db, actor, "avatar")
    if image is None:
        raise NotFound(f"@{actor.handle} has no avatar")
    return Response(image[0], media_type=image[1])


@router.get("/actors/{handle}/header")
async def header(handle: str, viewer: ViewerDep, db: DB) -> Response:
    """An actor's header image."""
    actor = await get_visible_actor(db, viewer, handle)
    image = await actor_service.actor_image(db, actor, "header")
    if image is None:
        raise NotFound(f"@{actor.handle} has no header image")
    return Response(image[0], media_type=image[1])


@router.post("/actors/{handle}/follow")
async def follow(handle: str, viewer: ActingViewer, db: DB) -> dict[str, Any]:
    """Follow an actor (a request, when it is locked)."""
    row = await graph.follow(db, viewer, handle)
    return {"state": row.state, "actor": await _profile(db, viewer, handle)}


@router.delete("/actors/{handle}/follow")
async def unfollow(handle: str, viewer: ActingViewer, db: DB) -> dict[str, Any]:
    """Stop following an actor, or withdraw a request."""
    await graph.unfollow(db, viewer, handle)
    return await _profile(db, viewer, handle)


@router.delete("/actors/{handle}/follower", status_code=204)
async def remove_follower(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Make an actor stop following you."""
    await graph.remove_follower(db, viewer, handle)


@router.post("/actors/{handle}/block", status_code=204)
async def block(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Block an actor: neither of you sees the other, and it cannot act on you."""
    await graph.block(db, viewer, handle)


@router.delete("/actors/{handle}/block", status_code=204)
async def unblock(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Lift a block."""
    await graph.unblock(db, viewer, handle)


@router.post("/actors/{handle}/mute", status_code=204)
async def mute(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Mute an actor (it is not told)."""
    await graph.mute(db, viewer, handle)


@router.delete("/actors/{handle}/mute", status_code=204)
async def unmute(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Lift a mute."""
    await graph.unmute(db, viewer, handle)


@router.get("/blocks")
async def blocks(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> dict[str, Any]:
    """Actors you block."""
    rows = await graph.list_blocks_or_mutes(db, viewer, "blocks", cursor, limit)
    return {
        "items": await render_actors(db, [a for _, a in rows]),
        "next_cursor": rows[-1][0] if len(rows) == limit else None,
    }


@router.get("/mutes")
async def mutes(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> dict[str, Any]:
    """Actors you mute."""
    rows = await graph.list_blocks_or_mutes(db, viewer, "mutes", cursor, limit)
    return {
        "items": await render_actors(db, [a for _, a in rows]),
        "next_cursor": rows[-1][0] if len(rows) == limit else None,
    }


@router.get("/follow-requests")
async def follow_requests(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> dict[str, Any]:
    """Pending requests to follow you (or the character you act as)."""
    rows = await graph.follow_requests(db, viewer, cursor, limit)
    return await follow_page(db, rows, limit)


@router.post("/follow-requests/{handle}/accept", status_code=204)
async def accept_request(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Accept a follow request."""
    await graph.answer_request(db, viewer, handle, accept=True)


@router.post("/follow-requests/{handle}/reject", status_code=204)
async def reject_request(handle: str, viewer: ActingViewer, db: DB) -> None:
    """Reject a follow request."""
    await graph.answer_request(db, viewer, handle, accept=False)


@router.get("/profile")
async def my_profile(viewer: ActingViewer, db: DB) -> dict[str, Any]:
    """The profile of the actor you act as."""
    return await _profile(db, viewer, viewer.require_actor().id)


@router.patch("/profile")
async def update_profile(body: ProfilePatch, viewer: ActingViewer, db: DB) -> dict[str, Any]:
    """Change the profile of the actor you act as."""
    fields = [f.model_dump() for f in body.fields] if body.fields is not None else None
    actor = await actor_service.update_profile(
        db, viewer.require_actor(), body.display_name, body.bio, fields, body.locked
    )
    return await _profile(db, viewer, actor.id)


@router.put("/profile/avatar")
async def put_profile_avatar(
    file: UploadFile, request: Request, viewer: ActingViewer, db: DB
) -> dict[str, Any]:
    """Replace your avatar (a character's is its card avatar); 8 MiB at most."""
    data = await read_upload(request, file, MAX_AVATAR_BYTES)
    assert viewer.account is not None
    actor = viewer.require_actor()
    await actor_service.set_actor_image(db, viewer.account, actor, "avatar", data)
    return await _profile(db, viewer, actor.id)


@router.put("/profile/header")
async def put_profile_header(
    file: UploadFile, request: Request, viewer: ActingViewer, db: DB
) -> dict[str, Any]:
    """Replace the header image of the actor you act as; 8 MiB at most."""
    data = await read_upload(request, file, MAX_AVATAR_BYTES)
    assert viewer.account is not None
    actor = viewer.require_actor()
    await actor_service.set_actor_image(db, viewer.account, actor, "header", data)
    return await _profile(db, viewer, actor.id)


@router.get("/preferences")
async def get_preferences(viewer: ActingViewer) -> dict[str, Any]:
    """Your controls over AI content."""
    return actor_service.preferences(viewer.require_actor())


@router.patch("/preferences")
async def update_preferences(
    body: PreferencesPatch, viewer: ActingViewer, db: DB
) -> dict[str, Any]:
    """Change your controls: show AI posts (all, followed, none), AI replies and mentions."""
    actor = await actor_service.update_preferences(
        db, viewer.require_actor(), body.show_ai, body.accept_ai_replies, body.accept_ai_mentions
    )
    return actor_service.preferences(actor)
