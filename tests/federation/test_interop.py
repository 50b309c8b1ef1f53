"""Interoperability with other servers' habits, against a real remote server on loopback.

GoToSocial's key stubs, RFC 9421 signatures at the inbox (and the dialect remembered for
what we send back), Mastodon's Date window, and the double knock when a server accepts
only one dialect. Every test that takes `db_kind` runs on SQLite and (when configured)
PostgreSQL; every refusal also checks that nothing was stored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.models import AgendaItem
from personae.federation import outbound
from personae.federation.context import Federation
from personae.federation.delivery import deliver_due
from personae.federation.models import PeerServer
from personae.federation.models import RemoteActor as RemoteActorRow
from personae.llm.registry import BackendRegistry
from personae.social.models import Post
from tests.conftest import sign_up
from tests.federation.remote_server import (
    API,
    BASE,
    RemoteActor,
    RemoteServer,
    client_for,
    counts,
    deliver,
    federated_app,
    signed,
)

ALICE = f"{BASE}/users/alice"


@pytest.fixture(scope="module")
def remote() -> Iterator[RemoteServer]:
    server = RemoteServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def forget_remote_habits(remote: RemoteServer) -> Iterator[None]:
    """Each test starts with a remote server that takes any signature on its GETs."""
    remote.fetch_dialects = None
    yield
    remote.fetch_dialects = None


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    async with federated_app(db_kind, tmp_root, registry) as application:
        yield application


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest_asyncio.fixture
async def alice(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_up(client, "alice")


def follow(actor: RemoteActor, target: str = ALICE) -> dict[str, Any]:
    return actor.activity("Follow", target)


async def refused(
    app: FastAPI, response: httpx.Response, status: int, before: dict[str, int]
) -> str:
    assert response.status_code == status, response.text
    assert await counts(app) == before
    return str(response.json()["error"]["message"])


async def stored(app: FastAPI, uri: str) -> RemoteActorRow | None:
    async with app.state.personae.sessions() as session:
        found = await session.scalar(select(RemoteActorRow).where(RemoteActorRow.uri == uri))
        return found


async def dialects(app: FastAPI) -> dict[str, str]:
    async with app.state.personae.sessions() as session:
        rows = await session.execute(select(PeerServer.host, PeerServer.signature_dialect))
        return {host: dialect for host, dialect in rows}


async def send_what_is_due(app: FastAPI) -> None:
    """One pass of the delivery worker: expand recorded events, send what is due."""
    state = app.state.personae
    federation = Federation.from_settings(state.settings)
    await outbound.expand_due(state.sessions, federation)
    await deliver_due(state.sessions, federation)


# --- 13. GoToSocial's key stubs -------------------------------------------------------


@pytest.mark.parametrize("style", ["gotosocial", "gotosocial-untyped"])
async def test_a_gotosocial_key_stub_leads_to_its_owner(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
    style: str,
) -> None:
    gts = remote.actor("gts", key_style=style)
    assert gts.key_id == f"{gts.id}/main-key"
    fetched = len(remote.fetched)
    r = await deliver(client, gts, follow(gts))
    assert r.status_code == 202, r.text
    # The stub at the key's address names the actor, fetched by its id for the key.
    assert remote.fetched[fetched:] == ["/users/gts/main-key", "/users/gts"]
    row = await stored(app, gts.id)
    assert row is not None and row.key_id == gts.key_id
    # Known now: its next activity needs no fetch at all.
    fetched = len(remote.fetched)
    r = await deliver(client, gts, gts.activity("Undo", follow(gts)))
    assert r.status_code == 202, r.text
    assert remote.fetched[fetched:] == []


async def test_a_key_stub_naming_an_owner_elsewhere_is_refused_unfetched(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    gts = remote.actor("gts", key_style="gotosocial")
    stub = gts.key_stub()
    stub["publicKey"]["owner"] = "https://elsewhere.example/users/gts"
    gts.key_stub = lambda: stub  # type: ignore[method-assign]
    before = await counts(app)
    fetched = len(remote.fetched)
    message = await refused(app, await deliver(client, gts, follow(gts)), 422, before)
    assert "another server" in message
    assert remote.fetched[fetched:] == ["/users/gts/main-key"]


async def test_a_key_stub_whose_owner_does_not_publish_the_key_is_401(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    gts = remote.actor("gts", key_style="gotosocial")
    # The actor itself publishes another key id: the stub alone proves nothing.
    gts.extra = {
        "publicKey": {"id": f"{gts.id}#other", "owner": gts.id, "publicKeyPem": gts.public_pem}
    }
    before = await counts(app)
    message = await refused(app, await deliver(client, gts, follow(gts)), 401, before)
    assert "not the one that signed" in message


# --- 14. RFC 9421 at the inbox, the Date window, the dialect remembered --------------------


async def test_an_rfc9421_signed_activity_is_accepted_and_answered_in_kind(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    fed = remote.actor("fed")
    r = await deliver(client, fed, follow(fed), dialect="rfc9421")
    assert r.status_code == 202, r.text
    assert await dialects(app) == {remote.host: "rfc9421"}
    # The Accept of that follow goes back signed the way the server signs.
    received = len(remote.received)
    await send_what_is_due(app)
    (accept,) = remote.received[received:]
    assert json.loads(accept["body"])["type"] == "Accept"
    assert accept["headers"]["signature-input"].startswith('sig1=("@method" "@target-uri"')
    assert accept["headers"]["content-digest"].startswith("sha-256=:")
    # A draft-cavage request later from the same server switches it back.
    r = await deliver(client, fed, fed.activity("Undo", follow(fed)))
    assert r.status_code == 202, r.text
    assert await dialects(app) == {remote.host: "cavage"}


async def test_rfc9421_forgeries_are_refused_and_teach_nothing(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    fed = remote.actor("fed")
    other = remote.actor("other")
    before = await counts(app)
    body = json.dumps(follow(fed)).encode()
    headers = signed(BASE + "/inbox", body, fed.key_id, fed.private_pem, dialect="rfc9421")
    # The body changed on the way.
    tampered = body + b" "
    r = await client.post("/inbox", content=tampered, headers=headers)
    assert "Content-Digest does not match" in await refused(app, r, 401, before)
    # Signed by another key than the one it names.
    forged = signed(BASE + "/inbox", body, fed.key_id, other.private_pem, dialect="rfc9421")
    r = await client.post("/inbox", content=body, headers=forged)
    assert "does not verify" in await refused(app, r, 401, before)
    # Signed for another inbox than the one it reached.
    elsewhere = signed(BASE + "/actor/inbox", body, fed.key_id, fed.private_pem, dialect="rfc9421")
    r = await client.post("/inbox", content=body, headers=elsewhere)
    await refused(app, r, 401, before)
    # Made 14 hours ago: a replay outside the window.
    when = datetime.now(UTC) - timedelta(hours=14)
    r = await deliver(client, fed, follow(fed), dialect="rfc9421", now=when)
    assert "too old" in await refused(app, r, 401, before)
    assert await dialects(app) == {}


async def test_a_date_hours_old_is_accepted_as_mastodon_does(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    """A delivery retried with its first signature, three hours on (refused before: the
    window was one hour)."""
    bob = remote.actor("bob")
    for dialect in ("cavage", "rfc9421"):
        when = datetime.now(UTC) - timedelta(hours=3)
        r = await deliver(client, bob, follow(bob), now=when, dialect=dialect)  # type: ignore[arg-type]
        assert r.status_code == 202, (dialect, r.text)


async def test_a_key_fetch_refused_in_one_dialect_is_tried_in_the_other(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    remote.fetch_dialects = {"rfc9421"}
    bob = remote.actor("bob")
    seen = len(remote.fetched_headers)
    r = await deliver(client, bob, follow(bob))
    assert r.status_code == 202, r.text
    first, second = remote.fetched_headers[seen:]
    assert "signature-input" not in first and 'keyId="' in first["signature"]
    assert second["signature-input"].startswith("sig1=") and second["signature"].startswith("sig1=")


# --- 15. WebFinger asks for JRD -----------------------------------------------------------


async def test_webfinger_lookups_ask_for_jrd(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    remote.actor("carol")
    seen = len(remote.fetched)
    r = await client.get(
        "/api/v1/actors/lookup", params={"acct": f"carol@{remote.host}"}, headers=alice
    )
    assert r.status_code == 200, r.text
    asked = dict(zip(remote.fetched[seen:], remote.fetched_headers[seen:], strict=True))
    (webfinger,) = [h for path, h in asked.items() if path.startswith("/.well-known/webfinger")]
    assert webfinger["accept"].startswith("application/jrd+json")
    (actor,) = [h for path, h in asked.items() if path == "/users/carol"]
    assert actor["accept"].startswith("application/activity+json")


# --- 15. A reply keeps its parent's content warning ---------------------------------------


async def sailor(client: httpx.AsyncClient, owner: dict[str, str], **autonomy: Any) -> str:
    """An autonomous character on the bundled model (greedy, so runs repeat)."""
    r = await client.post(
        f"{API}/characters",
        headers=owner,
        json={
            "name": "Marina",
            "handle": "marina",
            "visibility": "public",
            "description": "A cheerful sailor who talks about the sea.",
            "sampling": {"temperature": 0},
        },
    )
    assert r.status_code == 201, r.text
    body = {"enabled": True, "active_from": 0, "active_until": 24, **autonomy}
    r = await client.put(f"{API}/characters/marina/autonomy", headers=owner, json=body)
    assert r.status_code == 200, r.text
    return f"{BASE}/users/marina"


async def answer(
    app: FastAPI, client: httpx.AsyncClient, owner: dict[str, str], post_id: str
) -> Post:
    """Run the character's reply to a post; approve it when it was held. The reply."""
    state = app.state.personae
    settings = state.settings.model_copy(update={"agents_model_importance": False})
    engine = Engine(settings, state.sessions, state.backends)
    async with state.sessions() as session:
        item = await session.scalar(select(AgendaItem).where(AgendaItem.trigger_post_id == post_id))
    assert item is not None and item.kind == "reply"
    outcome = await agents.run_item(engine, item.id, item.ready_at + timedelta(seconds=1))
    if outcome == "held":  # approval mode, or moderation: its creator publishes it
        r = await client.post(f"{API}/agenda/{item.id}/approve", headers=owner)
        assert r.status_code == 200, r.text
    else:
        assert outcome == "published", outcome
    async with state.sessions() as session:
        done = await session.get(AgendaItem, item.id)
        assert done is not None and done.result_post_id is not None
        reply = await session.get(Post, done.result_post_id)
        assert reply is not None and reply.in_reply_to_id == post_id
        return reply


async def test_a_reply_to_a_remote_post_with_a_warning_carries_it_home(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    remote: RemoteServer,
) -> None:
    marina = await sailor(client, alice)
    bob = remote.actor("bob")
    note = bob.note(
        "<p>@marina what did you think of the last storm?</p>",
        summary="spoilers: the finale",
        sensitive=True,
        tag=[{"type": "Mention", "href": marina, "name": "@marina"}],
    )
    r = await deliver(client, bob, bob.create(note))
    assert r.status_code == 202, r.text
    async with app.state.personae.sessions() as session:
        parent = await session.scalar(select(Post).where(Post.uri == note["id"]))
    assert parent is not None and parent.content_warning == "spoilers: the finale"
    reply = await answer(app, client, alice, parent.id)
    assert reply.content_warning == "spoilers: the finale"
    # And so does what bob's server receives.
    received = len(remote.received)
    await send_what_is_due(app)
    (create,) = [
        json.loads(r["body"])
        for r in remote.received[received:]
        if json.loads(r["body"])["type"] == "Create"
    ]
    sent = create["object"]
    assert sent["inReplyTo"] == note["id"]
    assert (sent["summary"], sent["sensitive"]) == ("spoilers: the finale", True)


async def test_a_held_reply_to_a_local_post_keeps_its_warning_when_approved(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await sailor(client, alice, approval_mode=True)
    carl = await sign_up(client, "carl")
    r = await client.post(
        f"{API}/posts",
        headers=carl,
        json={"text": "@marina how do you cope at sea?", "content_warning": "sea sickness"},
    )
    assert r.status_code == 201, r.text
    reply = await answer(app, client, alice, r.json()["id"])
    assert reply.content_warning == "sea sickness"
    # Without a warning on the parent, none is added.
    r = await client.post(f"{API}/posts", headers=carl, json={"text": "@marina and today?"})
    assert r.status_code == 201, r.text
    assert (await answer(app, client, alice, r.json()["id"])).content_warning == ""
