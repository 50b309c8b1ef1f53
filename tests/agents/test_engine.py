"""The agents' engine with the deterministic fake backend, on SQLite and PostgreSQL.

Planning, triggers, every action, the rules (engagement, blocks, loop guard, limits),
moderation holds and the review queue, retries, and the claim that keeps a retry from
publishing twice. The bundled model runs the whole thing in test_scenario.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select

from personae import clock
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.models import AgendaItem
from personae.db import transaction
from personae.llm.base import BackendError
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.memory.models import Memory
from personae.social.models import Follow, Like, Post
from tests.conftest import sign_up

API = "/api/v1"
Headers = dict[str, str]
Json = dict[str, Any]
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
# The wall clock starts at START too (and ticks), so what a test does outside its simulated
# clock (an API call, a trigger) happens on the planned day, whatever today's date is.
pytestmark = pytest.mark.time_machine(START, tick=True)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults; these tests need many accounts."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


@pytest.fixture(autouse=True)
def empty_fake_queue(fake_backend: FakeBackend) -> None:
    """The fake backend is shared by the session: start each test with nothing queued."""
    fake_backend._queue.clear()


def make_engine(app: FastAPI, **overrides: Any) -> Engine:
    """An engine on the test app's database and backends (no model-scored importance)."""
    state = app.state.personae
    settings = state.settings.model_copy(update={"agents_model_importance": False, **overrides})
    return Engine(settings, state.sessions, state.backends)


async def autonomous(
    client: httpx.AsyncClient, headers: Headers, handle: str, **settings: Any
) -> Json:
    """A public character on the fake backend with autonomy on."""
    r = await client.post(
        f"{API}/characters",
        headers=headers,
        json={
            "name": handle.title(),
            "handle": handle,
            "visibility": "public",
            "backend": "fake",
            "description": f"{handle.title()} loves the sea.",
        },
    )
    assert r.status_code == 201, r.text
    body = {"enabled": True, "active_from": 0, "active_until": 24, **settings}
    r = await client.put(f"{API}/characters/{handle}/autonomy", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def post(client: httpx.AsyncClient, headers: Headers, text: str, **extra: Any) -> Json:
    """Publish a post that must succeed."""
    r = await client.post(f"{API}/posts", headers=headers, json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def items(app: FastAPI, **where: Any) -> list[AgendaItem]:
    """Agenda items matching column values, oldest due first."""
    async with app.state.personae.sessions() as session:
        query = select(AgendaItem).order_by(AgendaItem.due_at, AgendaItem.id)
        for name, value in where.items():
            query = query.where(getattr(AgendaItem, name) == value)
        return list(await session.scalars(query))


async def run_until(engine: Engine, sim: clock.SimClock, until: datetime) -> list[str]:
    """Carry out every action due up to `until`, in time order; their outcomes."""
    outcomes = []
    with clock.simulated(sim):
        while True:
            ready = await agents.next_ready_at(engine)
            if ready is None or ready > until:
                break
            sim.advance_to(ready)
            for item_id in await agents.take_due(engine, sim.now()):
                outcomes.append(await agents.run_item(engine, item_id, sim.now()))
    return outcomes


async def mention_and_answer(
    app: FastAPI, client: httpx.AsyncClient, headers: Headers, text: str, **extra: Any
) -> tuple[Json, list[AgendaItem]]:
    """Post (as the person) at START, run the minutes after; the reply items."""
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        written = await post(client, headers, text, **extra)
    engine = make_engine(app)
    await run_until(engine, sim, START + timedelta(minutes=10))
    return written, [i for i in await items(app) if i.trigger_post_id == written["id"]]


# ---------------------------------------------------------------------------- planning


async def test_plan_spreads_posts_over_active_hours_and_is_idempotent(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    await autonomous(
        client,
        ann,
        "polly",
        posts_per_day=4,
        browse_per_day=2,
        active_from=9,
        active_until=17,
        timezone="Europe/Paris",
    )
    engine = make_engine(app)
    assert await agents.plan(engine, START) == 12  # today and tomorrow: 4 posts + 2 browses
    assert await agents.plan(engine, START) == 0
    planned = await items(app)
    posts_today = [i for i in planned if i.kind == "post" and i.due_at.date() == START.date()]
    assert len(posts_today) == 4
    for item in planned:
        local = item.due_at.astimezone(ZoneInfo("Europe/Paris"))
        assert 9 <= local.hour < 17
    gaps = [b.due_at - a.due_at for a, b in pairwise(posts_today)]
    assert all(gap > timedelta(minutes=20) for gap in gaps)  # spread, not bunched

    # A schedule change re-plans: the old pending slots are dropped, new ones written.
    r = await client.put(f"{API}/characters/polly/autonomy", headers=ann, json={"posts_per_day": 1})
    assert r.status_code == 200
    with clock.simulated(clock.SimClock(START)):
        assert await agents.plan(engine, START) == 6  # 1 post + 2 browses, two days
    pending_posts = [i for i in await items(app, state="pending") if i.kind == "post"]
    assert len(pending_posts) == 2


async def test_autonomy_settings_are_validated_and_private_to_the_creator(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    url = f"{API}/characters/polly/autonomy"
    assert (await client.get(url, headers=bob)).status_code == 404
    assert (await client.put(url, headers=bob, json={"enabled": False})).status_code == 404
    assert (await client.get(f"{API}/characters/polly/activity", headers=bob)).status_code == 404
    bad_bodies: list[Json] = [
        {"timezone": "Mars/Olympus"},
        {"posts_per_day": 1000},
        {"active_from": 24},
        {"allowed_actions": ["post", "launch_missiles"]},
        {"reply_policy": "everyone!"},
        {"interests": ["x" * 100]},
        {"unknown": 1},
        {"reply_delay_min_s": -1},
        {"reply_delay_max_s": 86_401},
        {"reply_delay_min_s": 300, "reply_delay_max_s": 60},
        {"reply_delay_min_s": 500},  # longer than the current longest (240 s)
    ]
    before = (await client.get(url, headers=ann)).json()
    for body in bad_bodies:
        r = await client.put(url, headers=ann, json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"]["message"]
    assert (await client.get(url, headers=ann)).json() == before
    r = await client.post(
        f"{API}/characters",
        headers=ann,
        json={"name": "Shy", "handle": "shy", "visibility": "private"},
    )
    assert r.status_code == 201
    r = await client.put(f"{API}/characters/shy/autonomy", headers=ann, json={"enabled": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "character_private"


async def test_a_mention_is_answered_after_the_creators_reply_delay(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    url = f"{API}/characters/polly/autonomy"
    delays = {"reply_delay_min_s": 5, "reply_delay_max_s": 7}
    r = await client.put(url, headers=ann, json=delays)
    assert r.status_code == 200 and r.json()["reply_delay_max_s"] == 7
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        written = await post(client, bob, "@polly quick question")
    (item,) = [i for i in await items(app) if i.trigger_post_id == written["id"]]
    assert timedelta(seconds=5) <= item.due_at - START <= timedelta(seconds=7)


# ---------------------------------------------------------------------------- actions


@pytest.mark.postgres
async def test_a_mention_gets_an_in_character_reply_and_is_remembered(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    fake_backend.enqueue("Arr, the sea is calm today!")
    written, answered = await mention_and_answer(app, client, bob, "hey @polly how is the sea?")
    assert [(i.kind, i.state, i.outcome) for i in answered] == [("reply", "done", "published")]
    item = answered[0]
    assert item.reason == "@bob mentioned it"
    assert item.inputs["trigger_author"] == "bob" and "how is the sea" in item.inputs["prompt"]
    prompt = fake_backend.calls[-1].messages
    assert prompt[0]["role"] == "system" and "Polly loves the sea" in prompt[0]["content"]
    thread = (await client.get(f"{API}/posts/{written['id']}/thread", headers=bob)).json()
    (reply,) = thread["descendants"]
    assert reply["text"] == "@bob Arr, the sea is calm today!"
    assert reply["author"]["handle"] == "polly" and reply["author"]["is_ai"] is True
    assert reply["id"] == item.result_post_id
    async with app.state.personae.sessions() as session:
        remembered = list(
            await session.scalars(
                select(Memory).where(Memory.character_id == reply["author"]["id"])
            )
        )
    about_bob = {m.kind for m in remembered if m.about_actor_id is not None}
    assert about_bob == {"told", "said"}
    r = await client.get(f"{API}/me/memories", headers=bob)
    assert any("how is the sea" in m["text"] for m in r.json()["items"])


async def test_a_reply_that_repeats_an_earlier_post_is_written_again(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    said = "The sea is calm and grey today, and the gulls are quiet."
    r = await client.post(f"{API}/posts?as=polly", headers=ann, json={"text": said})
    assert r.status_code == 201, r.text
    fake_backend.enqueue(said, "Gulls circle the pier; a storm comes by nightfall.")
    _, answered = await mention_and_answer(app, client, bob, "@polly how is the sea?")
    (item,) = answered
    assert (item.state, item.outcome) == ("done", "published"), item.detail
    assert item.output_text == "@bob Gulls circle the pier; a storm comes by nightfall."
    assert 'its recent post "The sea is calm' in item.inputs["redrafted"]
    nudge = fake_backend.calls[-1].messages
    assert nudge[-2] == {"role": "assistant", "content": said}
    assert "Write something new" in nudge[-1]["content"]
    assert fake_backend.calls[-1].params.temperature >= 1.0  # warmer than the first draft


async def test_a_direct_message_is_answered_directly(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    fake_backend.enqueue("Only between us, matey.")
    _, answered = await mention_and_answer(
        app, client, bob, "@polly a secret for you", visibility="direct"
    )
    assert [(i.kind, i.outcome) for i in answered] == [("answer_dm", "published")]
    async with app.state.personae.sessions() as session:
        reply = await session.get(Post, answered[0].result_post_id)
    assert reply is not None and reply.visibility == "direct"
    carol = await sign_up(client, "carol")
    assert (await client.get(f"{API}/posts/{reply.id}", headers=carol)).status_code == 404


async def test_new_followers_are_followed_back_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0)
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        assert (await client.post(f"{API}/actors/polly/follow", headers=bob)).status_code == 200
    outcomes = await run_until(make_engine(app), sim, START + timedelta(minutes=10))
    assert outcomes == ["followed"]
    async with app.state.personae.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Follow))
    assert count == 2
    # Unfollow and follow again: the same key, so no second follow-back action.
    with clock.simulated(sim):
        await client.delete(f"{API}/actors/polly/follow", headers=bob)
        await client.post(f"{API}/actors/polly/follow", headers=bob)
    assert await run_until(make_engine(app), sim, START + timedelta(minutes=30)) == []


async def test_browsing_likes_only_posts_of_those_who_engaged(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=1)
    # Polly follows bob (by her creator's hand), but bob never engaged with her.
    r = await client.post(f"{API}/actors/bob/follow", headers=ann, params={"as": "polly"})
    assert r.status_code == 200
    await post(client, bob, "a quiet day at the harbour")
    engine = make_engine(app)
    sim = clock.SimClock(START)
    await agents.plan(engine, START)
    outcomes = await run_until(engine, sim, START + timedelta(hours=24))
    assert outcomes == ["nothing"]  # nothing it may act on
    (browse,) = await items(app, kind="browse", state="done")
    assert browse.detail == "nothing new in its feed"
    assert fake_backend.calls == [] or all(
        "reading your feed" not in c.messages[-1]["content"] for c in fake_backend.calls
    )


async def test_browsing_lets_the_model_choose_among_allowed_actions(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(
        client, ann, "polly", posts_per_day=0, browse_per_day=1, allowed_actions=["like"]
    )
    assert (await client.post(f"{API}/actors/polly/follow", headers=bob)).status_code == 200
    r = await client.post(f"{API}/actors/bob/follow", headers=ann, params={"as": "polly"})
    assert r.status_code == 200
    liked = await post(client, bob, "the gulls are back")
    fake_backend.enqueue('{"action": "like", "post": 1}')
    engine = make_engine(app)
    await agents.plan(engine, START)
    # follow_back (already following: nothing) and the browse.
    outcomes = await run_until(engine, clock.SimClock(START), START + timedelta(hours=24))
    assert sorted(outcomes) == ["liked", "skipped"]  # following back is not allowed
    choice = fake_backend.calls[-1]
    assert choice.params.json_schema is not None
    assert choice.params.json_schema["properties"]["action"]["enum"] == ["like", "nothing"]
    async with app.state.personae.sessions() as session:
        like = await session.scalar(select(Like).where(Like.post_id == liked["id"]))
    assert like is not None


# ---------------------------------------------------------------------------- rules


async def test_a_blocked_character_never_touches_the_blocker(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0)
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        written = await post(client, bob, "hey @polly")
        # Bob blocks Polly before she gets round to answering.
        assert (await client.post(f"{API}/actors/polly/block", headers=bob)).status_code == 204
    outcomes = await run_until(make_engine(app), sim, START + timedelta(minutes=10))
    assert outcomes == ["skipped"]
    (item,) = await items(app, trigger_post_id=written["id"])
    assert "block" in item.detail or "no longer visible" in item.detail
    assert (
        fake_backend.calls == []
        or "hey @polly" not in fake_backend.calls[-1].messages[-1]["content"]
    )
    # And a blocker's later mention never even reaches her agenda.
    with clock.simulated(sim):
        await post(client, bob, "@polly are you there?")
    assert len(await items(app, kind="reply")) == 1


async def test_thread_loop_guard_stops_characters_answering_each_other(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0)
    await autonomous(client, ann, "gully", posts_per_day=0, browse_per_day=0)
    # They have engaged with each other (follows), so mentions between them are answered.
    for who, other in (("polly", "gully"), ("gully", "polly")):
        r = await client.post(f"{API}/actors/{other}/follow", headers=ann, params={"as": who})
        assert r.status_code == 200
    fake_backend.enqueue(*[f"@gully @polly round {n}" for n in range(10)])
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        first = await post(client, bob, "@polly @gully argue!")
    await run_until(make_engine(app), sim, START + timedelta(hours=2))
    thread = (await client.get(f"{API}/posts/{first['id']}/thread", headers=bob)).json()
    replies = thread["descendants"]
    assert replies, "someone answered"
    depth: dict[str, int] = {first["id"]: 0}
    for reply in replies:
        depth[reply["id"]] = depth[reply["in_reply_to_id"]] + 1
    assert max(depth.values()) <= 2  # never more than two AI turns in a row
    guarded = [i for i in await items(app, state="skipped") if "thread-loop" in i.detail]
    assert guarded


async def test_limits_per_character_and_instance(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(
        client,
        ann,
        "polly",
        posts_per_day=3,
        browse_per_day=0,
        replies_per_hour=1,
        active_from=12,
        active_until=20,
    )
    fake_backend.enqueue(
        *[f"Post number {n} about the wide sea and {n * 7} gulls" for n in range(9)]
    )
    engine = make_engine(app)
    await agents.plan(engine, START)
    outcomes = await run_until(engine, clock.SimClock(START), START + timedelta(hours=20))
    assert outcomes == ["published"] * 3
    # Two mentions within the hour: one reply, one refused by the hourly limit.
    sim = clock.SimClock(START + timedelta(hours=20))
    with clock.simulated(sim):
        await post(client, bob, "@polly one")
        await post(client, bob, "@polly two")
    outcomes = await run_until(engine, sim, START + timedelta(hours=20, minutes=10))
    assert sorted(outcomes) == ["published", "skipped"]
    (limited,) = [i for i in await items(app, kind="reply") if i.outcome == "skipped"]
    assert limited.detail == "it already wrote 1 replies in the last hour"
    # The instance-wide cap (3 a day here, all used by Polly) binds every character.
    strict = make_engine(app, agents_posts_per_day=3)
    await autonomous(
        client, ann, "gully", posts_per_day=4, browse_per_day=0, active_from=20, active_until=24
    )
    await agents.plan(strict, sim.now())
    later = await run_until(strict, sim, START + timedelta(hours=24))
    assert later == ["skipped"] * 4
    refused = await items(app, kind="post", state="skipped")
    assert {i.detail for i in refused} == {"the instance's limit of 3 posts a day is reached"}
    # Tokens: a spent budget stops every model action.
    r = await client.put(
        f"{API}/characters/polly/autonomy", headers=ann, json={"tokens_per_day": 10}
    )
    assert r.status_code == 200
    with clock.simulated(sim):
        await post(client, bob, "@polly three")
    await run_until(engine, sim, sim.now() + timedelta(minutes=5))
    last = (await items(app, kind="reply"))[-1]
    assert last.state == "skipped" and "token budget of 10" in last.detail


# ---------------------------------------------------------------------------- moderation, review


async def test_moderation_holds_and_the_creator_reviews(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=2, browse_per_day=0, active_until=20)
    engine = make_engine(app, moderation_blocked_terms=["kraken"])
    fake_backend.enqueue("Beware the kraken tonight!", "Visit https://spam.example now")
    await agents.plan(engine, START)
    outcomes = await run_until(engine, clock.SimClock(START), START + timedelta(hours=20))
    assert outcomes == ["held", "held"]
    r = await client.get(f"{API}/characters/polly/review", headers=ann)
    held = r.json()["items"]
    reasons = sorted(i["detail"] for i in held)
    assert "blocked_term" in reasons[0] and "link" in reasons[1]
    assert (await client.get(f"{API}/characters/polly/review", headers=bob)).status_code == 404
    kraken = next(i for i in held if "kraken" in i["text"])
    spam = next(i for i in held if "spam" in i["text"])
    # Someone else cannot approve; the creator can, with an edit; a second approval conflicts.
    assert (
        await client.post(f"{API}/agenda/{kraken['id']}/approve", headers=bob)
    ).status_code == 404
    r = await client.post(
        f"{API}/agenda/{kraken['id']}/approve",
        headers=ann,
        json={"text": "Beware the squid tonight!"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "done" and r.json()["outcome"] == "published"
    published = (await client.get(f"{API}/posts/{r.json()['post_id']}", headers=bob)).json()
    assert published["text"] == "Beware the squid tonight!"
    again = await client.post(f"{API}/agenda/{kraken['id']}/approve", headers=ann)
    assert again.status_code == 409
    r = await client.post(f"{API}/agenda/{spam['id']}/reject", headers=ann)
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert (await client.get(f"{API}/characters/polly/review", headers=ann)).json()["items"] == []


async def test_approval_mode_holds_every_post(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    await autonomous(
        client, ann, "polly", posts_per_day=1, browse_per_day=0, active_until=20, approval_mode=True
    )
    fake_backend.enqueue("A fine morning for sailing.")
    engine = make_engine(app)
    await agents.plan(engine, START)
    assert await run_until(engine, clock.SimClock(START), START + timedelta(hours=20)) == ["held"]
    (item,) = await items(app, state="held")
    assert item.detail.startswith("approval mode")


# ---------------------------------------------------------------------------- failures, claims


async def test_backend_failures_retry_with_backoff_then_give_up_visibly(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    await autonomous(client, ann, "polly", posts_per_day=1, browse_per_day=0)
    engine = make_engine(app, agents_max_attempts=3, agents_retry_base_s=60)
    down = BackendError("unavailable", "the server is down", "fake")
    fake_backend.enqueue(down, down, down)
    await agents.plan(engine, START)
    (first,) = [i for i in await items(app, kind="post") if i.due_at.date() == START.date()]
    sim = clock.SimClock(first.due_at)
    with clock.simulated(sim):
        assert await agents.run_item(engine, first.id, sim.now()) == "retry"
        (item,) = await items(app, id=first.id)
        assert item.state == "pending" and item.ready_at == first.due_at + timedelta(seconds=60)
        assert "the server is down" in item.detail
        # Not before its backoff is over.
        assert first.id not in await agents.take_due(engine, sim.now() + timedelta(seconds=30))
        sim.advance_to(item.ready_at)
        assert await agents.run_item(engine, first.id, sim.now()) == "retry"
        sim.advance_to(sim.now() + timedelta(seconds=120))
        assert await agents.run_item(engine, first.id, sim.now()) == "failed"
    (item,) = await items(app, id=first.id)
    assert item.state == "failed" and item.attempts == 3
    assert item.detail.startswith("gave up after 3 attempts")
    r = await client.get(
        f"{API}/characters/polly/activity", headers=ann, params={"state": "failed"}
    )
    assert [i["id"] for i in r.json()["items"]] == [first.id]


async def test_a_retry_never_publishes_twice(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    await autonomous(client, ann, "polly", posts_per_day=1, browse_per_day=0)
    engine = make_engine(app, agents_lease_s=60)
    await agents.plan(engine, START)
    (item,) = [i for i in await items(app, kind="post") if i.due_at.date() == START.date()]
    now = item.due_at
    # A worker claims the item and is then presumed dead (its lease runs out) ...
    async with transaction(app.state.personae.sessions) as session:
        stale_claim = await agents._claim(session, item.id, now, 60)
    assert stale_claim is not None and stale_claim.claim == 1
    assert await agents.run_item(engine, item.id, now + timedelta(seconds=30)) == ""  # still leased
    # ... a second worker takes over and publishes ...
    fake_backend.enqueue("Fair winds, everyone.")
    later = now + timedelta(seconds=61)
    assert item.id in await agents.take_due(engine, later)
    assert await agents.run_item(engine, item.id, later) == "published"
    # ... and the first one, waking up, cannot record or publish anything.
    from personae.agents.actions import Result

    async with transaction(app.state.personae.sessions) as session:
        stale = Result(outcome="published", output_text="Fair winds, everyone.")
        recorded = await agents._record(
            session, engine.settings, item.id, 1, stale, later, item.character_id
        )
    assert recorded == ""
    assert await agents.run_item(engine, item.id, later) == ""
    async with app.state.personae.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Post).where(Post.text == "Fair winds, everyone.")
        )
    assert count == 1


async def test_operator_view_shows_what_why_and_cost(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=1, browse_per_day=0)
    fake_backend.enqueue("Hello from the crow's nest.")
    engine = make_engine(app)
    await agents.plan(engine, START)
    await run_until(engine, clock.SimClock(START), START + timedelta(hours=23, minutes=59))
    r = await client.get(f"{API}/characters/polly/activity", headers=ann, params={"state": "done"})
    (done,) = r.json()["items"]
    assert done["kind"] == "post" and done["outcome"] == "published"
    assert done["reason"].startswith("scheduled post 1 of 1")
    assert "Write one short post for your followers" in done["inputs"]["prompt"]
    assert done["tokens"]["prompt"] > 0 and done["tokens"]["completion"] > 0
    assert done["backend"] == "fake" and done["text"] == "Hello from the crow's nest."
    with clock.simulated(clock.SimClock(START + timedelta(hours=23, minutes=59))):
        r = await client.get(f"{API}/characters/polly/activity/summary", headers=ann)
    summary = r.json()
    assert summary["last_24h"]["posts"] == 1 and summary["last_24h"]["tokens"] > 0
    assert summary["last_24h"]["outcomes"] == {"post:published": 1}
    assert summary["limits"]["posts_per_day"] == 1
    for bad in ({"limit": 0}, {"limit": 1000}, {"cursor": "nope"}, {"state": "weird"}):
        r = await client.get(f"{API}/characters/polly/activity", headers=ann, params=bad)
        assert 400 <= r.status_code < 500, bad
    assert (await client.get(f"{API}/characters/polly/activity", headers=bob)).status_code == 404


async def test_characters_do_not_mention_people_who_never_engaged(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await autonomous(client, ann, "polly", posts_per_day=1, browse_per_day=0, active_until=20)
    assert (await client.post(f"{API}/actors/polly/follow", headers=bob)).status_code == 200
    fake_backend.enqueue("Ahoy @bob and @carol, fair winds!")
    engine = make_engine(app)
    await agents.plan(engine, START)
    outcomes = await run_until(engine, clock.SimClock(START), START + timedelta(hours=20))
    assert "published" in outcomes
    (item,) = await items(app, kind="post", outcome="published")
    assert item.output_text == "Ahoy @bob and carol, fair winds!"
    assert item.inputs["unmentioned"] == ["carol"]
    kinds = lambda r: [n["kind"] for n in r.json()["items"]]  # noqa: E731
    assert kinds(await client.get(f"{API}/notifications", headers=carol)) == []
    assert "mention" in kinds(await client.get(f"{API}/notifications", headers=bob))


# ---------------------------------------------------------------------------- review fixes


async def test_follow_back_of_a_pending_request_is_recorded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An apply step that finds its work done (a follow request already sent) still records."""
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0)
    r = await client.patch(f"{API}/profile", headers=bob, json={"locked": True})
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/actors/bob/follow", headers=ann, params={"as": "polly"})
    assert r.status_code == 200  # a request: bob is locked
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        assert (await client.post(f"{API}/actors/polly/follow", headers=bob)).status_code == 200
    assert await run_until(make_engine(app), sim, START + timedelta(minutes=10)) == ["followed"]
    (item,) = await items(app, kind="follow_back")
    assert item.state == "done" and item.outcome == "followed"


async def test_private_posts_never_reach_public_ones(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await autonomous(client, ann, "polly", posts_per_day=1, browse_per_day=0, active_until=20)
    for who in (bob, carol):
        assert (await client.post(f"{API}/actors/polly/follow", headers=who)).status_code == 200
    r = await client.post(f"{API}/actors/bob/follow", headers=ann, params={"as": "polly"})
    assert r.status_code == 200
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        await post(client, bob, "@polly my secret diagnosis is gout", visibility="direct")
        await post(client, bob, "only my followers know about the gout", visibility="followers")
    # Her answer to the DM names only bob, even if the model writes another handle.
    fake_backend.enqueue("@bob @carol so sorry to hear about the gout", "Fair winds today!")
    engine = make_engine(app)
    await agents.plan(engine, START)
    await run_until(engine, sim, START + timedelta(hours=20))
    (answer,) = await items(app, kind="answer_dm")
    assert answer.output_text == "@bob carol so sorry to hear about the gout"
    (scheduled,) = await items(app, kind="post", outcome="published")
    assert "gout" not in scheduled.inputs["prompt"]  # neither the DM nor followers-only
    # What bob said in private is remembered only for dealings with bob.
    from personae.memory.stream import recall

    async with app.state.personae.sessions() as session:
        polly = answer.character_id
        anyone = await recall(session, polly, "gout diagnosis", limit=10, touch=False)
        bob_id = answer.trigger_actor_id
        with_bob = await recall(session, polly, "gout", audience=bob_id, touch=False)
    assert not any("gout" in m.text for m in anyone)
    assert any("gout" in m.text for m in with_bob)


async def test_limits_hold_for_actions_running_at_once(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0, replies_per_hour=1)
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        for n in range(3):
            await post(client, bob, f"@polly question number {n}")
    fake_backend.enqueue(*[f"Answer {n} from the crow's nest" for n in range(3)])
    engine = make_engine(app)
    ids = [i.id for i in await items(app, kind="reply")]
    later = START + timedelta(minutes=10)
    with clock.simulated(clock.SimClock(later)):
        outcomes = await asyncio.gather(*(agents.run_item(engine, i, later) for i in ids))
    assert sorted(outcomes) == ["published", "skipped", "skipped"]
    skipped = [i for i in await items(app, kind="reply") if i.outcome == "skipped"]
    assert all(i.detail == "it already wrote 1 replies in the last hour" for i in skipped)


async def test_a_block_made_while_the_model_writes_still_stops_the_reply(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly", posts_per_day=0, browse_per_day=0)
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        written = await post(client, bob, "hey @polly")

    class BlockedMidway(FakeBackend):
        """Bob blocks Polly while her reply is being written."""

        async def stream(self, messages: Any, params: Any) -> Any:
            r = await client.post(f"{API}/actors/polly/block", headers=bob)
            assert r.status_code == 204
            async for event in super().stream(messages, params):
                yield event

    backends = BackendRegistry("fake")
    backends.register("fake", BlockedMidway("fake"))
    state = app.state.personae
    settings = state.settings.model_copy(update={"agents_model_importance": False})
    engine = Engine(settings, state.sessions, backends)
    assert await run_until(engine, sim, START + timedelta(minutes=10)) == ["skipped"]
    thread = (await client.get(f"{API}/posts/{written['id']}/thread", headers=ann)).json()
    assert thread["descendants"] == []
