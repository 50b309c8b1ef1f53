"""What the inbox's handlers share: the checked activity, its context, local addresses.

Kept apart from `inbox` (the request pipeline) and `inbound` (the handlers) so that
both, and `inbound_posts`, can use them without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import DomainError
from personae.federation.context import Federation
from personae.federation.models import RemoteActor
from personae.federation.remote import BadActor, id_of
from personae.federation.urls import Urls
from personae.social.access import Viewer
from personae.social.models import Actor, Post

_ACTOR_PATH = re.compile(r"/(?:users/|@)([A-Za-z0-9_]{1,30})/?")
_NOTE_PATH = re.compile(r"/users/([A-Za-z0-9_]{1,30})/statuses/([A-Za-z0-9]{1,32})/?")


class BadActivity(DomainError):
    """A JSON object that is not a well-formed activity, or one that does not add up (422)."""

    status_code = 422
    code = "bad_activity"


class Unwanted(Exception):
    """Raised by a handler to drop its activity: nothing of it is kept, not even its sender."""


@dataclass(frozen=True)
class Activity:
    """An activity whose shape was checked: id and actor are http(s) URLs on one host."""

    id: str
    type: str
    actor: str
    object: Any
    document: dict[str, Any]

    @property
    def object_id(self) -> str | None:
        """The id of the object (a URL string, or an embedded object's id), if it has one."""
        value = self.object.get("id") if isinstance(self.object, dict) else self.object
        return value if isinstance(value, str) else None

    @property
    def object_type(self) -> str | None:
        """The embedded object's type (None when the object is only named by its id)."""
        kind = self.object.get("type") if isinstance(self.object, dict) else None
        return kind if isinstance(kind, str) else None


@dataclass(frozen=True)
class Inbound:
    """One verified activity being applied: who sent it and the session it changes."""

    session: AsyncSession
    federation: Federation
    activity: Activity
    actor: Actor
    remote: RemoteActor
    # The sender as the social services see it (its blocks either way and mutes).
    viewer: Viewer

    @property
    def urls(self) -> Urls:
        """This instance's addresses."""
        return self.federation.urls

    @property
    def actor_uri(self) -> str:
        """The sender's ActivityPub id."""
        return self.remote.uri


def maybe_id(value: Any) -> str | None:
    """The id of a reference (URL string or object with an id), or None if it has none."""
    try:
        return id_of(value, "a reference")
    except BadActor:
        return None


def _local_path(urls: Urls, uri: str) -> str | None:
    prefix = urls.base + "/"
    if not uri.startswith(prefix) or "?" in uri or "#" in uri:
        return None
    return uri[len(urls.base) :]


def local_handle(urls: Urls, uri: str) -> str | None:
    """The handle a local actor id (or profile URL) names; None for anything else."""
    path = _local_path(urls, uri)
    match = _ACTOR_PATH.fullmatch(path) if path else None
    return match.group(1).lower() if match else None


async def find_post(session: AsyncSession, urls: Urls, uri: str) -> Post | None:
    """The post an ActivityPub id names: one of our notes, or a stored remote post."""
    path = _local_path(urls, uri)
    if path is not None:
        match = _NOTE_PATH.fullmatch(path)
        if match is None:
            return None
        handle, post_id = match.groups()
        return await session.scalar(
            select(Post)
            .join(Actor, Actor.id == Post.author_id)
            .where(Post.id == post_id, Actor.handle == handle.lower(), Actor.domain.is_(None))
        )
    return await session.scalar(select(Post).where(Post.uri == uri))


def is_local(urls: Urls, uri: str) -> bool:
    """Whether a URL is on this instance."""
    return _local_path(urls, uri) is not None
