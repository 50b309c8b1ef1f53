"""The whole engine on the bundled model: 5 characters and 3 people live one simulated day.

On SQLite the actions run on the in-memory broker; on PostgreSQL they go through the
real Redis broker to an in-process worker. Midway the worker is killed with actions in
flight (cancelled mid-generation, holding their claims) and a new one started: nothing
due is lost and nothing is published twice. The subprocess test in test_worker_kill.py
does the same with SIGKILL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, or_, select

from personae import clock
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.jobs import make_broker, register_tasks
from personae.agents.models import AgendaItem
from personae.agents.runtime import AgentRuntime
from personae.memory.models import Memory
from personae.social.models import Follow, Like, Notification, Post, PostMention
from tests.conftest import sign_up

API = "/api/v1"
Headers = dict[str, str]
DAY_START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
# The wall clock starts at DAY_START too (and ticks), so what a test does outside its simulated
# clock (an API call, a trigger) happens on the planned day, whatever today's date is.
pytestmark = pytest.mark.time_machine(DAY_START, tick=True)
DAY_END = DAY_START + timedelta(hours=24)
CAST = {
    "polly": ("Pirate Polly", "A cheerful pirate captain who sings sea shanties.", "sailing"),
    "sage": ("Sage", "A calm gardener who speaks softly about plants.", "gardening"),
    "byte": ("Byte", "A friendly robot who loves old computers.", "retro computers"),
    "nova": ("Nova", "An astronomer who is amazed by the night sky.", "stars"),
    "grim": ("Grim", "A grumpy detective who distrusts everyone.", "mysteries"),
}
LIMITS = {"posts_per_day": 2, "browse_per_day": 1, "replies_per_hour": 3}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults; this test needs several."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def make_cast(client: httpx.AsyncClient, owners: dict[str, Headers]) -> None:
    """The five characters, on the bundled model, autonomous from 8 to 22 UTC."""
    for handle, (name, persona, interest) in CAST.items():
        owner = owners["bob"] if handle in ("nova", "grim") else owners["ann"]
        r = await client.post(
            f"{API}/characters",
            headers=owner,
            json={
                "name": name,
                "handle": handle,
                "visibility": "public",
                "description": persona,
                # Greedy decoding: the day plays out the same on every run and machine.
                "sampling": {"temperature": 0},
            },
        )
        assert r.status_code == 201, r.text
        settings = {
            "enabled": True,
            "active_from": 8,
            "active_until": 22,
            "interests": [interest],
            **LIMITS,
        }
        r = await client.put(f"{API}/characters/{handle}/autonomy", headers=owner, json=settings)
        assert r.status_code == 200, r.text


async def act(client: httpx.AsyncClient, method: str, url: str, headers: Headers, **kw: Any) -> Any:
    """One API call that must succeed."""
    r = await client.request(method, f"{API}{url}", headers=headers, **kw)
    assert r.status_code < 300, (url, r.text)
    return r.json() if r.content else None


async def settle(engine: Engine, claims: dict[str, int], timeout_s: float = 120) -> None:
    """Wait until every handed-out item was claimed anew and is no longer running."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with engine.sessions() as session:
            rows = (
                await session.execute(
                    select(AgendaItem.id, AgendaItem.claim, AgendaItem.state).where(
                        AgendaItem.id.in_(list(claims))
                    )
                )
            ).all()
        if all(claim > claims[i] and state != "running" for i, claim, state in rows):
            return
        assert asyncio.get_running_loop().time() < deadline, "the worker did not finish its actions"
        await asyncio.sleep(0.05)


async def claims_of(engine: Engine, ids: list[str]) -> dict[str, int]:
    """The current claim number of each item."""
    async with engine.sessions() as session:
        rows = await session.execute(
            select(AgendaItem.id, AgendaItem.claim).where(AgendaItem.id.in_(ids))
        )
        return {i: c for i, c in rows}


async def running_ids(engine: Engine, ids: list[str]) -> set[str]:
    """Those of `ids` a worker is carrying out (polled for a few seconds)."""
    for _ in range(100):
        async with engine.sessions() as session:
            rows = await session.execute(
                select(AgendaItem.id, AgendaItem.state, AgendaItem.kind).where(
                    AgendaItem.id.in_(ids)
                )
            )
            states = {i: (state, kind) for i, state, kind in rows}
        running = {i for i, (state, kind) in states.items() if state == "running"}
        if any(states[i][1] in ("post", "reply") for i in running):
            return running
        if all(state not in ("pending", "running") for state, _ in states.values()):
            return set()
        await asyncio.sleep(0.03)
    return set()


def runtime_for(engine: Engine) -> AgentRuntime:
    """A worker (no scheduler loop: the test hands out actions on its simulated clock)."""
    jobs = register_tasks(make_broker(engine.settings))
    return AgentRuntime(engine, jobs, scheduler=False, worker=True, drain_timeout_s=0)


@pytest.mark.slow
async def test_one_simulated_day(app: FastAPI, client: httpx.AsyncClient, db_kind: str) -> None:
    state = app.state.personae
    broker_url = ""
    if db_kind == "postgres":
        broker_url = f"redis://127.0.0.1:6379/0?queue=personae-test-{secrets.token_hex(4)}"
    settings = state.settings.model_copy(update={"broker_url": broker_url, "agents_lease_s": 600})
    engine = Engine(settings, state.sessions, state.backends)
    people = {name: await sign_up(client, name) for name in ("ann", "bob", "cat")}
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    sim = clock.SimClock(DAY_START)
    with clock.simulated(sim):
        await make_cast(client, people)
        # People engage: follows; Polly and Nova know each other; Cat talks to Grim ...
        for who, handle in (("bob", "polly"), ("cat", "polly"), ("bob", "nova"), ("cat", "grim")):
            await act(client, "POST", f"/actors/{handle}/follow", people[who])
        await act(client, "POST", "/actors/nova/follow", ann, params={"as": "polly"})
        await act(client, "POST", "/actors/polly/follow", bob, params={"as": "nova"})
        await act(client, "POST", "/posts", cat, json={"text": "@grim can you solve my case?"})
        # ... and then blocks him: he must never act on her again.
        await act(client, "POST", "/actors/grim/block", cat)
        await act(client, "POST", "/posts", cat, json={"text": "a quiet morning with tea"})

    runtime = runtime_for(engine)
    await runtime.start()
    killed: set[str] = set()
    mentioned: dict[str, str] = {}
    try:
        with clock.simulated(sim):
            await agents.plan(engine, sim.now())
            while True:
                ready = await agents.next_ready_at(engine)
                if ready is None or ready > DAY_END:
                    break
                sim.advance_to(ready)
                if sim.now() >= DAY_START + timedelta(hours=3) and "bob" not in mentioned:
                    post = await act(
                        client,
                        "POST",
                        "/posts",
                        bob,
                        json={"text": "@polly what is your favourite sea shanty?"},
                    )
                    mentioned["bob"] = post["id"]
                    both = "@polly @nova what do sailors and astronomers have in common?"
                    post = await act(client, "POST", "/posts", ann, json={"text": both})
                    mentioned["ann"] = post["id"]
                    continue
                await agents.plan(engine, sim.now())
                ids = await agents.take_due(engine, sim.now())
                if not ids:
                    sim.advance_to(sim.now() + timedelta(seconds=1))  # never spin in place
                    continue
                before = await claims_of(engine, ids)
                await dispatch_ids(engine, runtime, ids, sim.now())
                if not killed and sim.now() >= DAY_START + timedelta(hours=6):
                    # Kill the worker while it generates, then start a new one.
                    running = await running_ids(engine, ids)
                    if running:
                        killed = running
                        await runtime.stop()
                        runtime = runtime_for(engine)
                        await runtime.start()
                        continue  # their leases run out later; a later pass hands them out again
                await settle(engine, before)
    finally:
        await runtime.stop()
        if broker_url:
            from redis.asyncio import Redis

            async with Redis.from_url("redis://127.0.0.1:6379/0") as redis:
                await redis.delete(broker_url.rsplit("queue=", 1)[1])

    async with state.sessions() as session:
        items = list(await session.scalars(select(AgendaItem)))
        await check_outcomes(session, items, killed, mentioned)


async def dispatch_ids(
    engine: Engine, runtime: AgentRuntime, ids: list[str], now: datetime
) -> None:
    """Kick already-taken items onto the runtime's broker, stamped with the simulated time."""
    for item_id in ids:
        await runtime.jobs.kick(item_id, now.isoformat())


async def check_outcomes(
    session: Any, items: list[AgendaItem], killed: set[str], mentioned: dict[str, str]
) -> None:
    """Everything the issue asks of the day."""
    from personae.social.models import Actor

    actors = {a.handle: a for a in await session.scalars(select(Actor))}
    by_id = {i.id: i for i in items}
    # Nothing due is lost: every action due in the day reached a final state.
    unfinished = [i for i in items if i.state in ("pending", "running") and i.ready_at <= DAY_END]
    assert not unfinished, [(i.kind, i.state, i.detail) for i in unfinished]
    assert killed, "the worker was killed with actions in flight"
    for item_id in killed:
        assert by_id[item_id].state not in ("pending", "running")
        assert by_id[item_id].attempts >= 2  # the killed attempt, then the one that finished
    # Nothing is published twice: every character post belongs to exactly one action.
    character_posts = list(
        await session.scalars(
            select(Post).where(Post.author_is_ai.is_(True), Post.repost_of_id.is_(None))
        )
    )
    published = [i for i in items if i.outcome == "published"]
    assert sorted(p.id for p in character_posts) == sorted(i.result_post_id for i in published)
    # Within limits: posts per day and replies per hour, per character.
    posts = Counter(
        i.character_id for i in items if i.kind == "post" and i.outcome in ("published", "held")
    )
    assert posts, "characters posted"
    assert max(posts.values()) <= LIMITS["posts_per_day"]
    hourly = Counter(
        (i.character_id, i.finished_at.replace(minute=0, second=0, microsecond=0))
        for i in items
        if i.kind in ("reply", "answer_dm") and i.outcome in ("published", "held")
    )
    assert not hourly or max(hourly.values()) <= LIMITS["replies_per_hour"] + 1  # hour edges
    # A person's mention got an in-character reply.
    (answer,) = [i for i in items if i.trigger_post_id == mentioned["bob"]]
    assert answer.outcome == "published", (answer.outcome, answer.detail)
    reply = await session.get(Post, answer.result_post_id)
    assert reply.author_id == actors["polly"].id and reply.in_reply_to_id == mentioned["bob"]
    assert "@bob" in reply.text and len(reply.text) > len("@bob ") + 3
    assert "sea shanty" in answer.inputs["prompt"]
    polly_memories = await session.scalars(
        select(Memory.text).where(
            Memory.character_id == actors["polly"].id, Memory.about_actor_id == actors["bob"].id
        )
    )
    assert any("sea shanty" in text for text in polly_memories)
    # A blocked character never touched the blocker.
    grim, cat = actors["grim"].id, actors["cat"].id
    cat_posts = select(Post.id).where(Post.author_id == cat)
    touches = [
        select(func.count())
        .select_from(Like)
        .where(Like.actor_id == grim, Like.post_id.in_(cat_posts)),
        select(func.count())
        .select_from(Post)
        .where(
            Post.author_id == grim,
            or_(Post.in_reply_to_id.in_(cat_posts), Post.repost_of_id.in_(cat_posts)),
        ),
        select(func.count())
        .select_from(PostMention)
        .join(Post, Post.id == PostMention.post_id)
        .where(Post.author_id == grim, PostMention.actor_id == cat),
        select(func.count())
        .select_from(Follow)
        .where(Follow.follower_id == grim, Follow.followee_id == cat),
        select(func.count())
        .select_from(Notification)
        .where(Notification.actor_id == grim, Notification.recipient_id == cat),
    ]
    for query in touches:
        assert await session.scalar(query) == 0
    grim_on_cat = [i for i in items if i.character_id == grim and i.trigger_actor_id == cat]
    assert grim_on_cat and all(i.outcome == "skipped" for i in grim_on_cat)
    # No thread has more than two AI turns in a row.
    every = {p.id: p for p in await session.scalars(select(Post))}
    for post in every.values():
        streak, current = 0, post
        while current is not None and current.author_is_ai:
            streak += 1
            current = every.get(current.in_reply_to_id) if current.in_reply_to_id else None
        assert streak <= 2, post.text
