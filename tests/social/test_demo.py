"""`personae demo`: the seeded community, its rules, and the first real sign-up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from personae.accounts.models import Account
from personae.agents.models import AgentSettings
from personae.characters.models import Character
from personae.db import transaction
from personae.demo import CHARACTERS, PEOPLE, DemoSummary, seed_demo
from personae.errors import Conflict
from personae.social.models import Actor, Follow, Like, Post, PostTag
from personae.social.text import parse
from tests.conftest import sign_up

COUNTED = (Account, Character, Actor, Post, Follow, Like, PostTag)


async def seed(app: FastAPI, if_empty: bool = False) -> DemoSummary:
    messages: list[str] = []
    async with transaction(app.state.personae.sessions) as session:
        summary = await seed_demo(session, if_empty=if_empty, progress=messages.append)
    assert bool(messages) is not summary.skipped
    return summary


async def counts(app: FastAPI) -> dict[str, int]:
    async with app.state.personae.sessions() as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in COUNTED
        }


async def test_seed_creates_a_living_community(app: FastAPI, db_kind: str) -> None:
    summary = await seed(app)
    assert not summary.skipped
    assert summary.people == len(PEOPLE) >= 3 and summary.characters == len(CHARACTERS) >= 5
    assert 30 <= summary.posts <= 60 and summary.replies >= 5
    assert summary.reposts >= 2 and summary.likes >= 10 and summary.follows >= 10
    assert "Seeded" in summary.describe()
    async with app.state.personae.sessions() as session:
        autonomous = await session.scalar(
            select(func.count()).select_from(AgentSettings).where(AgentSettings.enabled.is_(True))
        )
    assert autonomous == len(CHARACTERS)  # `personae run` brings them to life
    async with app.state.personae.sessions() as session:
        accounts = list(await session.scalars(select(Account)))
        assert len(accounts) == summary.people and not any(a.is_admin for a in accounts)
        characters = list(await session.scalars(select(Character)))
        assert {c.visibility for c in characters} == {"public"}
        assert all(c.personality and c.first_mes and c.tags for c in characters)
        actors = {a.handle: a for a in await session.scalars(select(Actor))}
        for spec in CHARACTERS:
            actor = actors[spec.handle]
            assert actor.is_ai and actor.kind == "character"
            assert not actor.hidden and actor.discoverable and actor.bio == spec.bio
        for person in PEOPLE:
            actor = actors[person.handle]
            assert not actor.is_ai and actor.bio == person.bio and actor.fields
        posts = list(await session.scalars(select(Post)))
        originals = [p for p in posts if p.repost_of_id is None]
        assert len(originals) == summary.posts
        assert len(posts) - len(originals) == summary.reposts
        by_author = {a.id: a for a in actors.values()}
        for post in posts:
            assert post.author_is_ai is by_author[post.author_id].is_ai
        assert any(p.author_is_ai and p.repost_of_id is None for p in posts)
        assert any(p.author_is_ai and p.repost_of_id for p in posts)  # a character reposts
        assert any(p.content_warning for p in posts)
        assert [p.visibility for p in posts].count("followers") == 1
        assert any(p.quote_of_id for p in posts)
        assert any(p.is_reply and p.root_id != p.in_reply_to_id for p in posts)  # a thread
        assert any(parse(p.text).mentions for p in posts)
        tags = set(await session.scalars(select(PostTag.tag)))
        assert len(tags) >= 5
        assert sum(p.likes_count for p in posts) == summary.likes
        follows = await session.scalar(
            select(func.count()).select_from(Follow).where(Follow.state == "accepted")
        )
        assert follows == summary.follows
        # A conversation between a person and a character.
        pairs = {
            (by_author[p.author_id].kind, by_author[p.reply_to_author_id].kind)
            for p in posts
            if p.reply_to_author_id
        }
        assert {("person", "character"), ("character", "person")} <= pairs


async def test_if_empty_skips_and_a_second_run_is_refused(app: FastAPI, db_kind: str) -> None:
    await seed(app)
    before = await counts(app)
    summary = await seed(app, if_empty=True)
    assert summary.skipped and summary.posts == 0
    assert summary.describe() == "The instance already has data; nothing seeded."
    assert await counts(app) == before
    with pytest.raises(Conflict, match="demo handle"):
        await seed(app)
    assert await counts(app) == before


async def test_if_empty_skips_when_a_real_account_exists(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "early_bird")
    before = await counts(app)
    assert (await seed(app, if_empty=True)).skipped
    assert await counts(app) == before


async def test_demo_people_cannot_log_in_and_first_sign_up_is_admin(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await seed(app)
    for person in PEOPLE:
        for password in ("correct horse", "!", "x" * 20):
            r = await client.post(
                "/api/v1/auth/token", json={"username": person.handle, "password": password}
            )
            assert r.status_code == 401, r.text
    r = await client.post(
        "/api/v1/accounts", json={"username": "newcomer", "password": "correct horse"}
    )
    assert r.status_code == 201 and r.json()["is_admin"] is True
    r = await client.post(
        "/api/v1/accounts", json={"username": "second", "password": "correct horse"}
    )
    assert r.status_code == 201 and r.json()["is_admin"] is False


async def test_new_user_sees_the_demo_on_the_public_timeline(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await seed(app)
    headers = await sign_up(client, "newcomer")
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/timelines/public", headers=headers, params=params)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert items and all(item["visibility"] == "public" for item in items)
    ai = [item for item in items if item["author"]["is_ai"] is True]
    assert ai and all(item["is_ai"] and item["author"]["ai_label"] for item in ai)
    assert any(item["author"]["is_ai"] is False for item in items)
    r = await client.get("/api/v1/timelines/tag/seals", headers=headers)
    assert r.status_code == 200 and r.json()["items"], r.text
