"""The characters' memory stream on SQLite and PostgreSQL: scoring, recall, reflection,
memories of chats, and people's view of what characters remember about them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae import clock
from personae.errors import Invalid
from personae.llm.base import BackendError, Usage
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.memory.importance import heuristic_importance, model_importance
from personae.memory.models import Memory
from personae.memory.reflection import reflect
from personae.memory.stream import memories_since_reflection, recall, remember

API = "/api/v1"
MEMORIES = f"{API}/me/memories"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Headers = dict[str, str]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults; these tests need several."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


def sessions(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker."""
    factory: async_sessionmaker[AsyncSession] = app.state.personae.sessions
    return factory


async def account_id(client: httpx.AsyncClient, headers: Headers) -> str:
    """The id of the signed-in account (also its person actor's id)."""
    r = await client.get(f"{API}/me", headers=headers)
    return str(r.json()["id"])


async def make_character(
    client: httpx.AsyncClient, headers: Headers, handle: str = "mira", **fields: Any
) -> dict[str, Any]:
    """A public character on the fake backend."""
    body = {"name": "Mira", "handle": handle, "backend": "fake", "visibility": "public"}
    r = await client.post(f"{API}/characters", headers=headers, json={**body, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def chat(client: httpx.AsyncClient, headers: Headers, character: str, *texts: str) -> str:
    """Open a conversation and send each text (the fake model echoes); returns its id."""
    r = await client.post(f"{API}/conversations", headers=headers, json={"character": character})
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    for text in texts:
        r = await client.post(
            f"{API}/conversations/{cid}/messages",
            headers=headers,
            json={"content": text, "stream": False},
        )
        assert r.status_code == 200, r.text
    return cid


async def all_memories(app: FastAPI, character_id: str) -> list[Memory]:
    """Every memory of a character, oldest first."""
    async with sessions(app)() as session:
        rows = await session.scalars(
            select(Memory).where(Memory.character_id == character_id).order_by(Memory.id)
        )
        return list(rows)


# ---------------------------------------------------------------------------- importance


def test_heuristic_ranks_disclosures_above_small_talk() -> None:
    small = heuristic_importance("hi, how are you?")
    plain = heuristic_importance("The weather was grey over the harbour.")
    disclosure = heuristic_importance(
        "My sister Anna is getting married on Friday and I am terrified of the speech."
    )
    assert small < plain < disclosure
    assert small == 1 and disclosure <= 10
    assert heuristic_importance("") == 1 and heuristic_importance("!!!") == 1
    assert 1 <= heuristic_importance("love died married afraid " * 100) <= 10


async def test_model_importance_with_the_bundled_model(registry: BackendRegistry) -> None:
    score, usage = await model_importance(
        registry.get("embedded"), "My mother died last night and I cannot stop crying."
    )
    assert isinstance(score, int) and 1 <= score <= 10
    assert usage.prompt_tokens > 10 and usage.completion_tokens > 0


async def test_model_importance_with_the_fake_backend(fake_backend: FakeBackend) -> None:
    fake_backend.enqueue('{"importance": 7}')
    score, usage = await model_importance(fake_backend, "I lost my job today.")
    assert score == 7 and usage.completion_tokens > 0
    params = fake_backend.calls[-1].params
    assert params.json_schema is not None and params.temperature == 0
    assert "I lost my job today." in fake_backend.calls[-1].messages[-1]["content"]
    fake_backend.enqueue("Importance: 4 out of 10")  # prose around it still parses
    assert (await model_importance(fake_backend, "x"))[0] == 4
    for garbage in ("I would rather not say.", '{"importance": 42}', '{"importance": 0}'):
        fake_backend.enqueue(garbage)
        assert (await model_importance(fake_backend, "x"))[0] is None
    fake_backend.enqueue(BackendError("unavailable", "down"))
    assert await model_importance(fake_backend, "x") == (None, Usage())


# ---------------------------------------------------------------------------- writing


async def test_remember_scores_validates_and_flushes(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, fake_backend: FakeBackend, db_kind: str
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    async with sessions(app)() as session:
        with clock.fixed(T0):
            fake_backend.enqueue('{"importance": 9}')
            by_model, usage = await remember(
                session, cid, "observation", "  A storm sank the ferry.  ", backend=fake_backend
            )
            fake_backend.enqueue("no idea")
            fallback, _ = await remember(
                session, cid, "observation", "I am scared of storms.", backend=fake_backend
            )
            given, _ = await remember(session, cid, "did", "x" * 1500, importance=99)
            plain, none = await remember(session, cid, "said", "hello there")
        assert (by_model.importance, by_model.scored_by) == (9, "model")
        assert by_model.text == "A storm sank the ferry." and usage.completion_tokens > 0
        assert fallback.scored_by == "heuristic"
        assert fallback.importance == heuristic_importance("I am scared of storms.")
        assert given.importance == 10 and len(given.text) == 1000
        assert plain.at == T0 and plain.last_accessed_at == T0 and none == Usage()
        for kind, text in (("dream", "x"), ("said", "   "), ("said", "\x00")):
            with pytest.raises(Invalid):
                await remember(session, cid, kind, text)
        with pytest.raises(Invalid):
            await remember(session, cid, "said", "x", source="web")
        await session.commit()
    assert len(await all_memories(app, cid)) == 4


# ---------------------------------------------------------------------------- recall


async def test_recall_ranks_relevance_importance_recency_and_marks_access(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    factory = sessions(app)
    async with factory() as session:
        with clock.fixed(T0 - timedelta(days=2)):
            cat, _ = await remember(
                session, cid, "told", "Rosa told me her cat Miso is sick.", importance=8
            )
        with clock.fixed(T0 - timedelta(hours=1)):
            for i in range(8):
                await remember(session, cid, "observation", f"Saw boat number {i}.", importance=2)
        await session.commit()
    async with factory() as session:
        with clock.fixed(T0):
            found = await recall(session, cid, "How is the cat doing?", limit=3)
        await session.commit()
    assert found[0].id == cat.id and len(found) == 3
    async with factory() as session:
        row = await session.get(Memory, cat.id)
        assert row is not None and row.last_accessed_at == T0
        boats = await session.scalars(select(Memory).where(Memory.id != cat.id))
        untouched = [m for m in boats if m.last_accessed_at != T0]
        assert len(untouched) == 6  # only the three recalled were marked


async def test_full_text_relevance_counts_partial_overlap(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    factory = sessions(app)
    async with factory() as session:
        with clock.fixed(T0):
            baking, _ = await remember(session, cid, "did", "I baked rye bread.", importance=5)
            sailing, _ = await remember(
                session, cid, "did", "I went sailing at dawn.", importance=5
            )
            await session.commit()
    async with factory() as session:
        with clock.fixed(T0):
            # One word of the query ("sail", a prefix) is enough; quotes and operators are inert.
            top = await recall(session, cid, 'sail OR "the" NEAR( * harbour', limit=1)
            assert [m.id for m in top] == [sailing.id]
            top = await recall(session, cid, "any good bread recipes?", limit=1)
            assert [m.id for m in top] == [baking.id]
            # No searchable words at all: recency and importance still give an answer.
            assert len(await recall(session, cid, "?! the a", limit=5)) == 2


async def test_recall_about_an_actor_and_private_chats(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    alice_id, bob_id = await account_id(client, alice), await account_id(client, bob)
    factory = sessions(app)
    async with factory() as session:
        with clock.fixed(T0):
            about_bob, _ = await remember(
                session, cid, "observation", "Bob posted a photo.", about_actor_id=bob_id
            )
            secret, _ = await remember(
                session,
                cid,
                "told",
                "In a chat, Alice told me: my secret plan is huge and important",
                about_actor_id=alice_id,
                source="chat",
                source_id="c" * 32,
                importance=10,
            )
            for i in range(3):
                await remember(session, cid, "observation", f"Something else {i}.", importance=6)
            await session.commit()
    async with factory() as session:
        with clock.fixed(T0):
            top = await recall(session, cid, "photo", about_actor_id=bob_id, limit=1)
            assert [m.id for m in top] == [about_bob.id]
            # Alice's chat is never recalled for Bob or for a post, however important.
            for about in (bob_id, None):
                found = await recall(session, cid, "secret plan", about_actor_id=about, limit=10)
                assert secret.id not in {m.id for m in found}
            # ... nor for a public answer to Alice herself; only for what goes to her alone.
            found = await recall(session, cid, "secret plan", about_actor_id=alice_id, limit=10)
            assert secret.id not in {m.id for m in found}
            found = await recall(
                session, cid, "secret plan", audience=alice_id, about_actor_id=alice_id, limit=1
            )
            assert [m.id for m in found] == [secret.id] and secret.audience == alice_id
            only = await recall(
                session,
                cid,
                "secret",
                audience=alice_id,
                about_actor_id=alice_id,
                only_about=True,
                exclude_source_id="c" * 32,
            )
            assert only == []


# ---------------------------------------------------------------------------- reflection


async def test_reflect_writes_insights_and_nothing_on_failure(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, fake_backend: FakeBackend, db_kind: str
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    factory = sessions(app)
    async with factory() as session:
        with clock.fixed(T0):
            for text in ("Rosa brought me tea.", "Rosa asked about my ship.", "I slept badly."):
                await remember(session, cid, "observation", text)
            assert await memories_since_reflection(session, cid) == 3
            for failure in (BackendError("timeout", "slow"), "I'd rather not.", '{"insights": 3}'):
                fake_backend.enqueue(failure)
                made, _ = await reflect(session, cid, fake_backend, persona="You are Mira.")
                assert made == []
            assert await memories_since_reflection(session, cid) == 3
            fake_backend.enqueue('{"insights": ["Rosa cares about me.", "I need more sleep.", 5]}')
            made, usage = await reflect(session, cid, fake_backend, persona="You are Mira.")
            await session.commit()
    call = fake_backend.calls[-1]
    assert call.messages[0]["content"] == "You are Mira."
    assert "Rosa brought me tea." in call.messages[-1]["content"]
    assert call.params.json_schema is not None and usage.completion_tokens > 0
    assert [m.text for m in made] == ["Rosa cares about me.", "I need more sleep."]
    for memory in made:
        assert (memory.kind, memory.source) == ("reflection", "self")
        assert memory.importance == min(10, heuristic_importance(memory.text) + 2)
    async with factory() as session:
        with clock.fixed(T0):
            assert await memories_since_reflection(session, cid) == 0
            await remember(session, cid, "observation", "Rosa left port.")
            assert await memories_since_reflection(session, cid) == 1
            reflections = await session.scalar(
                select(func.count()).select_from(Memory).where(Memory.kind == "reflection")
            )
            assert reflections == 2
            # With nothing new since the last reflection, no model call is made.
            calls = len(fake_backend.calls)
            await session.rollback()
            assert await reflect(session, cid, fake_backend, persona="") == ([], Usage())
            assert len(fake_backend.calls) == calls


# ---------------------------------------------------------------------------- chat


async def test_chat_remembers_the_person_and_uses_outside_memories(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    fake_backend: FakeBackend,
    db_kind: str,
) -> None:
    character = await make_character(client, alice)
    cid = character["id"]
    alice_id = await account_id(client, alice)
    first = await chat(client, alice, "mira", "I adopted a puppy named Biscuit!")
    memories = await all_memories(app, cid)
    assert [(m.kind, m.source, m.source_id, m.about_actor_id) for m in memories] == [
        ("told", "chat", first, alice_id),
        ("said", "chat", first, alice_id),
    ]
    assert memories[0].text == "In a chat, alice told me: I adopted a puppy named Biscuit!"
    assert memories[1].text.startswith("In a chat with alice, I said: You said: I adopted")
    assert all(m.scored_by == "heuristic" for m in memories)
    # The same conversation adds no memory note: its own history is in the prompt.
    await client.post(
        f"{API}/conversations/{first}/messages",
        headers=alice,
        json={"content": "How is Biscuit?", "stream": False},
    )
    assert not any("remembers" in m["content"] for m in fake_backend.calls[-1].messages)
    # Bob talks to the character too; Alice's chat never reaches his prompt.
    await chat(client, bob, "mira", "Do you know Biscuit?")
    assert not any("Biscuit!" in m["content"] for m in fake_backend.calls[-1].messages[:-1])
    # A new conversation of Alice's recalls the earlier one, just before her newest turn.
    await chat(client, alice, "mira", "Do you remember my puppy Biscuit?")
    messages = fake_backend.calls[-1].messages
    note = messages[-2]
    assert messages[-1] == {"role": "user", "content": "Do you remember my puppy Biscuit?"}
    assert note["role"] == "system" and "Mira remembers about alice" in note["content"]
    assert "I adopted a puppy named Biscuit!" in note["content"]


async def test_chat_prompt_unchanged_without_outside_memories(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, fake_backend: FakeBackend, db_kind: str
) -> None:
    await make_character(client, alice, first_mes="Hello {{user}}.")
    await chat(client, alice, "mira", "hi")
    assert [m["role"] for m in fake_backend.calls[-1].messages] == ["system", "assistant", "user"]


# ---------------------------------------------------------------------------- people's view


async def test_people_see_and_delete_only_memories_about_themselves(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    character = await make_character(client, alice)
    await chat(client, alice, "mira", "My favourite colour is green.")
    await chat(client, bob, "mira", "I live in Lisbon.", "I have two cats.")
    cid = character["id"]
    r = await client.get(MEMORIES, headers=alice)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["kind"] for i in items] == ["said", "told"]  # newest first
    assert items[1]["text"] == "In a chat, alice told me: My favourite colour is green."
    assert items[0]["character"] == {"handle": "mira", "display_name": "Mira"}
    assert set(items[0]) == {"id", "character", "kind", "text", "importance", "source", "at"}
    assert r.json()["next_cursor"] is None
    # Bob pages through his own four memories.
    r = await client.get(MEMORIES, headers=bob, params={"character": "@Mira", "limit": 3})
    page = r.json()
    assert len(page["items"]) == 3 and page["next_cursor"] == page["items"][-1]["id"]
    r = await client.get(MEMORIES, headers=bob, params={"cursor": page["next_cursor"]})
    assert [i["text"] for i in r.json()["items"]] == ["In a chat, bob told me: I live in Lisbon."]
    bobs = [i["id"] for i in page["items"]]
    # Nobody deletes someone else's memory: 404, and it stays.
    r = await client.delete(f"{MEMORIES}/{bobs[0]}", headers=alice)
    assert r.status_code == 404
    assert len(await all_memories(app, cid)) == 6
    r = await client.delete(f"{MEMORIES}/{items[0]['id']}", headers=alice)
    assert r.status_code == 204
    r = await client.delete(f"{MEMORIES}/{items[0]['id']}", headers=alice)
    assert r.status_code == 404
    assert [i["id"] for i in (await client.get(MEMORIES, headers=alice)).json()["items"]] == [
        items[1]["id"]
    ]
    r = await client.delete(MEMORIES, headers=bob, params={"character": "mira"})
    assert r.status_code == 200 and r.json() == {"deleted": 4}
    assert (await client.get(MEMORIES, headers=bob)).json()["items"] == []
    assert len(await all_memories(app, cid)) == 1  # Alice's told memory is still there


async def test_people_api_refuses_bad_input_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    character = await make_character(client, alice)
    await make_character(client, alice, handle="hidden", visibility="private")
    await chat(client, bob, "mira", "I live in Lisbon.")
    bad: list[tuple[str, dict[str, Any], int]] = [
        ("get", {"cursor": "zz"}, 422),
        ("get", {"limit": 0}, 422),
        ("get", {"limit": 101}, 422),
        ("get", {"limit": "many"}, 422),
        ("get", {"character": "nobody"}, 404),
        ("get", {"character": "hidden"}, 404),  # Alice's private character: not Bob's to know
        ("delete", {}, 422),
        ("delete", {"character": "nobody"}, 404),
        ("delete", {"character": "x" * 40}, 422),
    ]
    for method, params, status in bad:
        r = await client.request(method.upper(), MEMORIES, headers=bob, params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"]["code"], r.text
    r = await client.get(MEMORIES, params={"character": "mira"})
    assert r.status_code == 401
    r = await client.delete(f"{MEMORIES}/not-an-id", headers=bob)
    assert r.status_code == 404
    assert len(await all_memories(app, character["id"])) == 2
    # The owner may name a private character of their own, which holds nothing about her.
    r = await client.get(MEMORIES, headers=alice, params={"character": "hidden"})
    assert r.status_code == 200 and r.json()["items"] == []
