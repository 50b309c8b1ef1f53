"""Actors API: profiles, follows and requests, blocks, mutes, preferences, images."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.characters.service import MAX_AVATAR_BYTES
from personae.deps import DB, State
from personae.errors import NotFound
from personae.image_http import image_response
from personae.social import actors as actor_service
from personae.social import graph, timelines
from personae.social.access import get_visible_actor
from personae.social.api.common import ActingViewer, Cursor, Limit, ViewerDep, post_page
from personae.social.models import Actor, Follow
from personae.social.schemas import (
    ActorPage,
    ActorProfile,
    FollowOut,
    PostPage,
    Preferences,
)
from personae.social.views import actor_profile, load_actors, render_actors
from personae.uploads import read_upload

router = APIRouter(prefix="/api/v1", tags=["actors"])
# What image routes answer with (the bytes as stored, under their own media type).
IMAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/*": {}}}}
# A thumbnail's size in pixels; without it, the original image.
Size = Annotated[int | None, Query(description="Thumbnail size in px; omit for the original")]


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


async def profile(db: DB, viewer: ViewerDep, handle: str) -> ActorProfile:
    """An actor's profile as the viewer sees it; `relationship` is unset (and routes that
    answer with it, excluding what is unset, leave it out) for a caller who acts as no one."""
    actor = await get_visible_actor(db, viewer, handle)
    operators = await load_actors(db, {actor.id})
    relation = await graph.relationship(db, viewer, actor.id) if viewer.actor else None
    operator = operators[actor.id][1] if actor.id in operators else None
    return ActorProfile.model_validate(actor_profile(actor, operator, relation))


async def follow_page(db: DB, rows: list[tuple[Follow, Actor]], limit: int) -> ActorPage:
    """A page of actors listed by follow rows; the cursor is the last row's id."""
    items = await render_actors(db, [a for _, a in rows])
    next_cursor = rows[-1][0].id if len(rows) == limit else None
    return ActorPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get("/actors/{handle}", response_model_exclude_unset=True)
async def get_actor(handle: str, viewer: ViewerDep, db: DB) -> ActorProfile:
    """An actor's profile; characters carry their AI label and operator."""
    return await profile(db, viewer, handle)


@router.get("/actors/{handle}/posts")
async def actor_posts(
    handle: str,
    viewer: ViewerDep,
    db: DB,
    replies: Annotated[bool, Query(description="Include replies.")] = False,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> PostPage:
    """An actor's posts and reposts, newest first (with replies when asked)."""
    page = await timelines.profile(db, viewer, handle, replies, cursor, limit)
    return await post_page(db, viewer, page.items, page.next_cursor)


@router.get("/actors/{handle}/followers")
async def followers(
    handle: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> ActorPage:
    """Who follows an actor, newest first."""
    rows = await graph.list_follows(db, viewer, handle, "followers", cursor, limit)
    return await follow_page(db, rows, limit)


@router.get("/actors/{handle}/following")
async def following(
    handle: str, viewer: ViewerDep, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> ActorPage:
    """Whom an actor follows, newest first."""
    rows = await graph.list_follows(db, viewer, handle, "following", cursor, limit)
    return await follow_page(db, rows, limit)


@router.get("/actors/{handle}/avatar", response_class=Response, responses=IMAGE)
async def avatar(
    handle: str, request: Request, viewer: ViewerDep, db: DB, state: State, size: Size = None
) -> Response:
    """An actor's avatar: the original, or a square WebP thumbnail (`size` 96 or 192)."""
    actor = await get_visible_actor(db, viewer, handle)
    image = await actor_service.actor_image(db, actor, "avatar")
    if image is None:
        raise NotFound(f"@{actor.handle} has no avatar")
    return await image_response(request, *image, "avatar", size, state.settings.data_dir)


@router.get("/actors/{handle}/header", response_class=Response, responses=IMAGE)
async def header(
    handle: str, request: Request, viewer: ViewerDep, db: DB, state: State, size: Size = None
) -> Response:
    """An actor's header: the original, or a WebP thumbnail at most `size` (600 or 1200) wide."""
    actor = await get_visible_actor(db, viewer, handle)
    image = await actor_service.actor_image(db, actor, "header")
    if image is None:
        raise NotFound(f"@{actor.handle} has no header image")
    return await image_response(request, *image, "header", size, state.settings.data_dir)


@router.post("/actors/{handle}/follow", response_model_exclude_unset=True)
async def follow(handle: str, viewer: ActingViewer, db: DB) -> FollowOut:
    """Follow an actor (a request, when it is locked)."""
    row = await graph.follow(db, viewer, handle)
    return FollowOut(state=row.state, actor=await profile(db, viewer, handle))


@router.delete("/actors/{handle}/follow", response_model_exclude_unset=True)
async def unfollow(handle: str, viewer: ActingViewer, db: DB) -> ActorProfile:
    """Stop following an actor, or withdraw a request."""
    await graph.unfollow(db, viewer, handle)
    return await profile(db, viewer, handle)


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
) -> ActorPage:
    """Actors you block."""
    rows = await graph.list_blocks_or_mutes(db, viewer, "blocks", cursor, limit)
    items = await render_actors(db, [a for _, a in rows])
    next_cursor = rows[-1][0] if len(rows) == limit else None
    return ActorPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get("/mutes")
async def mutes(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> ActorPage:
    """Actors you mute."""
    rows = await graph.list_blocks_or_mutes(db, viewer, "mutes", cursor, limit)
    items = await render_actors(db, [a for _, a in rows])
    next_cursor = rows[-1][0] if len(rows) == limit else None
    return ActorPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get("/follow-requests")
async def follow_requests(
    viewer: ActingViewer, db: DB, cursor: Cursor = None, limit: Limit = 40
) -> ActorPage:
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


@router.get("/profile", response_model_exclude_unset=True)
async def my_profile(viewer: ActingViewer, db: DB) -> ActorProfile:
    """The profile of the actor you act as."""
    return await profile(db, viewer, viewer.require_actor().id)


@router.patch("/profile", response_model_exclude_unset=True)
async def update_profile(body: ProfilePatch, viewer: ActingViewer, db: DB) -> ActorProfile:
    """Change the profile of the actor you act as."""
    fields = [f.model_dump() for f in body.fields] if body.fields is not None else None
    actor = await actor_service.update_profile(
        db, viewer.require_actor(), body.display_name, body.bio, fields, body.locked
    )
    return await profile(db, viewer, actor.id)


@router.put("/profile/avatar", response_model_exclude_unset=True)
async def put_profile_avatar(
    file: UploadFile, request: Request, viewer: ActingViewer, db: DB
) -> ActorProfile:
    """Replace your avatar (a character's is its card avatar); 8 MiB at most."""
    data = await read_upload(request, file, MAX_AVATAR_BYTES)
    assert viewer.account is not None
    actor = viewer.require_actor()
    await actor_service.set_actor_image(db, viewer.account, actor, "avatar", data)
    return await profile(db, viewer, actor.id)


@router.put("/profile/header", response_model_exclude_unset=True)
async def put_profile_header(
    file: UploadFile, request: Request, viewer: ActingViewer, db: DB
) -> ActorProfile:
    """Replace the header image of the actor you act as; 8 MiB at most."""
    data = await read_upload(request, file, MAX_AVATAR_BYTES)
    assert viewer.account is not None
    actor = viewer.require_actor()
    await actor_service.set_actor_image(db, viewer.account, actor, "header", data)
    return await profile(db, viewer, actor.id)


@router.get("/preferences")
async def get_preferences(viewer: ActingViewer) -> Preferences:
    """Your controls over AI content."""
    return Preferences.model_validate(actor_service.preferences(viewer.require_actor()))


@router.patch("/preferences")
async def update_preferences(body: PreferencesPatch, viewer: ActingViewer, db: DB) -> Preferences:
    """Change your controls: show AI posts (all, followed, none), AI replies and mentions."""
    actor = await actor_service.update_preferences(
        db, viewer.require_actor(), body.show_ai, body.accept_ai_replies, body.accept_ai_mentions
    )
    return Preferences.model_validate(actor_service.preferences(actor))
