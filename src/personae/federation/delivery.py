"""Durable outgoing delivery: one `deliveries` row per activity and inbox, retried with backoff.

`enqueue` writes the rows in the caller's transaction, so an activity is queued exactly
when the change behind it is committed. `deliver_due` (run by the worker loop) claims
due rows, POSTs them signed by their sender, and records what the inbox answered:

- 2xx: delivered. Each row is signed in the dialect its server is known to speak
  (`peers`), draft-cavage by default; a 401 is tried once more in the other dialect.
- 410 Gone: the inbox is no more; its remote actors are marked gone and never sent to
  again.
- 429 or 503 with Retry-After: tried again when the server asked (1 s to 1 day).
- other 5xx, 408, 429, timeouts, connection and DNS failures: tried again with
  exponential backoff, until `max_attempts` attempts have been made.
- any other answer (4xx, a redirect) or a refused URL: failed at once; sending the
  same bytes again would get the same answer.

A claim sets `claimed_until` with a conditional UPDATE whose row count says whether we
won it, so any number of workers (processes) can run side by side and never send one
row at the same time; a worker that dies mid-send loses its claim when it runs out.
The claim also counts the attempt, so a row whose outcome cannot be recorded (or whose
worker keeps dying) still runs out of attempts: the next claim pass fails it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.config import Settings
from personae.db import transaction, utcnow
from personae.federation import peers
from personae.federation.context import Federation
from personae.federation.fetch import FetchError, UnsafeURL, post_signed
from personae.federation.httpsig import CAVAGE, Dialect, other
from personae.federation.keys import ensure_instance_key, ensure_key
from personae.federation.models import URI_MAX, Delivery, RemoteActor
from personae.federation.urls import host_of as peer_host
from personae.social.models import Actor

log = logging.getLogger(__name__)

# How many deliveries one worker sends at once.
CONCURRENCY = 8
# Retry-After is honoured within these bounds (seconds).
RETRY_AFTER_MIN_S = 1.0
RETRY_AFTER_MAX_S = 86_400.0
# Backoff delays are spread by up to this fraction, so a server that was down does not
# get every queued delivery back in the same second.
JITTER = 0.1
ERROR_MAX_CHARS = 500
# Control characters (but newline and tab) and lone surrogates: PostgreSQL text cannot
# hold NUL, and none of them help anyone reading an error.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_RETRY_STATUSES = frozenset({408, 429})
_HONOURS_RETRY_AFTER = frozenset({429, 503})


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard deliveries are retried (from Settings, or small numbers in tests)."""

    max_attempts: int = 10
    base_delay_s: float = 60.0
    max_delay_s: float = 6 * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        """The delivery policy the settings describe."""
        return cls(
            max_attempts=settings.federation_delivery_max_attempts,
            base_delay_s=settings.federation_delivery_base_delay_s,
            max_delay_s=settings.federation_delivery_max_delay_s,
        )

    def backoff_s(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones (jittered, capped)."""
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 is past any cap already
        delay = self.base_delay_s * 2**exponent
        return float(min(delay * random.uniform(1 - JITTER, 1 + JITTER), self.max_delay_s))


@dataclass(frozen=True)
class _Claimed:
    """What sending one claimed row needs, read before the session closes."""

    id: str
    sender_id: str | None
    inbox: str
    body: str
    attempts: int  # counting the one this claim is for


@dataclass(frozen=True)
class _Outcome:
    """What one attempt came to: a final state, or a time to try again."""

    state: str  # delivered | failed | gone | pending (retry)
    status: int | None
    error: str
    retry_at: datetime | None = None


def host_of(url: str) -> str:
    """The host of an inbox URL, for logs ("?" when it has none)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def printable(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    """Text safe to store and log: no control characters but newline and tab, capped."""
    return _UNPRINTABLE.sub("", text)[:limit]


def _compact(activity: dict[str, Any]) -> str:
    return json.dumps(activity, separators=(",", ":"), ensure_ascii=False)


async def dead_inboxes(session: AsyncSession, inboxes: Sequence[str]) -> set[str]:
    """Which of these inboxes lead only to remote actors marked gone."""
    if not inboxes:
        return set()
    personal = await session.scalars(
        select(RemoteActor.inbox).where(RemoteActor.gone.is_(True), RemoteActor.inbox.in_(inboxes))
    )
    dead = set(personal)
    # A shared inbox is dead only when every actor behind it is: one gone account on a
    # server says nothing about the others.
    shared = await session.execute(
        select(RemoteActor.shared_inbox, RemoteActor.gone).where(
            RemoteActor.shared_inbox.in_(inboxes)
        )
    )
    live_shared: dict[str, bool] = {}
    for inbox, gone in shared:
        live_shared[inbox] = live_shared.get(inbox, False) or not gone
    dead.update(inbox for inbox, live in live_shared.items() if not live)
    return dead


async def enqueue(
    session: AsyncSession,
    sender_id: str | None,
    activity: dict[str, Any],
    inboxes: Iterable[str],
) -> int:
    """Queue an activity for each distinct inbox (not committed); returns how many rows.

    `sender_id` is the local actor whose key signs it, None for the instance actor.
    Empty inboxes, inboxes of remote actors marked gone and over-long ones are skipped.
    """
    activity_id = activity.get("id")
    if not isinstance(activity_id, str) or not activity_id:
        raise ValueError("an activity to deliver needs an id")
    if len(activity_id) > URI_MAX:
        raise ValueError("activity id too long")
    wanted = [inbox for inbox in dict.fromkeys(inboxes) if inbox]
    too_long = [inbox for inbox in wanted if len(inbox) > URI_MAX]
    for inbox in too_long:
        log.warning("delivery: skipping an inbox URL of %d characters", len(inbox))
    wanted = [inbox for inbox in wanted if len(inbox) <= URI_MAX]
    dead = await dead_inboxes(session, wanted)
    body = _compact(activity)
    count = 0
    for inbox in wanted:
        if inbox in dead:
            log.info("delivery: not sending %s to %s (gone)", activity_id, host_of(inbox))
            continue
        session.add(Delivery(activity_id=activity_id, sender_id=sender_id, inbox=inbox, body=body))
        count += 1
    return count


def claim_lease(federation: Federation, limit: int) -> timedelta:
    """How long a claim lasts: long enough for a whole batch to be sent, then some."""
    rounds = math.ceil(max(limit, 1) / CONCURRENCY)
    return timedelta(seconds=federation.timeout_s * (rounds + 1) + 30)


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    limit: int,
    lease: timedelta,
    max_attempts: int = DeliveryPolicy.max_attempts,
) -> list[_Claimed]:
    """Claim up to `limit` due rows for this worker, counting the attempt; rows another
    worker holds are skipped, and rows out of attempts are failed instead."""
    due = and_(
        Delivery.state == "pending",
        Delivery.next_attempt_at <= now,
        or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
    )
    async with sessions() as session:  # a read: closing the session ends it
        found = list(
            await session.execute(
                select(Delivery.id, Delivery.attempts)
                .where(due)
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
            )
        )
    exhausted = [row_id for row_id, attempts in found if attempts >= max_attempts]
    if exhausted:
        # Normally the last attempt's outcome fails the row; these are rows whose
        # outcome could not be recorded, claimed again until they ran out.
        async with transaction(sessions) as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(exhausted), due, Delivery.attempts >= max_attempts)
                .values(
                    state="failed",
                    finished_at=now,
                    claimed_until=None,
                    last_error=f"gave up after {max_attempts} attempts (outcome not recorded)",
                )
                .execution_options(synchronize_session=False)
            )
        log.warning("delivery: %d deliveries failed, out of attempts", len(exhausted))
    candidates = [row_id for row_id, attempts in found if attempts < max_attempts]
    due = and_(due, Delivery.attempts < max_attempts)
    claimed_ids: list[str] = []
    for delivery_id in candidates:
        # Each claim is its own unit of work. The WHERE is checked again under the row's
        # write lock (PostgreSQL) or the database's (SQLite): of two workers racing for a
        # row, one updates it.
        async with transaction(sessions) as session:
            result = await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, due)
                .values(claimed_until=now + lease, attempts=Delivery.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        assert isinstance(result, CursorResult)
        if result.rowcount == 1:
            claimed_ids.append(delivery_id)
    if not claimed_ids:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(
                Delivery.id, Delivery.sender_id, Delivery.inbox, Delivery.body, Delivery.attempts
            ).where(Delivery.id.in_(claimed_ids))
        )
        return [_Claimed(*row) for row in rows]


async def _signers(
    sessions: async_sessionmaker[AsyncSession],
    federation: Federation,
    sender_ids: set[str | None],
) -> dict[str | None, tuple[str, str]]:
    """Key id and private key per sender; senders that no longer exist are left out."""
    signers: dict[str | None, tuple[str, str]] = {}
    urls = federation.urls
    async with transaction(sessions) as session:
        for sender_id in sender_ids:
            if sender_id is None:
                instance = await ensure_instance_key(session)
                signers[None] = (urls.key_id(urls.instance_actor), instance.private_pem)
                continue
            handle = await session.scalar(
                select(Actor.handle).where(Actor.id == sender_id, Actor.domain.is_(None))
            )
            if handle is None:
                continue
            key = await ensure_key(session, sender_id)
            signers[sender_id] = (urls.key_id(urls.actor(handle)), key.private_pem)
    return signers


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, clamped."""
    if not value:
        return None
    value = value.strip()
    seconds: float
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


def _answer_text(response: httpx.Response) -> str:
    text = printable(response.content[:200].decode("utf-8", "replace")).strip()
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def judge(
    response: httpx.Response | None,
    error: Exception | None,
    attempts: int,
    policy: DeliveryPolicy,
    now: datetime,
) -> _Outcome:
    """What one attempt (made `attempts` counting this one) means for the row."""
    status = response.status_code if response is not None else None
    if response is not None and 200 <= response.status_code < 300:
        return _Outcome("delivered", status, "")
    if response is not None:
        code = response.status_code
        message = _answer_text(response)
        if code == 410:
            return _Outcome("gone", code, message)
        wait = None
        if code in _HONOURS_RETRY_AFTER:
            wait = retry_after_s(response.headers.get("retry-after"), now)
        retryable = code >= 500 or code in _RETRY_STATUSES
        if not retryable:
            return _Outcome("failed", code, message)
    else:
        assert error is not None
        message = str(error) or type(error).__name__
        wait = None
        # A name that does not resolve now may well resolve later (DNS hiccups); any
        # other refusal (scheme, address, port) will not change.
        transient = not isinstance(error, UnsafeURL) or error.reason.startswith("cannot resolve")
        if not transient:
            return _Outcome("failed", None, message)
    if attempts >= policy.max_attempts:
        return _Outcome("failed", status, f"gave up after {attempts} attempts: {message}")
    delay = wait if wait is not None else policy.backoff_s(attempts)
    return _Outcome("pending", status, message, now + timedelta(seconds=delay))


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    row: _Claimed,
    outcome: _Outcome,
    moment: datetime,
    learned: Dialect | None = None,
) -> None:
    """Store an attempt's outcome and release the claim (and the dialect that worked,
    when the inbox accepted only the second one tried)."""
    values: dict[str, Any] = {
        "state": outcome.state,
        "attempts": row.attempts,
        "last_status": outcome.status,
        "last_error": printable(outcome.error),
        "claimed_until": None,
    }
    if outcome.retry_at is not None:
        values["next_attempt_at"] = outcome.retry_at
    else:
        values["finished_at"] = moment
    async with transaction(sessions) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == row.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if outcome.state == "gone":
            await mark_gone(session, row.inbox, moment)
        if learned is not None:
            await peers.remember(session, peer_host(row.inbox), learned)


async def mark_gone(session: AsyncSession, inbox: str, moment: datetime) -> None:
    """An inbox answered 410: its actors are gone, and what is queued for it is dropped."""
    await session.execute(
        update(RemoteActor)
        .where(or_(RemoteActor.inbox == inbox, RemoteActor.shared_inbox == inbox))
        .values(gone=True)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.inbox == inbox, Delivery.state == "pending")
        .values(state="gone", finished_at=moment, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def _log_outcome(row: _Claimed, outcome: _Outcome) -> None:
    host = host_of(row.inbox)
    if outcome.state == "delivered":
        log.info("delivery %s to %s: delivered (HTTP %s)", row.id, host, outcome.status)
    elif outcome.state == "pending":
        assert outcome.retry_at is not None
        log.warning(
            "delivery %s to %s: attempt %d failed (%s); retrying at %s",
            row.id,
            host,
            row.attempts,
            printable(outcome.error, 200),
            outcome.retry_at.isoformat(timespec="seconds"),
        )
    else:
        log.warning(
            "delivery %s to %s: %s (%s)", row.id, host, outcome.state, printable(outcome.error, 200)
        )


async def _post(
    federation: Federation, row: _Claimed, signer: tuple[str, str], dialect: Dialect
) -> tuple[httpx.Response | None, Exception | None]:
    """POST a row signed in `dialect`: the response, or the error that stopped it."""
    try:
        response = await post_signed(
            row.inbox,
            row.body.encode("utf-8"),
            signer[0],
            signer[1],
            allow_private=federation.allow_private,
            timeout_s=federation.timeout_s,
            dialect=dialect,
        )
    except FetchError as exc:
        return None, exc
    except Exception as exc:  # a bug or an odd failure must not strand the row
        log.exception("delivery %s to %s: unexpected error", row.id, host_of(row.inbox))
        return None, exc
    return response, None


async def _send_one(
    sessions: async_sessionmaker[AsyncSession],
    federation: Federation,
    row: _Claimed,
    signer: tuple[str, str] | None,
    policy: DeliveryPolicy,
    now: datetime,
    dialect: Dialect = CAVAGE,
) -> _Outcome:
    """POST one claimed row (in the dialect its server speaks) and record what happened.

    A 401 is tried again at once in the other dialect: a server may verify only one (Fedify
    does the same). When that one is accepted, it is remembered for the server.
    """
    learned: Dialect | None = None
    if signer is None:
        outcome = _Outcome("failed", None, "the sending actor no longer exists")
    else:
        response, error = await _post(federation, row, signer, dialect)
        if response is not None and response.status_code == 401:
            second, second_error = await _post(federation, row, signer, other(dialect))
            if second is not None and 200 <= second.status_code < 300:
                response, learned = second, other(dialect)
            elif second is not None and second.status_code != 401:
                response = second  # the other dialect got further: its answer counts
            elif second_error is not None:
                response, error = None, second_error
        outcome = judge(response, error, row.attempts, policy, now)
    _log_outcome(row, outcome)
    await _record(sessions, row, outcome, now, learned)
    return outcome


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    federation: Federation,
    *,
    limit: int = 20,
    now: datetime | None = None,
    policy: DeliveryPolicy | None = None,
) -> int:
    """Claim and send up to `limit` due deliveries; returns how many were attempted."""
    moment = now or utcnow()
    rules = policy or DeliveryPolicy()
    lease = claim_lease(federation, limit)
    claimed = await claim_due(sessions, moment, limit, lease, rules.max_attempts)
    if not claimed:
        return 0
    signers = await _signers(sessions, federation, {row.sender_id for row in claimed})
    async with sessions() as session:
        known = await peers.dialects(session, {peer_host(row.inbox) for row in claimed})
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(row: _Claimed) -> None:
        dialect = known.get(peer_host(row.inbox), CAVAGE)
        async with gate:
            await _send_one(
                sessions, federation, row, signers.get(row.sender_id), rules, moment, dialect
            )

    results = await asyncio.gather(*(send(row) for row in claimed), return_exceptions=True)
    for row, result in zip(claimed, results, strict=True):
        if isinstance(result, Exception):
            # Recording failed (the database, most likely): the claim runs out and the
            # row is tried again then.
            log.error("delivery %s: could not record the outcome: %r", row.id, result)
    return len(claimed)
