"""Remote actors: fetched, checked and kept as `actors` rows (with `domain`) plus `remote_actors`.

Everything a remote server says about an actor is validated with limits before it is
stored: the id must be where it was fetched from, the key must belong to the actor,
every address must be http(s). A remote actor's handle is `user@domain` (lower case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from personae.db import new_id, utcnow
from personae.errors import DomainError, Invalid, NotFound
from personae.federation.context import Federation
from personae.federation.fetch import ACCEPT_JRD, FetchError
from personae.federation.html import to_text
from personae.federation.models import URI_MAX, RemoteActor
from personae.federation.rfc9421 import load_verification_key
from personae.federation.signatures import KeyFormatError
from personae.federation.urls import host_of as host_of
from personae.social.actors import search_key
from personae.social.models import Actor

ACTOR_TYPES = ("Person", "Service", "Application", "Group", "Organization")
USERNAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
ACCT = re.compile(
    r"@?(?P<user>[A-Za-z0-9_.\-]{1,64})@(?P<domain>[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?)"
)
# A stored actor older than this is fetched again when it is next needed.
REFRESH_AFTER = timedelta(days=1)
MAX_NAME = 100
MAX_BIO = 5000
MAX_KEY_PEM = 10_000
MAX_DOMAIN = 255
MAX_HANDLE = 300  # actors.handle
# Control characters (NUL included) and whitespace have no place in an address.
_UNSAFE_URI_CHARS = re.compile(r"[\x00-\x20\x7f]")


class BadActor(DomainError):
    """A remote actor document that is malformed or does not add up (422)."""

    status_code = 422
    code = "bad_remote_actor"


def check_uri(value: Any, what: str) -> str:
    """A string that is an absolute http(s) URL within the length limit, or BadActor."""
    if not isinstance(value, str) or not value or len(value) > URI_MAX:
        raise BadActor(f"{what} must be an http(s) URL of at most {URI_MAX} characters")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise BadActor(f"{what} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadActor(f"{what} must be an http(s) URL")
    if _UNSAFE_URI_CHARS.search(value):
        raise BadActor(f"{what} contains spaces or control characters")
    host = host_of(value)
    if not host or len(host) > MAX_DOMAIN:
        raise BadActor(f"{what} has no valid host (at most {MAX_DOMAIN} characters)")
    return value


def id_of(value: Any, what: str) -> str:
    """The id of a reference that may be a URL string or an object with an `id`."""
    if isinstance(value, dict):
        value = value.get("id")
    return check_uri(value, what)


def without_fragment(url: str) -> str:
    """A URL without its `#fragment` (a key id's document is the actor's)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


@dataclass(frozen=True)
class ParsedActor:
    """The parts of a remote actor document we keep, all checked."""

    uri: str
    actor_type: str
    username: str
    domain: str
    name: str
    bio: str
    inbox: str
    shared_inbox: str
    outbox: str
    followers_url: str
    url: str
    avatar_url: str
    key_id: str
    public_key_pem: str
    locked: bool

    @property
    def handle(self) -> str:
        """`user@domain`, lower case."""
        return f"{self.username}@{self.domain}".lower()


def _optional_uri(value: Any, what: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, dict):
        value = value.get("href") or value.get("url") or value.get("id")
    if isinstance(value, list):
        value = value[0] if value else ""
        return _optional_uri(value, what)
    return check_uri(value, what)


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def parse_actor(document: dict[str, Any], fetched_from: str) -> ParsedActor:
    """Check a fetched actor document; its id must be the URL it came from (minus fragment)."""
    uri = check_uri(document.get("id"), "the actor's id")
    if without_fragment(uri) != without_fragment(fetched_from):
        raise BadActor("the actor's id is not the address it was fetched from")
    actor_type = document.get("type")
    if actor_type not in ACTOR_TYPES:
        raise BadActor(f"type {str(actor_type)[:40]!r} is not an actor type")
    username = document.get("preferredUsername")
    if username is None:
        # Optional in ActivityPub: such an actor is named after the last part of its id.
        username = urlsplit(uri).path.rstrip("/").rpartition("/")[2]
        if not USERNAME.fullmatch(username):
            raise BadActor("the actor has no preferredUsername and its id ends in no usable name")
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise BadActor("preferredUsername must be 1-64 letters, digits, '_', '.' or '-'")
    inbox = check_uri(document.get("inbox"), "the inbox")
    key = document.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict) and k.get("owner") == uri), None)
    if not isinstance(key, dict):
        raise BadActor("the actor has no publicKey")
    if key.get("owner") != uri:
        raise BadActor("the public key's owner is not the actor")
    key_id = check_uri(key.get("id"), "the key id")
    if host_of(key_id) != host_of(uri):
        raise BadActor("the key id is on another server than the actor")
    pem = key.get("publicKeyPem")
    if not isinstance(pem, str) or len(pem) > MAX_KEY_PEM:
        raise BadActor("publicKeyPem is missing or too long")
    try:
        load_verification_key(pem)  # RSA, or Ed25519 (usable for RFC 9421 signatures only)
    except KeyFormatError as exc:
        raise BadActor(f"publicKeyPem is not a usable public key: {exc}") from exc
    endpoints = document.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
    domain = host_of(uri)
    if len(f"{username}@{domain}") > MAX_HANDLE:
        raise BadActor(f"user@domain is longer than {MAX_HANDLE} characters")
    return ParsedActor(
        uri=uri,
        actor_type=str(actor_type),
        username=username,
        domain=domain,
        name=_text(document.get("name"), MAX_NAME),
        bio=to_text(_text(document.get("summary"), MAX_BIO * 4))[:MAX_BIO],
        inbox=inbox,
        shared_inbox=_optional_uri(shared, "the shared inbox"),
        outbox=_optional_uri(document.get("outbox"), "the outbox"),
        followers_url=_optional_uri(document.get("followers"), "the followers collection"),
        url=_optional_uri(document.get("url"), "the profile URL"),
        avatar_url=_optional_uri(document.get("icon"), "the icon"),
        key_id=key_id,
        public_key_pem=pem,
        locked=document.get("manuallyApprovesFollowers") is True,
    )


def key_owner(document: dict[str, Any], url: str, key_id: str) -> str | None:
    """Whose key a fetched key document says it is: None when the document is the actor
    itself (Mastodon's `actor#main-key`), else the owner's id, to be fetched.

    A key with a document of its own names its `owner`; GoToSocial serves, at
    `actor/main-key`, a stub of the actor (its `id` is the actor's, with or without a
    `type`) whose `publicKey` names the owner. Either way the owner is fetched by its id
    and must publish the key itself, as Mastodon does.
    """
    document_id = document.get("id")
    if (
        document.get("type") in ACTOR_TYPES
        and isinstance(document_id, str)
        and without_fragment(document_id) == url
    ):
        return None
    owner = document.get("owner")
    key = document.get("publicKey")
    if owner is None and isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict) and k.get("id") == key_id), None)
    if owner is None and isinstance(key, dict) and key.get("id") == key_id:
        owner = key.get("owner")
    if owner is None:
        owner = document_id
    owner = check_uri(owner, "the key's owner")
    if host_of(owner) != host_of(key_id):
        raise BadActor("the key's owner is on another server than the key")
    return owner


async def remote_of(session: AsyncSession, actor_id: str) -> RemoteActor | None:
    """The remote details of an actor (None for local actors)."""
    return await session.get(RemoteActor, actor_id)


async def stored_by_uri(session: AsyncSession, uri: str) -> tuple[Actor, RemoteActor] | None:
    """A remote actor already stored, by its ActivityPub id."""
    row = (
        await session.execute(
            select(Actor, RemoteActor)
            .join(RemoteActor, RemoteActor.actor_id == Actor.id)
            .where(RemoteActor.uri == uri)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _free_handle(session: AsyncSession, wanted: str, actor_id: str) -> str:
    """`wanted`, or wanted with a suffix when another actor (an older account) holds it."""
    holder = await session.scalar(select(Actor.id).where(Actor.handle == wanted))
    if holder is None or holder == actor_id:
        return wanted
    return f"{wanted}~{actor_id[-6:]}"


async def store(session: AsyncSession, parsed: ParsedActor) -> tuple[Actor, RemoteActor]:
    """Insert or update a remote actor from a parsed document (flushed, not committed)."""
    try:
        # A savepoint: a concurrent store of the same actor costs only this step.
        async with session.begin_nested():
            return await _store(session, parsed)
    except IntegrityError:
        # Someone else stored the same actor meanwhile: theirs is as good as ours.
        again = await stored_by_uri(session, parsed.uri)
        if again is None:
            raise
        return again


async def _store(session: AsyncSession, parsed: ParsedActor) -> tuple[Actor, RemoteActor]:
    found = await stored_by_uri(session, parsed.uri)
    if found is None:
        actor_id = new_id()
        actor = Actor(
            id=actor_id,
            kind="person",
            handle=await _free_handle(session, parsed.handle, actor_id),
            domain=parsed.domain,
            search_key=search_key(actor_id),
        )
        remote = RemoteActor(actor_id=actor_id, uri=parsed.uri)
        session.add(actor)
        # No relationship() ties the two, so the unit of work need not insert the actor
        # first: flush it before its remote_actors row (SQLite checks the key at once).
        await session.flush()
        session.add(remote)
    else:
        actor, remote = found
        if actor.handle != parsed.handle:
            actor.handle = await _free_handle(session, parsed.handle, actor.id)
    actor.display_name = parsed.name
    actor.bio = parsed.bio
    actor.locked = parsed.locked
    actor.is_ai = False
    remote.actor_type = parsed.actor_type
    remote.inbox = parsed.inbox
    remote.shared_inbox = parsed.shared_inbox
    remote.outbox = parsed.outbox
    remote.followers_url = parsed.followers_url
    remote.url = parsed.url
    remote.avatar_url = parsed.avatar_url
    remote.key_id = parsed.key_id
    remote.public_key_pem = parsed.public_key_pem
    remote.fetched_at = utcnow()
    remote.gone = False
    await session.flush()
    return actor, remote


async def fetch_actor(
    session: AsyncSession, federation: Federation, uri: str
) -> tuple[Actor, RemoteActor]:
    """Fetch (signed by the instance actor), check and store a remote actor (not committed)."""
    check_uri(uri, "the actor's address")
    if host_of(uri) == federation.urls.domain:
        raise BadActor("that address is on this server, not a remote one")
    try:
        document = await federation.fetch(session, uri)
    except FetchError as exc:
        raise BadActor(f"could not fetch the actor at {uri[:200]}: {exc.message}") from exc
    return await store(session, parse_actor(document, uri))


async def resolve_actor(
    session: AsyncSession, federation: Federation, uri: str, *, refresh: bool = False
) -> tuple[Actor, RemoteActor]:
    """A remote actor by id: stored and fresh, or fetched now."""
    found = await stored_by_uri(session, uri)
    if found is not None and not refresh and utcnow() - found[1].fetched_at < REFRESH_AFTER:
        return found
    try:
        return await fetch_actor(session, federation, uri)
    except BadActor:
        if found is not None and not refresh:
            return found  # the server is down: what we had is still the actor
        raise


async def actor_for_key(
    session: AsyncSession, federation: Federation, key_id: str, *, refresh: bool = False
) -> tuple[Actor, RemoteActor]:
    """The remote actor a signature's keyId belongs to (fetched when unknown or refreshed).

    A key id is usually `actor#main-key`; some servers give keys their own documents,
    which name their `owner`.
    """
    check_uri(key_id, "the signature's keyId")
    if not refresh:
        found = (
            await session.execute(
                select(Actor, RemoteActor)
                .join(RemoteActor, RemoteActor.actor_id == Actor.id)
                .where(RemoteActor.key_id == key_id)
            )
        ).first()
        if found is not None:
            return found[0], found[1]
    document_url = without_fragment(key_id)
    stored = await stored_by_uri(session, document_url)
    if stored is not None and refresh:
        return await fetch_actor(session, federation, document_url)
    try:
        document = await federation.fetch(session, document_url)
    except FetchError as exc:
        raise BadActor(f"could not fetch the key {key_id[:200]}: {exc.message}") from exc
    owner = key_owner(document, document_url, key_id)
    if owner is not None:
        try:
            document = await federation.fetch(session, owner)
        except FetchError as exc:
            raise BadActor(f"could not fetch the key's owner {owner[:200]}: {exc.message}") from exc
        document_url = owner
    parsed = parse_actor(document, document_url)
    if parsed.key_id != key_id:
        raise BadActor("the actor's key is not the one that signed")
    return await store(session, parsed)


def parse_acct(value: str) -> tuple[str, str]:
    """(user, domain) of `user@domain` or `@user@domain`, or Invalid."""
    match = ACCT.fullmatch(value.strip())
    if match is None:
        raise Invalid("write a remote account as user@domain", code="bad_acct")
    return match.group("user"), match.group("domain").lower()


async def lookup_acct(
    session: AsyncSession, federation: Federation, acct: str
) -> tuple[Actor, RemoteActor]:
    """Find a remote account by `user@domain` with WebFinger, then fetch and store its
    actor (not committed)."""
    user, domain = parse_acct(acct)
    if domain == federation.urls.domain:
        raise Invalid(f"{domain} is this server: look the account up by its handle")
    handle = f"{user}@{domain}".lower()
    known = await session.scalar(select(Actor).where(Actor.handle == handle))
    if known is not None:
        remote = await remote_of(session, known.id)
        if remote is not None:
            return await resolve_actor(session, federation, remote.uri)
    resource = quote(f"acct:{user}@{domain}", safe=":@")
    # https is the rule; plain http only where a test setting allows private addresses.
    schemes = ("https", "http") if federation.allow_private else ("https",)
    last_error = ""
    for scheme in schemes:
        url = f"{scheme}://{domain}/.well-known/webfinger?resource={resource}"
        try:
            jrd = await federation.fetch(session, url, accept=ACCEPT_JRD)
        except FetchError as exc:
            last_error = exc.message
            continue
        links = jrd.get("links")
        if not isinstance(links, list):
            raise NotFound(f"{domain} knows no account {user}@{domain}")
        for link in links:
            if (
                isinstance(link, dict)
                and link.get("rel") == "self"
                and str(link.get("type", "")).startswith(
                    ("application/activity+json", "application/ld+json")
                )
            ):
                uri = check_uri(link.get("href"), "the WebFinger self link")
                return await resolve_actor(session, federation, uri)
        raise NotFound(f"{domain} has no ActivityPub actor for {user}@{domain}")
    raise NotFound(f"could not reach {domain} to look up {user}@{domain}: {last_error}")
