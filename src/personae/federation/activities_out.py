"""Outgoing activities: what each outbound event becomes, and which inboxes hear it.

`build` turns one `OutboundEvent` into an activity (Mastodon-compatible JSON) and its
audience, reading the rows as they are now: an event whose post, like or follow has
gone since it was recorded is dropped (None). Ids of activities that have no row of
their own are fragments of the actor's id, as Mastodon mints them
(`{actor}#likes/{like id}`, `{actor}#follows/{follow id}`, ...), so an Undo sent later
names the same id as the activity it takes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.federation.context import Federation
from personae.federation.discovery import ACTOR_CONTEXT, AS, NOTE_CONTEXT, actor_document
from personae.federation.models import OutboundEvent, RemoteActor
from personae.federation.notes import (
    PUBLIC,
    addressing,
    create_for,
    iso,
    note_contexts,
    note_for,
    note_id,
)
from personae.federation.urls import Urls
from personae.social.models import Actor, Follow, Like, Post

# Visibilities whose posts go to every follower (direct ones only to those addressed).
TO_FOLLOWERS = ("public", "unlisted", "followers")
# Events that take something back (Delete, Undo): they still go when the actor has been
# suspended or made private since, so remote copies are removed rather than left behind.
TAKE_BACK_KINDS = frozenset({"post.deleted", "unlike", "unrepost", "unfollow", "unblock"})


@dataclass(frozen=True)
class Outgoing:
    """An activity and the inboxes it goes to (one per server where a shared inbox covers
    them: `one_per_server`)."""

    activity: dict[str, Any]
    inboxes: list[str] = field(default_factory=list)


def follow_uri(urls: Urls, handle: str, follow_id: str) -> str:
    """The id of a Follow a local actor sent (stored in `follows.uri` once sent)."""
    return f"{urls.actor(handle)}#follows/{follow_id}"


def _preferred(remote: RemoteActor) -> str:
    """Where a broadcast to this actor goes: its server's shared inbox, else its own."""
    return remote.shared_inbox or remote.inbox


async def _remotes(session: AsyncSession, actor_ids: Iterable[str]) -> list[RemoteActor]:
    """The remote actors among these ids that are still there (not marked gone)."""
    ids = sorted(set(actor_ids))
    if not ids:
        return []
    rows = await session.scalars(
        select(RemoteActor).where(RemoteActor.actor_id.in_(ids), RemoteActor.gone.is_(False))
    )
    return list(rows)


async def _follower_inboxes(session: AsyncSession, actor_id: str) -> list[str]:
    """The (shared) inboxes of an actor's remote followers (accepted follows only)."""
    rows = await session.scalars(
        select(RemoteActor)
        .join(Follow, Follow.follower_id == RemoteActor.actor_id)
        .where(
            Follow.followee_id == actor_id,
            Follow.state == "accepted",
            RemoteActor.gone.is_(False),
        )
        .order_by(RemoteActor.actor_id)
    )
    return [_preferred(r) for r in rows]


async def _personal_inbox(session: AsyncSession, actor_id: str | None) -> list[str]:
    """A remote actor's own inbox as a one-item list; empty for local or gone actors."""
    found = await _remotes(session, [actor_id] if actor_id else [])
    return [found[0].inbox] if found else []


async def _post_audience(
    session: AsyncSession, author_id: str, visibility: str, addressed: Sequence[str]
) -> list[str]:
    """Where a post (its Create, Update or Delete) goes: followers unless it is direct,
    and every remote actor it addresses."""
    inboxes = await _follower_inboxes(session, author_id) if visibility in TO_FOLLOWERS else []
    inboxes += [_preferred(r) for r in await _remotes(session, addressed)]
    return inboxes


async def one_per_server(session: AsyncSession, inboxes: Sequence[str]) -> list[str]:
    """The inboxes to send one activity to, each once, and a personal inbox left out when
    its actor's shared inbox already gets it: the shared inbox reaches everyone on that
    server, so a second copy would make it see (and show) the activity twice."""
    unique = list(dict.fromkeys(inbox for inbox in inboxes if inbox))
    if len(unique) < 2:
        return unique
    wanted = set(unique)
    rows = await session.execute(
        select(RemoteActor.inbox, RemoteActor.shared_inbox).where(
            RemoteActor.inbox.in_(unique), RemoteActor.shared_inbox != ""
        )
    )
    covered = {inbox for inbox, shared in rows if shared in wanted and shared != inbox}
    return [inbox for inbox in unique if inbox not in covered]


def _undo(actor_id: str, activity: dict[str, Any]) -> dict[str, Any]:
    """The Undo of an activity (the activity embedded, without its `@context`)."""
    inner = {k: v for k, v in activity.items() if k != "@context"}
    return {
        "@context": AS,
        "id": f"{activity['id']}/undo",
        "type": "Undo",
        "actor": actor_id,
        "object": inner,
    }


def _with_context(context: Any, body: dict[str, Any]) -> dict[str, Any]:
    return {"@context": context, **body}


async def _post_and_author(session: AsyncSession, post_id: str | None) -> tuple[Post, Actor] | None:
    post = await session.get(Post, post_id) if post_id else None
    author = await session.get(Actor, post.author_id) if post else None
    return (post, author) if post and author else None


async def _note(session: AsyncSession, urls: Urls, post: Post) -> tuple[dict[str, Any], list[str]]:
    """A local post's Note and the ids of the actors it addresses."""
    context = (await note_contexts(session, [post]))[post.id]
    return note_for(post, context, urls), [a.id for a in context.mentioned]


async def _post_created(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    post = await session.get(Post, event.subject_id) if event.subject_id else None
    if post is None or post.repost_of_id:
        return None
    context = (await note_contexts(session, [post]))[post.id]
    activity = _with_context(NOTE_CONTEXT, create_for(post, context, urls))
    addressed = [a.id for a in context.mentioned]
    return Outgoing(activity, await _post_audience(session, actor.id, post.visibility, addressed))


async def _post_updated(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    post = await session.get(Post, event.subject_id) if event.subject_id else None
    if post is None or post.repost_of_id:
        return None
    note, addressed = await _note(session, urls, post)
    moment = post.edited_at or post.created_at
    activity = _with_context(
        NOTE_CONTEXT,
        {
            "id": f"{note['id']}#updates/{int(moment.timestamp())}",
            "type": "Update",
            "actor": note["attributedTo"],
            "published": iso(moment),
            "to": note["to"],
            "cc": note["cc"],
            "object": note,
        },
    )
    return Outgoing(activity, await _post_audience(session, actor.id, post.visibility, addressed))


async def _post_deleted(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    payload = event.payload
    handle = str(payload.get("handle") or actor.handle)
    visibility = str(payload.get("visibility") or "public")
    addressed = [str(a) for a in payload.get("addressed") or []]
    note = urls.note(handle, str(event.subject_id))
    remotes = await _remotes(session, addressed)
    to, cc = addressing(visibility, urls.followers(handle), [r.uri for r in remotes])
    activity = {
        "@context": AS,
        "id": f"{note}#delete",
        "type": "Delete",
        "actor": urls.actor(handle),
        "to": to,
        "cc": cc,
        "object": {"id": note, "type": "Tombstone"},
    }
    return Outgoing(activity, await _post_audience(session, actor.id, visibility, addressed))


async def _like(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    found = await _post_and_author(session, event.subject_id)
    like_id = str(event.payload.get("like_id") or "")
    if found is None or not like_id:
        return None
    post, author = found
    if event.kind == "like" and await session.get(Like, like_id) is None:
        return None  # taken back since (the unlike was cancelled with it)
    actor_uri = urls.actor(actor.handle)
    like = {
        "@context": AS,
        "id": f"{actor_uri}#likes/{like_id}",
        "type": "Like",
        "actor": actor_uri,
        "object": note_id(post, author, urls),
    }
    activity = like if event.kind == "like" else _undo(actor_uri, like)
    return Outgoing(activity, await _personal_inbox(session, author.id))


async def _announce(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    payload = event.payload
    original = await _post_and_author(session, str(payload.get("original_id") or ""))
    if event.kind == "repost":
        repost = await session.get(Post, event.subject_id) if event.subject_id else None
        if repost is None or original is None:
            return None
        published = iso(repost.created_at)
    else:
        published = str(payload.get("published") or "")
    handle = str(payload.get("handle") or actor.handle)
    if original is not None:
        object_id, author_id = note_id(original[0], original[1], urls), original[1].id
    else:  # the original went too: the payload still names it
        object_id, author_id = str(payload.get("original_uri") or ""), None
        if not object_id:
            return None
    author_uri = await _actor_uri(session, urls, author_id)
    actor_uri = urls.actor(handle)
    announce: dict[str, Any] = {
        "@context": AS,
        "id": urls.note_activity(handle, str(event.subject_id)),
        "type": "Announce",
        "actor": actor_uri,
        "published": published,
        "to": [PUBLIC],
        "cc": [c for c in (author_uri, urls.followers(handle)) if c],
        "object": object_id,
    }
    if not published:
        del announce["published"]
    activity = announce if event.kind == "repost" else _undo(actor_uri, announce)
    inboxes = await _follower_inboxes(session, actor.id)
    inboxes += await _personal_inbox(session, author_id or payload.get("original_author_id"))
    return Outgoing(activity, inboxes)


async def _actor_uri(session: AsyncSession, urls: Urls, actor_id: str | None) -> str | None:
    """The ActivityPub id of any actor (remote or local) by its row id."""
    if actor_id is None:
        return None
    remote = await session.get(RemoteActor, actor_id)
    if remote is not None:
        return remote.uri
    local = await session.get(Actor, actor_id)
    return urls.actor(local.handle) if local else None


async def _follow(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    target = await session.get(RemoteActor, event.subject_id) if event.subject_id else None
    follow_id = str(event.payload.get("follow_id") or "")
    if target is None or not follow_id:
        return None
    actor_uri = urls.actor(actor.handle)
    if event.kind == "follow":
        row = await session.get(Follow, follow_id)
        if row is None:
            return None  # unfollowed before it was ever sent
        uri = row.uri or follow_uri(urls, actor.handle, follow_id)
        # Written back so the Accept (or Reject) that names it finds this row, and the
        # Undo sent later names the same id however the actor's handle changes.
        row.uri = uri
    else:
        uri = str(event.payload.get("uri") or follow_uri(urls, actor.handle, follow_id))
    follow = {
        "@context": AS,
        "id": uri,
        "type": "Follow",
        "actor": actor_uri,
        "object": target.uri,
    }
    activity = follow if event.kind == "follow" else _undo(actor_uri, follow)
    return Outgoing(activity, [target.inbox] if not target.gone else [])


async def _answer(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    follower = await session.get(RemoteActor, event.subject_id) if event.subject_id else None
    follow_id = str(event.payload.get("follow_id") or "")
    uri = event.payload.get("uri")
    if follower is None:
        return None
    if not uri and follow_id:  # recorded before the inbox stored the Follow's id
        row = await session.get(Follow, follow_id)
        uri = row.uri if row else None
    if not uri:
        return None  # nothing to name: a remote server cannot match an answer without it
    actor_uri = urls.actor(actor.handle)
    accepted = event.kind == "follow.accepted"
    verb = "accepts" if accepted else "rejects"
    activity = {
        "@context": AS,
        "id": f"{actor_uri}#{verb}/follows/{follow_id or event.id}",
        "type": "Accept" if accepted else "Reject",
        "actor": actor_uri,
        "object": {"id": uri, "type": "Follow", "actor": follower.uri, "object": actor_uri},
    }
    return Outgoing(activity, [follower.inbox] if not follower.gone else [])


async def _block(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    target = await session.get(RemoteActor, event.subject_id) if event.subject_id else None
    block_id = str(event.payload.get("block_id") or "")
    if target is None or not block_id:
        return None
    actor_uri = urls.actor(actor.handle)
    block = {
        "@context": AS,
        "id": f"{actor_uri}#blocks/{block_id}",
        "type": "Block",
        "actor": actor_uri,
        "object": target.uri,
    }
    activity = block if event.kind == "block" else _undo(actor_uri, block)
    return Outgoing(activity, [target.inbox] if not target.gone else [])


async def _profile(
    session: AsyncSession, urls: Urls, event: OutboundEvent, actor: Actor
) -> Outgoing | None:
    document = await actor_document(session, urls, actor)
    person = {k: v for k, v in document.items() if k != "@context"}
    activity = {
        "@context": ACTOR_CONTEXT,
        "id": f"{person['id']}#updates/{int(event.created_at.timestamp())}-{event.id[-6:]}",
        "type": "Update",
        "actor": person["id"],
        "to": [PUBLIC],
        "object": person,
    }
    return Outgoing(activity, await _follower_inboxes(session, actor.id))


BUILDERS = {
    "post.created": _post_created,
    "post.updated": _post_updated,
    "post.deleted": _post_deleted,
    "like": _like,
    "unlike": _like,
    "repost": _announce,
    "unrepost": _announce,
    "follow": _follow,
    "unfollow": _follow,
    "follow.accepted": _answer,
    "follow.rejected": _answer,
    "block": _block,
    "unblock": _block,
    "profile.updated": _profile,
}


async def build(
    session: AsyncSession, federation: Federation, event: OutboundEvent
) -> Outgoing | None:
    """The activity an event becomes and its inboxes; None when there is nothing to send.

    A suspended or hidden actor sends only what takes something back (TAKE_BACK_KINDS).
    May commit (making the acting actor's key for an actor document).
    """
    actor = await session.get(Actor, event.actor_id)
    if actor is None or actor.domain is not None:
        return None  # the actor was deleted since (or the event was never ours to send)
    if (actor.suspended or actor.hidden) and event.kind not in TAKE_BACK_KINDS:
        return None  # nobody outside may see what it does now
    builder = BUILDERS.get(event.kind)
    if builder is None:
        return None
    outgoing = await builder(session, federation.urls, event, actor)
    if outgoing is None:
        return None
    # Whatever the kind, one copy per server where a shared inbox covers its recipients.
    return Outgoing(outgoing.activity, await one_per_server(session, outgoing.inboxes))
