"""The same request sent several times at once (a double click, two tabs, two workers)
answers alike every time and counts once, on SQLite and PostgreSQL.

Each burst goes through several HTTP clients at once (`asyncio.gather`), so the requests
really overlap in the database: each reads "not done yet" before any of them writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select

from personae.social.models import Block, Follow, Like, Mute, Notification, Post
from tests.conftest import sign_up

API = "/api/v1"
BURST = 6
Headers = dict[str, str]
Json = dict[str, Any]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


@pytest_asyncio.fixture
async def clients(app: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Several HTTP clients on the same app, as several browsers or workers would be."""
    opened = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for _ in range(BURST)
    ]
    yield opened
    for c in opened:
        await c.aclose()


async def burst(
    clients: list[httpx.AsyncClient], method: str, path: str, headers: Headers
) -> list[httpx.Response]:
    """The same request from every client at once."""
    return list(
        await asyncio.gather(*(c.request(method, f"{API}{path}", headers=headers) for c in clients))
    )


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    """Rows of a table matching conditions."""
    async with app.state.personae.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def new_post(client: httpx.AsyncClient, headers: Headers, text: str, **extra: Any) -> Json:
    """Publish a post that must succeed."""
    r = await client.post(f"{API}/posts", headers=headers, json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_post(client: httpx.AsyncClient, headers: Headers, post_id: str) -> Json:
    """A post as the given viewer sees it."""
    r = await client.get(f"{API}/posts/{post_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def profile(client: httpx.AsyncClient, handle: str) -> Json:
    """An actor's public profile."""
    r = await client.get(f"{API}/actors/{handle}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_double_likes_and_reposts_answer_alike_and_count_once(
    app: FastAPI, client: httpx.AsyncClient, clients: list[httpx.AsyncClient], db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    original = await new_post(client, bob, "the tide is turning")
    pid = original["id"]

    liked = await burst(clients, "POST", f"/posts/{pid}/like", alice)
    assert [r.status_code for r in liked] == [200] * BURST, [r.text for r in liked]
    assert {(r.json()["likes_count"], r.json()["liked"]) for r in liked} == {(1, True)}
    assert await count(app, Like, Like.post_id == pid) == 1
    likes = Notification.kind == "like"
    assert await count(app, Notification, likes) == 1  # told once

    shared = await burst(clients, "POST", f"/posts/{pid}/repost", alice)
    assert [r.status_code for r in shared] == [201] * BURST, [r.text for r in shared]
    assert len({r.json()["id"] for r in shared}) == 1  # every answer names the one repost
    assert (await get_post(client, bob, pid))["reposts_count"] == 1
    assert await count(app, Post, Post.repost_of_id == pid) == 1
    assert await count(app, Notification, Notification.kind == "repost") == 1

    unliked = await burst(clients, "DELETE", f"/posts/{pid}/like", alice)
    assert [r.status_code for r in unliked] == [200] * BURST
    assert {r.json()["likes_count"] for r in unliked} == {0}
    unshared = await burst(clients, "DELETE", f"/posts/{pid}/repost", alice)
    assert [r.status_code for r in unshared] == [200] * BURST
    assert {r.json()["reposts_count"] for r in unshared} == {0}
    after = await get_post(client, bob, pid)
    assert (after["likes_count"], after["reposts_count"]) == (0, 0)
    assert await count(app, Post, Post.repost_of_id == pid) == 0


async def test_concurrent_deletes_take_counters_down_once(
    app: FastAPI, client: httpx.AsyncClient, clients: list[httpx.AsyncClient], db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    original = await new_post(client, bob, "what a storm last night")
    pid = original["id"]
    reply = await new_post(client, alice, "it kept me up", in_reply_to_id=pid)
    quote = await new_post(client, alice, "bob has a point", quote_of_id=pid)
    r = await client.post(f"{API}/posts/{pid}/repost", headers=alice)
    assert r.status_code == 201
    repost_id = r.json()["id"]
    before = await get_post(client, bob, pid)
    assert (before["replies_count"], before["quotes_count"], before["reposts_count"]) == (1, 1, 1)
    assert (await profile(client, "alice"))["posts_count"] == 2

    for doomed in (reply["id"], quote["id"], repost_id):
        gone = await burst(clients, "DELETE", f"/posts/{doomed}", alice)
        # A delete that overlapped the winner answers as it did (the post is gone, as
        # asked); one that came after it finds no post. Never a 500, never twice counted.
        codes = [r.status_code for r in gone]
        assert 204 in codes and set(codes) <= {204, 404}, [r.text for r in gone]
    after = await get_post(client, bob, pid)
    assert (after["replies_count"], after["quotes_count"], after["reposts_count"]) == (0, 0, 0)
    assert (await profile(client, "alice"))["posts_count"] == 0
    assert (await profile(client, "bob"))["posts_count"] == 1
    assert (await client.delete(f"{API}/posts/{reply['id']}", headers=alice)).status_code == 404


async def test_follow_toggles_at_once_count_once(
    app: FastAPI, client: httpx.AsyncClient, clients: list[httpx.AsyncClient], db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")

    followed = await burst(clients, "POST", "/actors/bob/follow", alice)
    assert [r.status_code for r in followed] == [200] * BURST, [r.text for r in followed]
    assert {r.json()["state"] for r in followed} == {"accepted"}
    assert (await profile(client, "bob"))["followers_count"] == 1
    assert (await profile(client, "alice"))["following_count"] == 1
    assert await count(app, Notification, Notification.kind == "follow") == 1
    dropped = await burst(clients, "DELETE", "/actors/bob/follow", alice)
    assert [r.status_code for r in dropped] == [200] * BURST
    assert (await profile(client, "bob"))["followers_count"] == 0
    assert (await profile(client, "alice"))["following_count"] == 0

    # A locked account's request, accepted from several tabs at once, counts once.
    r = await client.patch(f"{API}/profile", headers=bob, json={"locked": True})
    assert r.status_code == 200
    asked = await burst(clients, "POST", "/actors/bob/follow", carol)
    assert {r.json()["state"] for r in asked} == {"pending"}
    accepted = await burst(clients, "POST", "/follow-requests/carol/accept", bob)
    assert [r.status_code for r in accepted] == [204] * BURST, [r.text for r in accepted]
    assert (await profile(client, "bob"))["followers_count"] == 1
    assert (await profile(client, "carol"))["following_count"] == 1
    assert await count(app, Follow, Follow.state == "accepted") == 1

    # Blocks and mutes: every click answers 204 and one row stands; the block ends the
    # follow once.
    blocked = await burst(clients, "POST", "/actors/carol/block", bob)
    assert [r.status_code for r in blocked] == [204] * BURST, [r.text for r in blocked]
    assert await count(app, Block) == 1
    assert (await profile(client, "bob"))["followers_count"] == 0
    assert (await profile(client, "carol"))["following_count"] == 0
    muted = await burst(clients, "POST", "/actors/alice/mute", bob)
    assert [r.status_code for r in muted] == [204] * BURST, [r.text for r in muted]
    assert await count(app, Mute) == 1
    for path in ("/actors/carol/block", "/actors/alice/mute"):
        lifted = await burst(clients, "DELETE", path, bob)
        assert [r.status_code for r in lifted] == [204] * BURST
    assert await count(app, Block) == 0 and await count(app, Mute) == 0
