"""Instance limits admins override at runtime, and the guards enforcing them."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from personae import clock
from personae.agents import engine as agents
from personae.agents.guards import max_ai_turns
from personae.config import Settings
from personae.instance.limits import bounds, with_overrides
from personae.llm.fake import FakeBackend
from tests.agents.test_engine import START, autonomous, items, make_engine, run_until
from tests.conftest import sign_up

API = "/api/v1/admin/limits"


def test_bounds_are_the_ones_config_declares() -> None:
    assert bounds("agents_max_ai_turns") == (0, 50)
    assert bounds("agents_posts_per_day") == (0, 10_000_000)
    assert bounds("agents_tokens_per_day") == (0, 10_000_000_000)


async def test_limits_are_listed_overridden_validated_and_cleared(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str], db_kind: str
) -> None:
    shown = (await client.get(API, headers=alice)).json()
    assert shown["agents_posts_per_day"] == {
        "value": 2000,
        "configured": 2000,
        "override": None,
        "min": 0,
        "max": 10_000_000,
    }
    assert set(shown) == {
        "agents_posts_per_day",
        "agents_replies_per_hour",
        "agents_tokens_per_day",
        "agents_max_ai_turns",
        "chat_max_tokens",
    }
    r = await client.patch(API, headers=alice, json={"agents_max_ai_turns": 5})
    assert r.status_code == 200 and r.json()["agents_max_ai_turns"]["value"] == 5
    for bad in (
        {"agents_max_ai_turns": 51},
        {"agents_posts_per_day": -1},
        {"agents_posts_per_day": "many"},
        {"agents_posts_per_day": 1.5},
        {"agents_posts_per_day": True},
        {"agents_tick_s": 1},
        # One bad value refuses the whole change.
        {"agents_replies_per_hour": 3, "agents_max_ai_turns": 99},
    ):
        r = await client.patch(API, headers=alice, json=bad)
        assert r.status_code == 422, (bad, r.text)
    after = (await client.get(API, headers=alice)).json()
    assert after["agents_max_ai_turns"]["value"] == 5
    assert after["agents_replies_per_hour"]["override"] is None
    r = await client.patch(API, headers=alice, json={"agents_max_ai_turns": None})
    assert r.json()["agents_max_ai_turns"] == {
        "value": 2,
        "configured": 2,
        "override": None,
        "min": 0,
        "max": 50,
    }


async def test_an_instance_posts_per_day_of_zero_stops_every_post(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    fake_backend: FakeBackend,
    db_kind: str,
) -> None:
    fake_backend._queue.clear()
    ann = await sign_up(client, "ann")
    await autonomous(client, ann, "polly", posts_per_day=2, browse_per_day=0)
    r = await client.patch(API, headers=alice, json={"agents_posts_per_day": 0})
    assert r.status_code == 200
    fake_backend.enqueue(*[f"Post {n} about the sea and {n * 3} gulls" for n in range(4)])
    engine = make_engine(app)  # the configured settings: 2000 posts a day
    await agents.plan(engine, START)
    outcomes = await run_until(engine, clock.SimClock(START), START + timedelta(hours=24))
    assert outcomes == ["skipped", "skipped"]
    refused = await items(app, kind="post", state="skipped")
    assert {i.detail for i in refused} == {"the instance's limit of 0 posts a day is reached"}
    # Cleared, the configured limit holds again, at once.
    r = await client.patch(API, headers=alice, json={"agents_posts_per_day": None})
    assert r.status_code == 200
    await agents.plan(engine, START + timedelta(days=1))
    sim = clock.SimClock(START + timedelta(days=1))
    outcomes = await run_until(engine, sim, START + timedelta(days=2))
    assert outcomes == ["published", "published"]
    fake_backend._queue.clear()


async def test_the_thread_loop_cap_follows_the_override(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    settings: Settings = app.state.personae.settings
    async with app.state.personae.sessions() as session:
        assert await max_ai_turns(session, settings) == 2
        assert await with_overrides(session, settings) is settings
    await client.patch(API, headers=alice, json={"agents_max_ai_turns": 0})
    async with app.state.personae.sessions() as session:
        assert await max_ai_turns(session, settings) == 0
        assert (await with_overrides(session, settings)).agents_posts_per_day == 2000
    assert settings.agents_max_ai_turns == 2  # the configured settings are left alone
