"""Discovery: WebFinger, actor documents, the instance actor, collections and NodeInfo.

Services only (a session, the instance's `Urls`, plain arguments in; JSON-ready dicts
out); `federation/routes.py` is the HTTP layer. Everything here is what an anonymous
remote server may read: hidden (private) characters and suspended actors do not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.errors import DomainError, NotFound
from personae.federation.keys import ensure_instance_key, ensure_key
from personae.federation.notes import (
    FETCHABLE,
    create_for,
    creates_for,
    iso,
    note_contexts,
    note_for,
)
from personae.federation.urls import INSTANCE_ACTOR_PATH, Urls
from personae.social.access import ANONYMOUS, actor_visible
from personae.social.models import Actor, Post
from personae.social.text import render_html

AS = "https://www.w3.org/ns/activitystreams"
ACTOR_CONTEXT: list[Any] = [
    AS,
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]
NOTE_CONTEXT: list[Any] = [
    AS,
    {
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        # Quotes: FEP-044f (Mastodon 4.4+), Misskey's and Fedibird's older spellings.
        "quote": {"@id": "https://w3id.org/fep/044f#quote", "@type": "@id"},
        "quoteUrl": "as:quoteUrl",
        "quoteUri": "http://fedibird.com/ns#quoteUri",
        "_misskey_quote": "https://misskey-hub.net/ns#_misskey_quote",
    },
]
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_SCHEMA_20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
HANDLE = re.compile(r"[A-Za-z0-9_]{1,30}")
OUTBOX_PAGE = 20
# Images up to this size are hashed on the event loop (well under a millisecond).
HASH_INLINE_BYTES = 256 * 1024


class BadResource(DomainError):
    """A WebFinger resource that is malformed or names another server (400)."""

    code = "bad_resource"


async def public_actor(session: AsyncSession, handle: str) -> Actor:
    """A local actor anyone may see, by handle; 404 for unknown, private or suspended."""
    if not HANDLE.fullmatch(handle):
        raise NotFound("no such actor")
    actor = await session.scalar(
        select(Actor).where(Actor.handle == handle.lower(), actor_visible(ANONYMOUS))
    )
    if actor is None:
        raise NotFound(f"no actor '@{handle}'")
    return actor


# --- WebFinger ---------------------------------------------------------------------


async def resolve_resource(session: AsyncSession, urls: Urls, resource: str) -> Actor | None:
    """The actor a WebFinger resource names; None means the instance actor.

    Accepts `acct:handle@domain` (also without `acct:` or with a leading `@`) and the
    actor's id or profile URL. Malformed or foreign resources raise BadResource (400);
    well-formed local ones that name nobody visible raise NotFound (404).
    """
    value = resource.strip()
    if value.lower().startswith(("http://", "https://")):
        return await _resolve_url(session, urls, value)
    if value.lower().startswith("acct:"):
        value = value[5:]
    user, at, domain = value.lstrip("@").rpartition("@")
    if not at or not user or not domain:
        raise BadResource("the resource must be acct:handle@domain or an actor URL")
    if domain.lower() != urls.domain:
        raise BadResource(f"'{domain}' is not this server's domain ({urls.domain})")
    if user.lower() == urls.domain:
        return None
    if not HANDLE.fullmatch(user):
        raise BadResource(f"'{user}' is not a valid handle")
    return await public_actor(session, user)


async def _resolve_url(session: AsyncSession, urls: Urls, value: str) -> Actor | None:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise BadResource("the resource is not a valid URL") from exc
    if parts.netloc.lower() != urls.domain:
        raise BadResource(f"'{parts.netloc}' is not this server ({urls.domain})")
    path = parts.path.rstrip("/")
    if path == INSTANCE_ACTOR_PATH:
        return None
    match = re.fullmatch(r"/(?:users/|@)([^/]+)", path)
    if match is None:
        raise NotFound("no actor at that address")
    return await public_actor(session, match.group(1))


def webfinger_jrd(urls: Urls, actor: Actor | None) -> dict[str, Any]:
    """The JRD for an actor (None: the instance actor); its self link is the actor id."""
    if actor is None:
        actor_id, subject, profile = urls.instance_actor, urls.acct(urls.domain), urls.base + "/"
    else:
        actor_id, subject, profile = (
            urls.actor(actor.handle),
            urls.acct(actor.handle),
            urls.profile(actor.handle),
        )
    return {
        "subject": f"acct:{subject}",
        "aliases": [actor_id, profile],
        "links": [
            {"rel": PROFILE_PAGE, "type": "text/html", "href": profile},
            {"rel": "self", "type": "application/activity+json", "href": actor_id},
        ],
    }


# --- actor documents -----------------------------------------------------------------


def _field_value(value: str) -> str:
    """A profile field's value as HTML: escaped, and a bare URL made a link."""
    if re.fullmatch(r"https?://\S+", value):
        url = escape(value)
        return f'<a href="{url}" rel="me nofollow noopener noreferrer" target="_blank">{url}</a>'
    return str(escape(value))


async def _operator(session: AsyncSession, actor: Actor) -> str:
    """The handle of the account answerable for a character."""
    handle = await session.scalar(select(Actor.handle).where(Actor.id == actor.operator_id))
    if handle is None:  # an account whose person actor was never backfilled
        handle = await session.scalar(
            select(Account.username).where(Account.id == actor.operator_id)
        )
    return handle or "unknown"


@dataclass(frozen=True)
class Image:
    """An actor's avatar or header as its document names it: type and content version."""

    mime: str
    version: str


def image_version(data: bytes) -> str:
    """A short content hash: a new image gets a new URL (remote servers refetch an image
    only when its URL changes), the same image keeps its URL."""
    return hashlib.sha256(data).hexdigest()[:16]


async def _version(data: bytes | None) -> str:
    if not data:
        return ""
    if len(data) > HASH_INLINE_BYTES:  # keep the event loop free for big images
        return await asyncio.to_thread(image_version, bytes(data))
    return image_version(bytes(data))


async def _images(session: AsyncSession, actor: Actor) -> tuple[Image | None, Image | None]:
    """The avatar and the header (None for none), with the version their URLs carry."""
    row = (
        await session.execute(
            select(Actor.avatar, Actor.avatar_mime, Actor.header, Actor.header_mime).where(
                Actor.id == actor.id
            )
        )
    ).one()
    avatar_data, avatar_mime = row[0], row[1]
    if actor.kind == "character":  # a character's avatar is its card's
        found = (
            await session.execute(
                select(Character.avatar, Character.avatar_mime).where(Character.id == actor.id)
            )
        ).first()
        avatar_data, avatar_mime = (found[0], found[1]) if found else (None, "")
    avatar = Image(avatar_mime or "", await _version(avatar_data)) if avatar_data else None
    header = Image(row[3] or "", await _version(row[2])) if row[2] else None
    return avatar, header


async def actor_document(session: AsyncSession, urls: Urls, actor: Actor) -> dict[str, Any]:
    """An actor as ActivityPub sees it: Person for people, Service for characters.

    A character's summary opens with an AI disclosure naming its operator, and its
    attachment carries an "Operator" field, so remote apps show both without knowing
    anything about personae; its `attributedTo` is the operator's actor, for software.
    Image URLs carry a content version (`?v=`), so a new image gets a new URL.
    """
    key = await ensure_key(session, actor.id)
    actor_id = urls.actor(actor.handle)
    summary = render_html(actor.bio, {}, urls.base) if actor.bio.strip() else ""
    attachment = [
        {"type": "PropertyValue", "name": f["name"], "value": _field_value(f["value"])}
        for f in actor.fields or []
        if isinstance(f, dict) and "name" in f and "value" in f
    ]
    operator = ""
    if actor.kind == "character":
        operator = await _operator(session, actor)
        link = (
            f'<a href="{escape(urls.profile(operator))}" rel="author">'
            f"@{escape(urls.acct(operator))}</a>"
        )
        summary = f"<p>🤖 AI character operated by {link}</p>{summary}"
        attachment.append({"type": "PropertyValue", "name": "Operator", "value": link})
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Service" if actor.kind == "character" else "Person",
        "preferredUsername": actor.handle,
        "name": actor.display_name or actor.handle,
        "summary": summary,
        "url": urls.profile(actor.handle),
        "inbox": urls.inbox(actor.handle),
        "outbox": urls.outbox(actor.handle),
        "followers": urls.followers(actor.handle),
        "following": urls.following(actor.handle),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {
            "id": urls.key_id(actor_id),
            "owner": actor_id,
            "publicKeyPem": key.public_pem,
        },
        "manuallyApprovesFollowers": actor.locked,
        "discoverable": actor.discoverable,
        "published": iso(actor.created_at),
        "attachment": attachment,
    }
    if operator:
        # Machine-readable disclosure: the person answerable for what the character posts.
        document["attributedTo"] = urls.actor(operator)
    avatar, header = await _images(session, actor)
    if avatar is not None:
        document["icon"] = {
            "type": "Image",
            "mediaType": avatar.mime,
            "url": urls.avatar(actor.handle, avatar.version),
        }
    if header is not None:
        document["image"] = {
            "type": "Image",
            "mediaType": header.mime,
            "url": urls.header(actor.handle, header.version),
        }
    return document


async def instance_actor_document(session: AsyncSession, urls: Urls) -> dict[str, Any]:
    """The instance actor: an Application that signs the instance's own fetches."""
    key = await ensure_instance_key(session)
    actor_id = urls.instance_actor
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Application",
        "preferredUsername": urls.domain,
        "name": urls.domain,
        "summary": "<p>The instance actor of this personae server; it signs the server's "
        "own requests and posts nothing.</p>",
        "url": urls.base + "/",
        "inbox": urls.instance_inbox,
        "outbox": urls.instance_outbox,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {
            "id": urls.key_id(actor_id),
            "owner": actor_id,
            "publicKeyPem": key.public_pem,
        },
        "manuallyApprovesFollowers": True,
        "discoverable": False,
    }


# --- collections ---------------------------------------------------------------------


def _outbox_posts(actor: Actor) -> Select[Post]:
    """The actor's own posts anyone may fetch (reposts become Announces later)."""
    return select(Post).where(
        Post.author_id == actor.id,
        Post.visibility.in_(FETCHABLE),
        Post.repost_of_id.is_(None),
    )


async def outbox_page(
    session: AsyncSession, urls: Urls, actor: Actor, max_id: str | None = None
) -> dict[str, Any]:
    """A page of the outbox: Create activities of public and unlisted posts, newest first."""
    query = _outbox_posts(actor)
    if max_id:
        query = query.where(Post.id < max_id)
    posts = list(await session.scalars(query.order_by(Post.id.desc()).limit(OUTBOX_PAGE + 1)))
    more = len(posts) > OUTBOX_PAGE
    posts = posts[:OUTBOX_PAGE]
    outbox = urls.outbox(actor.handle)
    page: dict[str, Any] = {
        "id": f"{outbox}?page=true" + (f"&max_id={max_id}" if max_id else ""),
        "type": "OrderedCollectionPage",
        "partOf": outbox,
        "orderedItems": await creates_for(session, posts, urls),
    }
    if more:
        page["next"] = f"{outbox}?page=true&max_id={posts[-1].id}"
    return page


async def outbox(session: AsyncSession, urls: Urls, actor: Actor) -> dict[str, Any]:
    """The outbox collection, with its first page inline (one fetch shows recent posts)."""
    total = await session.scalar(select(func.count()).select_from(_outbox_posts(actor).subquery()))
    return {
        "@context": NOTE_CONTEXT,
        "id": urls.outbox(actor.handle),
        "type": "OrderedCollection",
        "totalItems": total or 0,
        "first": await outbox_page(session, urls, actor),
    }


def follow_collection(urls: Urls, actor: Actor, which: str) -> dict[str, Any]:
    """Followers or following: the count only (the lists stay on the profile page)."""
    collection = urls.followers if which == "followers" else urls.following
    count = actor.followers_count if which == "followers" else actor.following_count
    return {
        "@context": AS,
        "id": collection(actor.handle),
        "type": "OrderedCollection",
        "totalItems": count,
    }


def empty_collection(collection_id: str) -> dict[str, Any]:
    """An empty OrderedCollection (the instance actor's outbox)."""
    return {"@context": AS, "id": collection_id, "type": "OrderedCollection", "totalItems": 0}


async def fetchable_post(session: AsyncSession, actor: Actor, post_id: str) -> Post:
    """One of the actor's public or unlisted posts; anything else is a 404."""
    post = await session.scalar(_outbox_posts(actor).where(Post.id == post_id))
    if post is None:
        raise NotFound("no such note")
    return post


async def note_document(
    session: AsyncSession, urls: Urls, post: Post, activity: bool = False
) -> dict[str, Any]:
    """A fetchable post as a Note (or as the Create that published it), with `@context`."""
    context = (await note_contexts(session, [post]))[post.id]
    body = create_for(post, context, urls) if activity else note_for(post, context, urls)
    return {"@context": NOTE_CONTEXT, **body}


# --- NodeInfo ------------------------------------------------------------------------


def _id_at(moment: datetime) -> str:
    """The smallest id `db.new_id` makes at a moment (ids start with microseconds, hex)."""
    return f"{int(moment.timestamp() * 1_000_000):014x}"


def software_version() -> str:
    """The installed personae version."""
    try:
        return version("personae")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


async def nodeinfo(session: AsyncSession, urls: Urls, schema: str = "2.1") -> dict[str, Any]:
    """NodeInfo (2.1, or 2.0 for older crawlers): software, protocols, and counts of this
    server's own people and posts (remote actors and their posts stored here never count),
    cheap enough to take per request."""
    local = Actor.domain.is_(None)
    active = Actor.suspended.is_(False)
    users = await session.scalar(
        select(func.count()).select_from(Actor).where(Actor.kind == "person", local, active)
    )
    characters = await session.scalar(
        select(func.count())
        .select_from(Actor)
        .where(Actor.kind == "character", local, active, Actor.hidden.is_(False))
    )
    posts = await session.scalar(select(func.coalesce(func.sum(Actor.posts_count), 0)).where(local))
    now = datetime.now(UTC)

    async def posting_people(days: int) -> int:
        # Ids sort by creation time, so the primary key finds recent posts without a scan.
        since = _id_at(now - timedelta(days=days))
        count = await session.scalar(
            select(func.count(func.distinct(Post.author_id)))
            .join(Actor, Actor.id == Post.author_id)
            .where(Post.id >= since, Post.author_is_ai.is_(False), Actor.kind == "person", local)
        )
        return int(count or 0)

    return {
        "version": schema,
        "software": {"name": "personae", "version": software_version()},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": True,
        "usage": {
            "users": {
                "total": int(users or 0),
                "activeMonth": await posting_people(30),
                "activeHalfyear": await posting_people(180),
            },
            "localPosts": int(posts or 0),
        },
        "metadata": {"nodeName": urls.domain, "characters": int(characters or 0)},
    }


def nodeinfo_links(urls: Urls) -> dict[str, Any]:
    """The `/.well-known/nodeinfo` document: both schema versions we serve."""
    return {
        "links": [
            {"rel": NODEINFO_SCHEMA, "href": f"{urls.base}/nodeinfo/2.1"},
            {"rel": NODEINFO_SCHEMA_20, "href": f"{urls.base}/nodeinfo/2.0"},
        ]
    }


def host_meta_xrd(urls: Urls) -> str:
    """`/.well-known/host-meta` (RFC 6415): where WebFinger is, for older software."""
    template = escape(webfinger_template(urls))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/xrd+xml" template="{template}"/>\n'
        "</XRD>\n"
    )


def host_meta_json(urls: Urls) -> dict[str, Any]:
    """`/.well-known/host-meta.json`: the same in JSON (JRD)."""
    return {"links": [{"rel": "lrdd", "template": webfinger_template(urls)}]}


def webfinger_template(urls: Urls) -> str:
    """The WebFinger URL with `{uri}` where the resource goes."""
    return f"{urls.base}/.well-known/webfinger?resource={{uri}}"
