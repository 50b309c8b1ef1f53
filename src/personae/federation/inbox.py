"""The inbox: receive an activity from another server, check everything, apply it once.

The order is cheapest first, so a flood or a forgery costs as little as possible:
size (Content-Length), the Signature header's keyId, the rate limits (per remote host
and per client address), the body (read with the same cap), JSON and the activity's
shape, then the signature (which may fetch the sender's key; a key that failed to
fetch lately is not fetched again, see `ratelimit.FailedKeys`), and last the change
itself. Nothing is written before the signature is verified and its key proved to
belong to the activity's actor.

The change runs in one database transaction the inbox owns (the services it calls only
flush). The activity's id is inserted first in that transaction, so a redelivery or a
replay changes nothing, and a handler that fails leaves nothing behind, its id included.
A sender fetched just now (new, or with a new key) is stored in that same transaction,
so an activity refused, or dropped as unwanted (`activities.Unwanted`), leaves no actor
behind either.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.db import transaction, utcnow
from personae.errors import DomainError, TooLarge
from personae.federation import inbound, peers
from personae.federation.activities import Activity, BadActivity, Unwanted
from personae.federation.context import Federation
from personae.federation.discovery import public_actor
from personae.federation.fetch import FetchError, UnsafeURL, json_tree_problem
from personae.federation.httpsig import Dialect
from personae.federation.httpsig import key_id_of as signature_key_id
from personae.federation.httpsig import verify as verify_signature
from personae.federation.inbound_posts import NOTE_TYPES, check_note
from personae.federation.models import InboundActivity, RemoteActor
from personae.federation.ratelimit import (
    FAILED_KEY_TTL_S,
    FailedKeys,
    HostRateLimiter,
    RetryLater,
    address_bucket,
    host_bucket,
)
from personae.federation.remote import (
    ACTOR_TYPES,
    BadActor,
    ParsedActor,
    host_of,
    id_of,
    key_owner,
    parse_actor,
    store,
    stored_by_uri,
    without_fragment,
)
from personae.federation.signatures import SignatureError

# Activities we act on; anything else is answered 202 and dropped unread.
HANDLED = frozenset(inbound.HANDLERS)
MAX_TYPE_CHARS = 64
# Real activities nest three or four levels (Undo > Follow, Create > Note > tag); the
# cap keeps hostile documents from making every later walk expensive.
MAX_DEPTH = 32
# Activities whose embedded object must be the actor's own (same server, same author).
OWN_OBJECT = frozenset({"Create", "Update", "Delete", "Undo"})
Outcome = Literal["accepted", "duplicate", "ignored"]
# How long a sender whose key we could not reach (DNS, timeout, its server down) is
# asked to wait, and how long that failure is remembered (a bad key: FAILED_KEY_TTL_S).
KEY_RETRY_AFTER_S = 60


class Malformed(DomainError):
    """The body is not a JSON object we can read (HTTP 400)."""

    code = "malformed"


class KeyUnavailable(RetryLater):
    """The signing key could not be fetched for now (HTTP 503 with Retry-After)."""

    code = "key_unavailable"


@dataclass(frozen=True)
class Sender:
    """Who signed a request: the key's owner, with its actor document when just fetched."""

    uri: str
    public_key_pem: str
    actor_id: str | None = None
    parsed: ParsedActor | None = None
    # The dialect the request was signed in, once verified, and whether it is news.
    dialect: Dialect | None = None
    new_dialect: bool = False


# --- reading the request ------------------------------------------------------------


def check_length(content_length: str | None, limit: int) -> None:
    """Refuse a declared body over the limit before reading it (413)."""
    if content_length is None:
        return
    if not content_length.strip().isdigit():
        raise Malformed("Content-Length is not a number")
    if int(content_length) > limit:
        raise TooLarge(f"the activity is over {limit} bytes")


async def read_body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The request body, read as it streams in and refused (413) once over the limit."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the activity is over {limit} bytes")
    return bytes(body)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (400 for invalid UTF-8, bad JSON, non-objects, deep nests)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed("the body is not UTF-8") from exc
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise Malformed("the body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise Malformed("the body must be a JSON object")
    problem = json_tree_problem(document, MAX_DEPTH)
    if problem:
        raise Malformed(problem)
    return document


def _uri(value: Any, what: str) -> str:
    try:
        return id_of(value, what)
    except BadActor as exc:
        raise BadActivity(exc.message) from exc


def _authors(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_embedded(kind: str, actor: str, value: dict[str, Any]) -> None:
    """An embedded object: the actor's own for Create/Update/Delete/Undo; for Accept and
    Reject, a follow of the actor (its id may be missing: it is ours, not theirs)."""
    if kind in ("Accept", "Reject"):
        if "id" in value:
            _uri(value["id"], "the answered follow's id")
        if "object" in value and _uri(value["object"], "the followed actor") != actor:
            raise BadActivity(f"a {kind} may only answer a follow of its own actor")
        return
    object_id = _uri(value.get("id"), "the object's id")
    if kind not in OWN_OBJECT:
        return
    if host_of(object_id) != host_of(actor):
        raise BadActivity("the object is on another server than the actor")
    for claim in ("attributedTo", "actor"):
        if claim in value and any(
            _uri(who, f"the object's {claim}") != actor for who in _authors(value[claim])
        ):
            raise BadActivity(f"the object's {claim} is not the activity's actor")


def _check_content(kind: str, actor: str, value: dict[str, Any]) -> None:
    """What a Create or Update carries, checked before any key is fetched or actor stored."""
    if kind not in ("Create", "Update"):
        return
    if value.get("type") in NOTE_TYPES:
        check_note(value, actor)
    elif kind == "Update" and value.get("type") in ACTOR_TYPES:
        if value.get("id") != actor:
            raise BadActivity("an actor can only update itself")
        try:
            parse_actor(value, actor)
        except BadActor as exc:
            raise BadActivity(exc.message) from exc


def parse_activity(document: dict[str, Any], local_domain: str) -> Activity:
    """Check an activity's shape; 422 for anything that does not add up."""
    kind = document.get("type")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_TYPE_CHARS:
        raise BadActivity("the activity needs a 'type' string")
    activity_id = _uri(document.get("id"), "the activity's id")
    actor = _uri(document.get("actor"), "the activity's actor")
    if host_of(activity_id) != host_of(actor):
        raise BadActivity("the activity's id is on another server than its actor")
    if host_of(actor) == local_domain:
        raise BadActivity("the actor is on this server: its activities do not come by inbox")
    value = document.get("object")
    if kind not in HANDLED:
        return Activity(activity_id, kind, actor, value, document)
    if isinstance(value, dict):
        _check_embedded(kind, actor, value)
        _check_content(kind, actor, value)
    elif kind in ("Create", "Update"):
        raise BadActivity(f"a {kind} must embed the object it carries")
    else:
        object_id = _uri(value, "the object")
        if kind in ("Delete", "Undo") and host_of(object_id) != host_of(actor):
            raise BadActivity("the object is on another server than the actor")
    return Activity(activity_id, kind, actor, value, document)


def _self_delete(activity: Activity) -> bool:
    return activity.type == "Delete" and activity.object_id == activity.actor


# --- the signature ------------------------------------------------------------------


async def _fetch_owner(session: AsyncSession, federation: Federation, key_id: str) -> Sender:
    """Fetch the key's document (usually the actor's, `actor#main-key`) and check it."""
    url = without_fragment(key_id)
    document = await federation.fetch(session, url)
    owner = key_owner(document, url, key_id)
    if owner is not None:
        url = owner
        document = await federation.fetch(session, url)
    parsed = parse_actor(document, url)
    if parsed.key_id != key_id:
        raise SignatureError("the actor's published key is not the one that signed")
    return Sender(parsed.uri, parsed.public_key_pem, parsed=parsed)


def _transient(exc: FetchError) -> bool:
    """Whether a failed key fetch may work later: DNS, timeouts, connections, 5xx, 429."""
    if exc.status is not None:
        return exc.status >= 500 or exc.status in (408, 429)
    if isinstance(exc, UnsafeURL):
        # check_url raises "cannot resolve" from the resolver's OSError; every other
        # refusal (scheme, port, a private address) no retry will change.
        return isinstance(exc.__cause__, OSError)
    return isinstance(exc.__cause__, TimeoutError | httpx.TransportError)


def _key_error(exc: FetchError | BadActor) -> DomainError:
    """What the sender is told when its key could not be fetched or read."""
    if isinstance(exc, FetchError) and _transient(exc):
        error: DomainError = KeyUnavailable(
            f"could not fetch the signing key for now ({exc.reason}); retry later",
            KEY_RETRY_AFTER_S,
        )
    elif isinstance(exc, UnsafeURL | BadActor):
        return exc  # 422: a key we will never fetch, or a document we cannot use
    else:
        error = SignatureError(f"could not fetch the signing key: {exc.reason}")
    error.__cause__ = exc  # authenticate reads a 404/410 from it
    return error


async def _sender(
    session: AsyncSession,
    federation: Federation,
    failures: FailedKeys,
    key_id: str,
    *,
    refresh: bool,
) -> Sender:
    """The key's owner: stored (no network) unless `refresh`, else fetched, not stored.

    A key document that failed lately is not fetched again: its error is raised again.
    """
    if not refresh:
        remote = await session.scalar(select(RemoteActor).where(RemoteActor.key_id == key_id))
        if remote is not None:
            return Sender(remote.uri, remote.public_key_pem, actor_id=remote.actor_id)
    url = without_fragment(key_id)
    failed = failures.get(url)
    if failed is not None:
        raise failed.with_traceback(None)
    try:
        return await _fetch_owner(session, federation, key_id)
    except (FetchError, BadActor) as exc:
        error = _key_error(exc)
        transient = isinstance(error, KeyUnavailable)
        failures.add(url, error, KEY_RETRY_AFTER_S if transient else FAILED_KEY_TTL_S)
        raise error  # noqa: B904 (_key_error set its cause)


def _verify(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    pem: str,
    federation: Federation,
) -> Dialect:
    # The signature covers `host` (draft-cavage) or the target URI (RFC 9421): a request
    # signed for another server (one that passes on what it received) must not count here.
    ours = host_of(federation.urls.base)
    scheme = federation.urls.base.partition("://")[0]
    if host_of(f"{scheme}://{headers.get('host', '')}") != ours:
        raise SignatureError(f"the request was signed for another server, not {ours}")
    verified = verify_signature(
        method,
        f"{scheme}://{ours}{path}",  # what RFC 9421's @target-uri covers (no default port)
        path,
        headers,
        body,
        pem,
        skew_s=federation.skew_s,
        max_age_s=federation.max_age_s,
    )
    return verified.dialect


async def authenticate(
    session: AsyncSession,
    federation: Federation,
    failures: FailedKeys,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    activity: Activity,
) -> Sender | None:
    """The verified sender, whose key must be the activity actor's; None: ignore it.

    A stored key that does not verify is fetched again once (the actor may have rotated
    it). A Delete of an actor whose key is gone (404/410) is the actor leaving: None.
    """
    key_id = signature_key_id(headers)
    if host_of(key_id) != host_of(activity.actor):
        # Checked before fetching: a keyId must not send us to any server it names.
        raise SignatureError("the key is on another server than the activity's actor")
    try:
        sender = await _sender(session, federation, failures, key_id, refresh=False)
        try:
            dialect = _verify(method, path, headers, body, sender.public_key_pem, federation)
        except SignatureError as exc:
            if sender.parsed is not None or exc.reason != "signature does not verify":
                raise
            sender = await _sender(session, federation, failures, key_id, refresh=True)
            dialect = _verify(method, path, headers, body, sender.public_key_pem, federation)
    except SignatureError as exc:
        cause = exc.__cause__
        if isinstance(cause, FetchError) and cause.status in (404, 410) and _self_delete(activity):
            return None
        raise
    if sender.uri != activity.actor:
        raise SignatureError(f"the key belongs to {sender.uri[:200]}, not to the activity's actor")
    known = await peers.dialects(session, [host_of(key_id)])
    news = known.get(host_of(key_id)) != dialect
    return dataclasses.replace(sender, dialect=dialect, new_dialect=news)


# --- applying it ----------------------------------------------------------------------


async def _remember(session: AsyncSession, activity: Activity) -> bool:
    """Insert the activity's id; False when it was already there (processed before)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboundActivity)
        .values(
            activity_id=activity.id,
            actor_uri=activity.actor,
            activity_type=activity.type[:30],
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["activity_id"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    federation: Federation,
    activity: Activity,
    sender: Sender,
) -> Outcome:
    """Store a just-fetched sender and run the activity's handler once, all in one
    transaction with the activity's id (see the top); "ignored" when it was unwanted."""
    try:
        async with transaction(sessions) as session:
            # The insert comes first: on SQLite it also opens the transaction, so the
            # savepoints of the steps below nest inside it instead of starting their own.
            if not await _remember(session, activity):
                return "duplicate"
            if sender.new_dialect and sender.dialect is not None:
                # Answer in the dialect it speaks; kept with the activity, so an activity
                # refused or unwanted teaches nothing either.
                await peers.remember(session, host_of(sender.uri), sender.dialect)
            actor_id = sender.actor_id
            if actor_id is None:
                assert sender.parsed is not None
                actor, _ = await store(session, sender.parsed)
                actor_id = actor.id
            await inbound.handle(session, federation, activity, actor_id)
    except Unwanted:
        return "ignored"  # rolled back: the sender stays unknown, the id unremembered
    return "accepted"


async def receive(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    federation: Federation,
    limiter: HostRateLimiter,
    failures: FailedKeys,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    client_ip: str | None = None,
    handle: str | None = None,
) -> Outcome:
    """Take one POST to an inbox (a local actor's when `handle` is given) through every check.

    `headers` must have lower-case names; `path` is the request target with its query;
    `client_ip` is the address the request came from (rate limited like the key's host).
    Raises DomainError subclasses for everything refused (4xx, or RetryLater's 429/503),
    never a 500 for bad input.
    """
    if handle is not None:
        await public_actor(session, handle)
    limit = federation.max_body_bytes
    check_length(headers.get("content-length"), limit)
    key_id = signature_key_id(headers)
    buckets = [host_bucket(key_id)]
    if client_ip:
        buckets.append(address_bucket(client_ip))
    limiter.hit(*buckets)
    body = await read_body(chunks, limit)
    activity = parse_activity(parse_json(body), federation.urls.domain)
    if activity.type not in HANDLED:
        return "ignored"
    if _self_delete(activity) and await stored_by_uri(session, activity.actor) is None:
        return "ignored"  # an actor we never knew is leaving: nothing to fetch or delete
    sender = await authenticate(
        session, federation, failures, method, path, headers, body, activity
    )
    if sender is None:
        return "ignored"
    # End this session's reads (it wrote nothing) before the writing transaction.
    await session.rollback()
    return await apply(sessions, federation, activity, sender)
