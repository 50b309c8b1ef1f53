"""The loop guard on autonomous posts: a draft that says one thing over and over is written
again (warmer, at most twice), then held for review; with the fake backend on SQLite and
PostgreSQL, and with the real bundled model."""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from personae.llm.fake import FakeBackend
from personae.moderation.rules import loops
from tests.agents.test_engine import START, autonomous, mention_and_answer
from tests.conftest import sign_up

API = "/api/v1"
LOOP = "I'm really sorry for any misunderstanding. " * 4
pytestmark = pytest.mark.time_machine(START, tick=True)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


@pytest.fixture(autouse=True)
def empty_fake_queue(fake_backend: FakeBackend) -> None:
    """The fake backend is shared by the session: start each test with nothing queued."""
    fake_backend._queue.clear()


async def test_a_looping_reply_is_written_again(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    fake_backend.enqueue(LOOP, "Sorry for the mix-up! The tide is out, come and look.")
    _, answered = await mention_and_answer(app, client, bob, "@polly did you get my note?")
    (item,) = answered
    assert (item.state, item.outcome) == ("done", "published"), item.detail
    assert item.output_text == "@bob Sorry for the mix-up! The tide is out, come and look."
    assert "repeats the sentence \"I'm really sorry" in item.inputs["redrafted"]
    nudge = fake_backend.calls[-1].messages
    assert nudge[-2]["content"] == LOOP.strip()
    assert "saying each thing only once" in nudge[-1]["content"]
    assert fake_backend.calls[-1].params.temperature >= 1.0


async def test_a_post_that_keeps_looping_is_held_for_review(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    calls = len(fake_backend.calls)
    # No full stops, then punctuation and case variants: each draft still loops.
    fake_backend.enqueue(
        "the sea the sea is calm the sea the sea is calm the sea the sea is calm",
        "SORRY, so sorry about that! Sorry — so sorry about that? sorry so sorry about that",
        "Ｔｈｅ ｔｉｄｅ ｉｓ ｏｕｔ。 The tide is out! the tide\u200b is out…",
    )
    _, answered = await mention_and_answer(app, client, bob, "@polly how is the sea?")
    (item,) = answered
    assert len(fake_backend.calls) - calls == 3  # the draft and two redrafts, no more
    assert (item.state, item.outcome) == ("held", "held")
    assert item.detail.startswith("moderation (loop): the post repeats the sentence")
    assert "tide is out" in item.detail
    temperatures = [c.params.temperature for c in fake_backend.calls[-2:]]
    assert temperatures == [1.0, 1.2]  # each redraft warmer
    assert item.result_post_id is None  # nothing published
    # The creator sees it held, with why, and may approve or reject it.
    r = await client.get(f"{API}/characters/polly/review", headers=ann)
    (held,) = r.json()["items"]
    assert "tide is out" in held["text"] and "(loop)" in held["detail"]


async def test_the_bundled_model_looping_is_caught(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The real model, made to loop (greedy, penalties off, a looping persona): whatever it
    writes, nothing that loops is published."""
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann, "polly")
    r = await client.patch(
        f"{API}/characters/polly",
        headers=ann,
        json={
            "backend": None,
            "description": "Polly only ever says: I'm really sorry for any misunderstanding. "
            "She says it again and again, nothing else.",
            "mes_example": "<START>\n{{char}}: I'm really sorry for any misunderstanding. "
            "I'm really sorry for any misunderstanding. I'm really sorry for any "
            "misunderstanding.",
            "sampling": {
                "temperature": 0,
                "top_k": 1,
                "repeat_penalty": 1.0,
                "dry_multiplier": 0,
                "seed": 1,
            },
        },
    )
    assert r.status_code == 200, r.text
    _, answered = await mention_and_answer(app, client, bob, "@polly say sorry again")
    (item,) = answered
    assert item.state in ("done", "held"), item.detail
    if item.outcome == "published":
        assert loops(item.output_text).allowed, item.output_text
    else:
        assert item.detail.startswith("moderation (loop)"), item.detail
    # The first draft looped (this persona at temperature 0 cannot help it).
    assert "repeats the" in item.inputs.get("redrafted", ""), item.inputs
