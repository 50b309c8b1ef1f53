"""Two workers (as two processes would be: engines with connection pools of their own)
carrying out actions of one character that do the same thing at once, on SQLite and
PostgreSQL: the second finds it done and both are recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import clock
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.models import AgendaItem
from personae.agents.triggers import agenda_row, insert_agenda
from personae.db import make_engine, make_sessionmaker
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.social.models import Like, Notification, Post
from tests.conftest import sign_up

API = "/api/v1"
WORKERS = 2


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


class ChoosingTogether(FakeBackend):
    """Answers only once every worker has asked: each has read the feed (the post is not
    reposted yet) before any of them writes."""

    def __init__(self, choice: str) -> None:
        super().__init__("fake")
        self.arrived = 0
        self.all_here = asyncio.Event()
        self.choice = choice

    async def stream(self, messages: Any, params: Any) -> Any:
        self.arrived += 1
        if self.arrived >= WORKERS:
            self.all_here.set()
        await asyncio.wait_for(self.all_here.wait(), timeout=30)
        self.enqueue(self.choice)
        async for event in super().stream(messages, params):
            yield event


async def release_when_all_wait(holder: AsyncSession, db_kind: str) -> str:
    """Let go of the held row once every worker waits on a lock (PostgreSQL only)."""
    if db_kind == "postgres":
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        for _ in range(200):
            async with holder.bind.connect() as watcher:  # type: ignore[union-attr]
                if (await watcher.scalar(waiting) or 0) >= WORKERS:
                    break
            await asyncio.sleep(0.05)
        await holder.rollback()
    return ""


@pytest.mark.parametrize("what", ["repost", "like"])
async def test_two_workers_doing_the_same_thing_at_once_both_record(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str, what: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    r = await client.post(
        f"{API}/characters",
        headers=ann,
        json={"name": "Polly", "handle": "polly", "visibility": "public", "backend": "fake"},
    )
    assert r.status_code == 201, r.text
    polly = r.json()["id"]
    autonomy = {
        "enabled": True,
        "active_from": 0,
        "active_until": 24,
        "posts_per_day": 0,
        "browse_per_day": 0,
        "allowed_actions": [what],
    }
    r = await client.put(f"{API}/characters/polly/autonomy", headers=ann, json=autonomy)
    assert r.status_code == 200, r.text
    # Bob engaged with Polly (he follows her) and she reads him.
    assert (await client.post(f"{API}/actors/polly/follow", headers=bob)).status_code == 200
    r = await client.post(f"{API}/actors/bob/follow", headers=ann, params={"as": "polly"})
    assert r.status_code == 200
    r = await client.post(f"{API}/posts", headers=bob, json={"text": "the gulls are back"})
    assert r.status_code == 201
    target = r.json()["id"]

    state = app.state.personae
    now = clock.now()
    async with state.sessions() as session:
        # Clear what the follows queued: only the two browses below are to run.
        await session.execute(AgendaItem.__table__.delete())
        rows = [agenda_row(polly, "browse", f"race:{n}", now, "a test") for n in range(WORKERS)]
        await insert_agenda(session, rows)
        await session.commit()
    ids = [row["id"] for row in rows]

    backends = BackendRegistry("fake")
    backends.register("fake", ChoosingTogether(f'{{"action": "{what}", "post": 1}}'))
    settings = state.settings.model_copy(update={"agents_model_importance": False})
    url = settings.effective_database_url
    # One engine, pool and (on SQLite) in-process write lock per worker, as with processes.
    pools = [make_engine(url) for _ in range(WORKERS)]
    workers = [Engine(settings, make_sessionmaker(pool), backends) for pool in pools]
    try:
        later = now + timedelta(seconds=1)
        async with state.sessions() as holder:
            if db_kind == "postgres":
                # Hold the post's row, so the first worker waits (its repost or like
                # written, not committed) until the second has tried to write the same.
                await holder.execute(
                    update(Post).where(Post.id == target).values(likes_count=Post.likes_count)
                )
            with clock.simulated(clock.SimClock(later)):
                outcomes = await asyncio.gather(
                    *(agents.run_item(w, i, later) for w, i in zip(workers, ids, strict=True)),
                    release_when_all_wait(holder, db_kind),
                )
    finally:
        for pool in pools:
            await pool.dispose()

    done = "reposted" if what == "repost" else "liked"
    assert outcomes[:WORKERS] == [done] * WORKERS
    async with state.sessions() as session:
        recorded = list(await session.scalars(select(AgendaItem).where(AgendaItem.id.in_(ids))))
        assert [(i.state, i.outcome) for i in recorded] == [("done", done)] * WORKERS
        assert all(i.attempts == 1 for i in recorded)  # nothing failed and was retried
        original = await session.get(Post, target)
        assert original is not None
        if what == "repost":
            reposts = select(func.count()).where(Post.repost_of_id == target)
            assert await session.scalar(reposts) == 1
            assert original.reposts_count == 1
        else:
            likes = select(func.count()).select_from(Like).where(Like.post_id == target)
            assert await session.scalar(likes) == 1
            assert original.likes_count == 1
        told = select(func.count()).select_from(Notification).where(Notification.kind == what)
        assert await session.scalar(told) == 1
