"""Outgoing delivery against a real inbox server on loopback: signatures, retries, gone.

Every test that takes `db_kind` runs on SQLite and (when configured) PostgreSQL. Time
moves by passing `now` to deliver_due, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.app import create_app
from personae.config import Settings
from personae.db import make_engine, make_sessionmaker, new_id
from personae.federation import delivery, httpsig, outbound, peers
from personae.federation.context import Federation
from personae.federation.delivery import (
    DeliveryPolicy,
    deliver_due,
    enqueue,
    retry_after_s,
)
from personae.federation.keys import ensure_instance_key, ensure_key
from personae.federation.models import Delivery, InboundActivity, RemoteActor
from personae.federation.signatures import SignatureError
from personae.federation.urls import Urls
from personae.federation.worker import DeliveryWorker
from personae.llm.registry import BackendRegistry
from personae.social.actors import search_key
from personae.social.models import Actor
from tests.conftest import free_port, make_settings, migrated_engine, wipe

BASE = "https://social.example"
URLS = Urls.from_base(BASE)
FEDERATION = Federation(urls=URLS, allow_private=True, timeout_s=3.0)
# Big enough delays that the jitter (10 %) and the growth are both measurable.
POLICY = DeliveryPolicy(max_attempts=4, base_delay_s=10.0, max_delay_s=1000.0)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Inbox:
    """A loopback HTTP server that records POSTs, verifies signatures, answers as scripted."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        # path -> answers still to give: (status, extra headers); then 202 if verified.
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        # path -> the body of every scripted answer there ("{}" when not set).
        self.bodies: dict[str, bytes] = {}
        self.keys: dict[str, str] = {}  # keyId -> public key PEM
        # The signature dialects it verifies (any other is a 401, as an unknown signature).
        self.dialects = {"cavage", "rfc9421"}
        self.delay_s = 0.0
        self.lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = dict(self.headers.items())
                status, extra = inbox.answer(self.path, headers, body)
                reply = inbox.bodies.get(self.path, b"{}")
                if inbox.delay_s:
                    time.sleep(inbox.delay_s)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        """Verify the request against the known keys, record it, and pick the answer."""
        verified: str | None = None
        lowered = {name.lower(): value for name, value in headers.items()}
        dialect = httpsig.dialect_of(lowered)
        try:
            key_id = httpsig.key_id_of(lowered)
            if key_id in self.keys and dialect in self.dialects:
                url = f"{self.url}{path}"
                verified = httpsig.verify(
                    "POST", url, path, lowered, body, self.keys[key_id]
                ).key_id
        except SignatureError:
            verified = None
        with self.lock:
            self.seen.append(
                {
                    "path": path,
                    "headers": headers,
                    "body": body,
                    "key": verified,
                    "dialect": dialect,
                }
            )
            queued = self.script.get(path)
            if queued:
                return queued.pop(0)
        return (202 if verified else 401), {}

    def paths(self) -> list[str]:
        return [request["path"] for request in self.seen]

    def reset(self) -> None:
        self.seen.clear()
        self.script.clear()
        self.bodies.clear()
        self.keys.clear()
        self.dialects = {"cavage", "rfc9421"}
        self.delay_s = 0.0


@pytest.fixture(scope="module")
def server() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.thread.start()
    yield inbox
    inbox.httpd.shutdown()
    inbox.httpd.server_close()


@pytest.fixture
def inbox(server: Inbox) -> Inbox:
    server.reset()
    return server


@pytest_asyncio.fixture
async def sessions(db_kind: str, tmp_root: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A clean database."""
    _, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    yield make_sessionmaker(engine)


async def local_actor(sessions: async_sessionmaker[AsyncSession], handle: str) -> str:
    """A local actor row (deliveries only need its id, handle and key)."""
    async with sessions() as session:
        actor_id = new_id()
        actor = Actor(id=actor_id, kind="person", handle=handle, search_key=search_key(actor_id))
        session.add(actor)
        await session.commit()
        return actor.id


async def remote_actor(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    inbox: str,
    shared_inbox: str = "",
    gone: bool = False,
) -> str:
    """A remote actor whose inbox is `inbox`."""
    domain = inbox.split("/")[2]
    uri = f"{inbox.rsplit('/inbox', 1)[0]}/users/{name}"
    async with sessions() as session:
        actor_id = new_id()
        actor = Actor(
            id=actor_id,
            kind="person",
            handle=f"{name}@{domain}",
            domain=domain,
            search_key=search_key(actor_id),
        )
        session.add(actor)
        await session.flush()
        session.add(
            RemoteActor(
                actor_id=actor.id,
                uri=uri,
                inbox=inbox,
                shared_inbox=shared_inbox,
                key_id=f"{uri}#main-key",
                public_key_pem="unused",
                gone=gone,
            )
        )
        await session.commit()
        return actor.id


def activity(n: int = 1, handle: str = "alice") -> dict[str, Any]:
    actor = URLS.actor(handle)
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/activities/{n}",
        "type": "Like",
        "actor": actor,
        "object": "https://elsewhere.example/notes/1",
        "content": "héllo",
    }


async def queue(
    sessions: async_sessionmaker[AsyncSession],
    sender_id: str | None,
    inboxes: list[str],
    n: int = 1,
) -> int:
    async with sessions() as session:
        count = await enqueue(session, sender_id, activity(n), inboxes)
        await session.commit()
    return count


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with sessions() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.inbox)))


async def one_row(sessions: async_sessionmaker[AsyncSession]) -> Delivery:
    found = await rows(sessions)
    assert len(found) == 1, found
    return found[0]


async def is_gone(sessions: async_sessionmaker[AsyncSession], actor_id: str) -> bool:
    async with sessions() as session:
        remote = await session.get(RemoteActor, actor_id)
        assert remote is not None
        return remote.gone


async def trust(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox, actor_id: str, handle: str
) -> None:
    """Tell the inbox server the actor's public key, as it would learn it from the actor."""
    async with sessions() as session:
        key = await ensure_key(session, actor_id)
    inbox.keys[URLS.key_id(URLS.actor(handle))] = key.public_pem


async def test_a_delivery_lands_signed_by_its_sender(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    assert await queue(sessions, alice, [f"{inbox.url}/users/bob/inbox"]) == 1
    sent = await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY)
    assert sent == 1
    assert len(inbox.seen) == 1
    request = inbox.seen[0]
    # The receiver checked the signature with alice's public key.
    assert request["key"] == URLS.key_id(URLS.actor("alice"))
    assert request["path"] == "/users/bob/inbox"
    assert request["headers"]["Content-Type"] == "application/activity+json"
    assert json.loads(request["body"]) == activity(1)
    assert b" " not in request["body"]  # compact JSON
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 202)
    assert row.finished_at == T0 and row.claimed_until is None and row.last_error == ""
    # Nothing is sent twice.
    assert await deliver_due(sessions, FEDERATION, now=T0 + timedelta(days=1)) == 0
    assert len(inbox.seen) == 1


async def test_the_instance_actor_signs_when_there_is_no_sender(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    async with sessions() as session:
        key = await ensure_instance_key(session)
    inbox.keys[URLS.key_id(URLS.instance_actor)] = key.public_pem
    await queue(sessions, None, [f"{inbox.url}/inbox"])
    assert await deliver_due(sessions, FEDERATION, now=T0) == 1
    assert inbox.seen[0]["key"] == URLS.key_id(URLS.instance_actor)
    assert (await one_row(sessions)).state == "delivered"


async def test_a_wrong_key_is_refused_by_the_receiver_and_fails(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    # The receiver knows another key for alice: her signature does not verify, it says 401.
    alice = await local_actor(sessions, "alice")
    other = await local_actor(sessions, "other")
    async with sessions() as session:
        inbox.keys[URLS.key_id(URLS.actor("alice"))] = (await ensure_key(session, other)).public_pem
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY)
    assert inbox.seen[0]["key"] is None
    row = await one_row(sessions)
    assert (row.state, row.last_status, row.attempts) == ("failed", 401, 1)


async def test_an_inbox_that_takes_only_rfc9421_gets_it_and_it_is_remembered(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    inbox.dialects = {"rfc9421"}  # as a server would that verifies RFC 9421 only
    await queue(sessions, alice, [f"{inbox.url}/users/bob/inbox"])
    await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY)
    # draft-cavage first (nothing known yet), refused with a 401, then RFC 9421 at once.
    assert [(r["dialect"], r["key"]) for r in inbox.seen] == [
        ("cavage", None),
        ("rfc9421", URLS.key_id(URLS.actor("alice"))),
    ]
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 202)
    async with sessions() as session:
        assert await peers.dialects(session, [inbox.url.split("//")[1]]) == {
            inbox.url.split("//")[1]: "rfc9421"
        }
    # Known now: the next delivery there is signed that way from the start.
    await queue(sessions, alice, [f"{inbox.url}/users/bob/inbox"], n=2)
    await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY)
    assert [r["dialect"] for r in inbox.seen[2:]] == ["rfc9421"]


async def test_a_server_that_unlearned_rfc9421_is_answered_in_draft_cavage(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    host = inbox.url.split("//")[1]
    async with sessions() as session:
        await peers.remember(session, host, "rfc9421")
        await session.commit()
    inbox.dialects = {"cavage"}
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY)
    assert [r["dialect"] for r in inbox.seen] == ["rfc9421", "cavage"]
    assert (await one_row(sessions)).state == "delivered"
    async with sessions() as session:
        assert await peers.dialects(session, [host]) == {host: "cavage"}


async def test_server_errors_are_retried_with_growing_backoff_until_delivered(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    inbox.script["/inbox"] = [(500, {}), (502, {})]
    await queue(sessions, alice, [f"{inbox.url}/inbox"])

    assert await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 500)
    assert row.claimed_until is None and row.finished_at is None
    first = (row.next_attempt_at - T0).total_seconds()
    assert 9.0 <= first <= 11.0

    # Not due yet: nothing is sent.
    assert await deliver_due(sessions, FEDERATION, now=T0 + timedelta(seconds=8)) == 0
    assert len(inbox.seen) == 1

    second_at = row.next_attempt_at
    assert await deliver_due(sessions, FEDERATION, now=second_at, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("pending", 2, 502)
    second = (row.next_attempt_at - second_at).total_seconds()
    assert 18.0 <= second <= 22.0 and second > first

    assert await deliver_due(sessions, FEDERATION, now=row.next_attempt_at, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 3, 202)
    assert len(inbox.seen) == 3 and all(r["key"] for r in inbox.seen)


def test_backoff_is_capped() -> None:
    policy = DeliveryPolicy(max_attempts=50, base_delay_s=10.0, max_delay_s=100.0)
    delays = [policy.backoff_s(n) for n in (1, 2, 3, 4, 5, 20, 1000)]
    assert 9.0 <= delays[0] <= 11.0 and 36.0 <= delays[2] <= 44.0
    assert delays[4:] == [100.0, 100.0, 100.0]


async def test_gone_marks_the_remote_actor_and_stops_further_deliveries(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    dead = f"{inbox.url}/users/bob/inbox"
    shared = f"{inbox.url}/inbox"
    bob = await remote_actor(sessions, "bob", dead, shared_inbox=shared)
    carol = await remote_actor(sessions, "carol", f"{inbox.url}/users/carol/inbox", shared)
    inbox.script["/users/bob/inbox"] = [(410, {})]
    await queue(sessions, alice, [dead], n=1)

    assert await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.last_status, row.finished_at) == ("gone", 410, T0)
    assert await is_gone(sessions, bob) and not await is_gone(sessions, carol)

    # A later activity is not queued for the gone inbox; the shared inbox still has carol.
    assert await queue(sessions, alice, [dead, shared], n=2) == 1
    assert await deliver_due(sessions, FEDERATION, now=T0 + timedelta(days=1)) == 1
    assert inbox.paths() == ["/users/bob/inbox", "/inbox"]


async def test_a_gone_shared_inbox_drops_what_is_queued_for_it(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    shared = f"{inbox.url}/shared"
    bob = await remote_actor(sessions, "bob", f"{inbox.url}/users/bob/inbox", shared)
    inbox.script["/shared"] = [(410, {})]
    await queue(sessions, alice, [shared], n=1)
    await queue(sessions, alice, [shared], n=2)
    # One at a time: the first answer (410) settles the second without a request.
    assert await deliver_due(sessions, FEDERATION, limit=1, now=T0, policy=POLICY) == 1
    assert [r.state for r in await rows(sessions)] == ["gone", "gone"]
    assert await deliver_due(sessions, FEDERATION, now=T0 + timedelta(days=1)) == 0
    assert len(inbox.seen) == 1
    assert await is_gone(sessions, bob)
    assert await queue(sessions, alice, [shared], n=3) == 0


async def test_too_many_requests_waits_as_long_as_the_server_asks(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    later = format_datetime(T0 + timedelta(minutes=30), usegmt=True)
    inbox.script["/a"] = [(429, {"Retry-After": "120"})]
    inbox.script["/b"] = [(503, {"Retry-After": later})]
    inbox.script["/c"] = [(429, {})]
    inbox.script["/d"] = [(429, {"Retry-After": "9999999"})]
    await queue(sessions, alice, [f"{inbox.url}/{p}" for p in "abcd"])
    assert await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY) == 4
    a, b, c, d = await rows(sessions)
    assert all(r.state == "pending" and r.attempts == 1 for r in (a, b, c, d))
    assert a.next_attempt_at == T0 + timedelta(seconds=120)
    assert b.next_attempt_at == T0 + timedelta(minutes=30)
    # No Retry-After: the ordinary backoff.
    assert 9.0 <= (c.next_attempt_at - T0).total_seconds() <= 11.0
    # Never longer than a day.
    assert d.next_attempt_at == T0 + timedelta(days=1)
    assert (a.last_status, b.last_status) == (429, 503)


async def test_an_answer_with_nul_bytes_is_recorded_and_given_up(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    """PostgreSQL text cannot hold NUL: the body quoted in last_error is cleaned first."""
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    inbox.script["/inbox"] = [(500, {})] * POLICY.max_attempts
    inbox.bodies["/inbox"] = b"bad\x00\x00 gateway\x01\x1b[31m\r\n\tdetails\x7f\x00"
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    now = T0
    for attempt in range(1, POLICY.max_attempts + 1):
        assert await deliver_due(sessions, FEDERATION, now=now, policy=POLICY) == 1
        row = await one_row(sessions)
        assert (row.attempts, row.last_status, row.claimed_until) == (attempt, 500, None)
        assert row.last_error.endswith("HTTP 500: bad gateway[31m\n\tdetails"), row.last_error
        now = row.next_attempt_at
    assert row.state == "failed" and row.finished_at is not None
    assert row.last_error.startswith(f"gave up after {POLICY.max_attempts} attempts")
    assert len(inbox.seen) == POLICY.max_attempts
    assert await deliver_due(sessions, FEDERATION, now=now + timedelta(days=1)) == 0


async def test_a_row_whose_outcome_cannot_be_recorded_still_runs_out_of_attempts(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim counts the attempt, so an outcome that never gets stored cannot loop."""
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    await queue(sessions, alice, [f"{inbox.url}/inbox"])

    async def unrecordable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the outcome cannot be stored")

    monkeypatch.setattr(delivery, "_record", unrecordable)
    now = T0
    for attempt in range(1, POLICY.max_attempts + 1):
        assert await deliver_due(sessions, FEDERATION, now=now, policy=POLICY) == 1
        row = await one_row(sessions)
        assert (row.state, row.attempts) == ("pending", attempt)
        assert row.claimed_until is not None
        # Still claimed: nobody sends it again until the claim runs out.
        assert await deliver_due(sessions, FEDERATION, now=now, policy=POLICY) == 0
        now = row.claimed_until + timedelta(seconds=1)
    assert await deliver_due(sessions, FEDERATION, now=now, policy=POLICY) == 0
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.finished_at) == ("failed", POLICY.max_attempts, now)
    assert "outcome not recorded" in row.last_error and row.claimed_until is None
    assert len(inbox.seen) == POLICY.max_attempts


def test_retry_after_values_are_parsed_and_clamped() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s(" 0 ", now) == 1.0
    assert retry_after_s("99999999", now) == 86_400.0
    assert retry_after_s(format_datetime(now + timedelta(hours=2), usegmt=True), now) == 7200.0
    assert retry_after_s(format_datetime(now - timedelta(hours=2), usegmt=True), now) == 1.0
    for bad in (None, "", "soon", "-5", "1.5e3"):
        assert retry_after_s(bad, now) is None


async def test_a_client_error_fails_at_once(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    inbox.script["/inbox"] = [(400, {})]
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    assert await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("failed", 1, 400)
    assert row.finished_at == T0 and "HTTP 400" in row.last_error
    assert await deliver_due(sessions, FEDERATION, now=T0 + timedelta(days=30)) == 0
    assert len(inbox.seen) == 1


async def test_an_unreachable_inbox_is_retried_then_given_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alice = await local_actor(sessions, "alice")
    await queue(sessions, alice, [f"http://127.0.0.1:{free_port()}/inbox"])
    now = T0
    for attempt in range(1, POLICY.max_attempts + 1):
        assert await deliver_due(sessions, FEDERATION, now=now, policy=POLICY) == 1
        row = await one_row(sessions)
        assert row.attempts == attempt and row.last_status is None
        assert "ConnectError" in row.last_error
        now = row.next_attempt_at
    assert row.state == "failed" and row.finished_at is not None
    assert f"gave up after {POLICY.max_attempts} attempts" in row.last_error
    assert await deliver_due(sessions, FEDERATION, now=now + timedelta(days=30)) == 0


async def test_a_private_address_is_refused_unless_allowed(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    strict = Federation(urls=URLS, allow_private=False, timeout_s=3.0)
    assert await deliver_due(sessions, strict, now=T0, policy=POLICY) == 1
    row = await one_row(sessions)
    assert (row.state, row.attempts, row.last_status) == ("failed", 1, None)
    assert "unsafe URL" in row.last_error
    assert inbox.seen == []


async def test_two_workers_send_each_delivery_once(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    inbox.delay_s = 0.05  # keep the first worker's sends in flight while the second claims
    targets = [f"{inbox.url}/inbox/{n}" for n in range(12)]
    assert await queue(sessions, alice, targets) == 12
    sent = await asyncio.gather(
        deliver_due(sessions, FEDERATION, limit=12, now=T0, policy=POLICY),
        deliver_due(sessions, FEDERATION, limit=12, now=T0, policy=POLICY),
        deliver_due(sessions, FEDERATION, limit=12, now=T0, policy=POLICY),
    )
    assert sum(sent) == 12
    assert sorted(inbox.paths()) == sorted(f"/inbox/{n}" for n in range(12))
    assert {r.state for r in await rows(sessions)} == {"delivered"}


async def test_a_row_claimed_by_another_worker_waits_for_its_claim_to_run_out(
    sessions: async_sessionmaker[AsyncSession], inbox: Inbox
) -> None:
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    async with sessions() as session:
        row = await session.scalar(select(Delivery))
        assert row is not None
        row.claimed_until = T0 + timedelta(minutes=5)  # another worker holds it
        await session.commit()
    assert await deliver_due(sessions, FEDERATION, now=T0, policy=POLICY) == 0
    assert inbox.seen == []
    # That worker died: once its claim runs out the row is sent.
    later = T0 + timedelta(minutes=6)
    assert await deliver_due(sessions, FEDERATION, now=later, policy=POLICY) == 1
    assert (await one_row(sessions)).state == "delivered"


async def test_enqueue_skips_duplicates_and_empty_inboxes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alice = await local_actor(sessions, "alice")
    a, b = "https://one.example/inbox", "https://two.example/inbox"
    assert await queue(sessions, alice, [a, "", b, a, b, ""]) == 2
    found = await rows(sessions)
    assert [r.inbox for r in found] == [a, b]
    assert all(r.activity_id == activity(1)["id"] and r.sender_id == alice for r in found)
    assert all(r.state == "pending" and r.attempts == 0 for r in found)
    assert json.loads(found[0].body) == activity(1)
    assert await queue(sessions, alice, []) == 0
    assert await queue(sessions, alice, ["https://x.example/" + "a" * 600]) == 0


async def test_enqueue_refuses_an_activity_without_an_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        for bad in ({"type": "Like"}, {"id": ""}, {"id": 5}, {"id": "x" * 600}):
            with pytest.raises(ValueError):
                await enqueue(session, None, bad, ["https://one.example/inbox"])
        await session.commit()
    assert await rows(sessions) == []


async def test_enqueue_is_part_of_the_callers_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        assert await enqueue(session, None, activity(), ["https://one.example/inbox"]) == 1
        await session.rollback()
    assert await rows(sessions) == []


async def test_enqueue_skips_gone_actors(sessions: async_sessionmaker[AsyncSession]) -> None:
    personal = "https://gone.example/users/bob/inbox"
    shared = "https://gone.example/inbox"
    await remote_actor(sessions, "bob", personal, shared_inbox=shared, gone=True)
    assert await queue(sessions, None, [personal, shared]) == 0
    # One live actor behind the shared inbox keeps it alive.
    await remote_actor(sessions, "carol", "https://gone.example/users/carol/inbox", shared)
    assert await queue(sessions, None, [personal, shared], n=2) == 1


def worker_settings(tmp_root: Path, url: str, **extra: Any) -> Settings:
    return make_settings(
        tmp_root,
        url,
        base_url=BASE,
        federation_allow_private_addresses=True,
        federation_fetch_timeout_s=3.0,
        federation_worker_tick_s=0.05,
        federation_delivery_base_delay_s=0.01,
        **extra,
    )


async def wait_for_state(
    sessions: async_sessionmaker[AsyncSession], states: set[str], timeout_s: float = 15.0
) -> list[Delivery]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await rows(sessions)
        if found and {r.state for r in found} <= states:
            return found
        if time.monotonic() > deadline:
            raise AssertionError([(r.state, r.attempts, r.last_error) for r in found])
        await asyncio.sleep(0.05)


async def test_the_app_with_agents_runs_the_delivery_worker(
    db_kind: str, tmp_root: Path, registry: BackendRegistry, inbox: Inbox
) -> None:
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    sessions = make_sessionmaker(engine)
    application = create_app(
        worker_settings(tmp_root, url), backends=registry, migrate=False, agents=True
    )
    async with application.router.lifespan_context(application):
        worker = application.state.personae.delivery
        assert isinstance(worker, DeliveryWorker) and worker.running
        alice = await local_actor(sessions, "alice")
        await trust(sessions, inbox, alice, "alice")
        inbox.script["/inbox"] = [(503, {})]  # one failure, retried by the loop itself
        await queue(sessions, alice, [f"{inbox.url}/inbox"])
        (row,) = await wait_for_state(sessions, {"delivered"})
    assert not worker.running
    assert row.attempts == 2 and row.last_status == 202
    assert [r["key"] for r in inbox.seen] == [URLS.key_id(URLS.actor("alice"))] * 2


async def test_the_app_without_agents_runs_no_delivery_worker_unless_asked(
    db_kind: str, tmp_root: Path, registry: BackendRegistry
) -> None:
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    application = create_app(worker_settings(tmp_root, url), backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        assert application.state.personae.delivery is None
    # `personae serve`: deliveries without the agents.
    application = create_app(
        worker_settings(tmp_root, url), backends=registry, migrate=False, delivery=True
    )
    async with application.router.lifespan_context(application):
        state = application.state.personae
        assert state.agents is None
        worker = state.delivery
        assert isinstance(worker, DeliveryWorker) and worker.running
    assert not worker.running


def test_personae_serve_delivers(tmp_path: Path, inbox: Inbox) -> None:
    """The real `personae serve` process sends what is queued (no agents, no worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env |= {
        "PERSONAE_DATA_DIR": str(tmp_path / "data"),
        "PERSONAE_BACKENDS": '{"fake":{"kind":"fake"}}',
        "PERSONAE_DEFAULT_BACKEND": "fake",
        "PERSONAE_BASE_URL": BASE,
        "PERSONAE_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true",
        "PERSONAE_FEDERATION_WORKER_TICK_S": "0.1",
        "COLUMNS": "200",
    }
    port = free_port()
    binary = Path(sys.executable).parent / "personae"
    proc = subprocess.Popen(
        [str(binary), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    database = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'personae.db'}"

    async def queue_and_wait() -> list[Delivery]:
        engine = make_engine(database)
        try:
            sessions = make_sessionmaker(engine)
            alice = await local_actor(sessions, "alice")
            await trust(sessions, inbox, alice, "alice")
            await queue(sessions, alice, [f"{inbox.url}/inbox"])
            return await wait_for_state(sessions, {"delivered"}, timeout_s=30)
        finally:
            await engine.dispose()

    try:
        deadline = time.monotonic() + 90
        while True:  # the server has migrated the database once it answers
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "personae serve did not start"
                time.sleep(0.2)
        (row,) = asyncio.run(queue_and_wait())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate(timeout=10)
    assert (row.attempts, row.last_status) == (1, 202)
    assert [r["key"] for r in inbox.seen] == [URLS.key_id(URLS.actor("alice"))]
    assert "Traceback" not in output, output


async def test_the_worker_survives_a_failing_pass_and_prunes_old_rows(
    db_kind: str,
    tmp_root: Path,
    sessions: async_sessionmaker[AsyncSession],
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = await migrated_engine(db_kind, tmp_root)
    now = datetime.now(UTC)
    async with sessions() as session:
        for age, state in ((8, "delivered"), (8, "failed"), (8, "gone"), (2, "delivered")):
            session.add(
                Delivery(
                    activity_id=f"https://social.example/a/{state}/{age}",
                    inbox="https://old.example/inbox",
                    body="{}",
                    state=state,
                    finished_at=now - timedelta(days=age),
                )
            )
        for age in (31, 29):
            session.add(
                InboundActivity(
                    activity_id=f"https://old.example/a/{age}",
                    actor_uri="https://old.example/users/x",
                    activity_type="Create",
                    received_at=now - timedelta(days=age),
                )
            )
        await session.commit()

    calls: list[int] = []
    real_expand = outbound.expand_due

    async def flaky_expand(
        sessions: async_sessionmaker[AsyncSession], federation: Federation, limit: int = 50
    ) -> int:
        calls.append(limit)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return await real_expand(sessions, federation, limit)

    monkeypatch.setattr(outbound, "expand_due", flaky_expand)
    alice = await local_actor(sessions, "alice")
    await trust(sessions, inbox, alice, "alice")
    await queue(sessions, alice, [f"{inbox.url}/inbox"])
    worker = DeliveryWorker(worker_settings(tmp_root, url), sessions)
    worker.start()
    try:
        found = await wait_for_state(sessions, {"delivered"})
    finally:
        await worker.stop()
    assert len(calls) >= 2 and not worker.running
    # Old finished deliveries and inbound ids are gone; recent ones and the new one stay.
    assert sorted((r.inbox, r.state) for r in found) == [
        (f"{inbox.url}/inbox", "delivered"),
        ("https://old.example/inbox", "delivered"),
    ]
    async with sessions() as session:
        kept = list(await session.scalars(select(InboundActivity.activity_id)))
    assert kept == ["https://old.example/a/29"]
