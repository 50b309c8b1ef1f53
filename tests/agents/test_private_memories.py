"""Private stays private: what a person says in a private chat (or a direct message) is
recalled only for a direct answer to that person, never for anything public; reflections
never mix it in; existing memories get their audience from the migration. On SQLite and
PostgreSQL, with the fake backend (to read each prompt) and with the bundled model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, text

from personae import clock
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.models import AgendaItem
from personae.llm.base import Backend, ChatMessage, GenerationParams, StreamEvent
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.memory.models import Memory
from personae.memory.reflection import reflect
from personae.memory.stream import PUBLIC, recall
from personae.migrate import alembic_config, upgrade
from tests.conftest import drop_scratch_database, scratch_database, sign_up

API = "/api/v1"
Headers = dict[str, str]
SECRET = "My secret diagnosis is gout, tell nobody."


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


@pytest.fixture(autouse=True)
def empty_fake_queue(fake_backend: FakeBackend) -> None:
    """The fake backend is shared by the session: start with nothing queued."""
    fake_backend._queue.clear()


async def autonomous(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> str:
    """A public, autonomous character @polly that only answers; its id."""
    body = {"name": "Polly", "handle": "polly", "visibility": "public", **fields}
    r = await client.post(f"{API}/characters", headers=headers, json=body)
    assert r.status_code == 201, r.text
    character_id = str(r.json()["id"])
    autonomy = {
        "enabled": True,
        "active_from": 0,
        "active_until": 24,
        "posts_per_day": 0,
        "browse_per_day": 0,
    }
    r = await client.put(f"{API}/characters/polly/autonomy", headers=headers, json=autonomy)
    assert r.status_code == 200, r.text
    return character_id


async def chat(client: httpx.AsyncClient, headers: Headers, said: str) -> None:
    """Say something to @polly in a private chat."""
    r = await client.post(f"{API}/conversations", headers=headers, json={"character": "polly"})
    assert r.status_code == 201, r.text
    body = {"content": said, "stream": False}
    r = await client.post(
        f"{API}/conversations/{r.json()['id']}/messages", headers=headers, json=body
    )
    assert r.status_code == 200, r.text


async def answered(
    app: FastAPI,
    engine: Engine,
    client: httpx.AsyncClient,
    headers: Headers,
    said: str,
    **extra: Any,
) -> AgendaItem:
    """Post (mentioning @polly), let the engine run the minutes after; the answer's item."""
    sim = clock.SimClock(clock.now())
    with clock.simulated(sim):
        r = await client.post(f"{API}/posts", headers=headers, json={"text": said, **extra})
        assert r.status_code == 201, r.text
        post_id = r.json()["id"]
        until = sim.now() + timedelta(minutes=10)
        while (ready := await agents.next_ready_at(engine)) is not None and ready <= until:
            sim.advance_to(ready)
            for item_id in await agents.take_due(engine, sim.now()):
                await agents.run_item(engine, item_id, sim.now())
    async with app.state.personae.sessions() as session:
        item = await session.scalar(select(AgendaItem).where(AgendaItem.trigger_post_id == post_id))
    assert item is not None and item.state in ("done", "held", "skipped"), item
    return item


def fake_engine(app: FastAPI, backends: BackendRegistry | None = None) -> Engine:
    """An engine on the test app (no model-scored importance, so prompts are only replies)."""
    state = app.state.personae
    settings = state.settings.model_copy(update={"agents_model_importance": False})
    return Engine(settings, state.sessions, backends or state.backends)


def said_in(messages: Sequence[ChatMessage]) -> str:
    """Everything a prompt says, as one text."""
    return "\n".join(m["content"] for m in messages)


def prompt_with(fake: FakeBackend, needle: str) -> str:
    """The newest prompt the fake backend got that has `needle` in its last message."""
    for call in reversed(fake.calls):
        if needle in call.messages[-1]["content"]:
            return said_in(call.messages)
    raise AssertionError(f"no prompt with {needle!r}")


async def test_public_replies_never_recall_a_private_chat(
    app: FastAPI, client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    polly = await autonomous(client, ann, backend="fake")
    bob_id = (await client.get(f"{API}/me", headers=bob)).json()["id"]
    await chat(client, bob, SECRET)
    engine = fake_engine(app)

    # A public post of bob's, on the very subject: her public answer knows nothing of it.
    fake_backend.enqueue("Arr, I hope you are well, matey!")
    public = await answered(app, engine, client, bob, "@polly how is my diagnosis looking?")
    assert public.outcome == "published", public.detail
    prompt = prompt_with(fake_backend, "how is my diagnosis looking")
    assert "tell nobody" not in prompt
    # Followers-only is not private to bob either (her followers read the answer).
    fake_backend.enqueue("Fair winds to you.")
    inner = await answered(
        app,
        engine,
        client,
        bob,
        "@polly my followers ask about my diagnosis",
        visibility="followers",
    )
    assert inner.outcome == "published", inner.detail
    assert "tell nobody" not in prompt_with(fake_backend, "my followers ask")

    # A direct message from bob: the answer goes to him alone, so his chat may come back.
    fake_backend.enqueue("Your secret is safe with me.")
    direct = await answered(
        app, engine, client, bob, "@polly do you remember my diagnosis?", visibility="direct"
    )
    assert (direct.kind, direct.outcome) == ("answer_dm", "published"), direct.detail
    assert "tell nobody" in prompt_with(fake_backend, "do you remember my diagnosis")
    # The operator's view of that prompt shows a placeholder for what the chat held.
    assert "tell nobody" not in direct.inputs["prompt"]

    async with app.state.personae.sessions() as session:
        memories = list(await session.scalars(select(Memory).where(Memory.character_id == polly)))
        audience = {m.id: m.audience for m in memories}
        for item in (public, inner):
            assert {audience[m] for m in item.memories_used} <= {PUBLIC}
        chat_memories = [m for m in memories if m.source == "chat"]
        assert chat_memories and {m.audience for m in chat_memories} == {bob_id}
        # What the followers-only and direct posts said stays with bob too.
        told = {m.text: m.audience for m in memories if m.kind == "told"}
        assert told["@bob said to me in the feed: @polly how is my diagnosis looking?"] == PUBLIC
        assert told["@bob sent me a direct message: @polly do you remember my diagnosis?"] == bob_id
        assert (
            told["@bob said to me in the feed: @polly my followers ask about my diagnosis"]
            == bob_id
        )

        # Reflections draw on public memories only (a reflection may surface anywhere).
        fake_backend.enqueue('{"insights": ["Bob worries about his health."]}')
        made, _ = await reflect(session, polly, fake_backend, persona="You are Polly.")
        prompt = prompt_with(fake_backend, "insights")
        assert "how is my diagnosis looking" in prompt
        assert "tell nobody" not in prompt and "my followers ask" not in prompt
        assert [m.audience for m in made] == [PUBLIC]
        await session.rollback()

        # Recall itself: public by default, the person's own only for them.
        found = await recall(session, polly, "diagnosis gout", limit=50, touch=False)
        assert found and all(m.audience == PUBLIC for m in found)
        found = await recall(
            session, polly, "diagnosis gout", audience=bob_id, limit=50, touch=False
        )
        assert any("tell nobody" in m.text for m in found)
        carol = await sign_up(client, "carol")
        carol_id = (await client.get(f"{API}/me", headers=carol)).json()["id"]
        found = await recall(
            session, polly, "diagnosis gout", audience=carol_id, limit=50, touch=False
        )
        assert not any(m.audience == bob_id for m in found)


class Recording(Backend):
    """A real backend whose every prompt is kept for the test to read."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.model, self.capabilities = inner.name, inner.model, inner.capabilities
        self.prompts: list[list[ChatMessage]] = []

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        self.prompts.append(list(messages))
        async for event in self.inner.stream(messages, params):
            yield event


async def test_private_chat_stays_out_of_public_replies_with_the_bundled_model(
    app: FastAPI, client: httpx.AsyncClient, registry: BackendRegistry, db_kind: str
) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    await autonomous(client, ann)  # the default backend: the bundled model
    await chat(client, bob, "I keep a pet axolotl named Zorblax. Tell nobody.")
    recording = Recording(registry.get("embedded"))
    backends = BackendRegistry("embedded")
    backends.register("embedded", recording)
    engine = fake_engine(app, backends)

    public = await answered(app, engine, client, bob, "@polly what do you know about Zorblax?")
    reply_prompts = [p for p in recording.prompts if "know about Zorblax" in said_in(p)]
    assert reply_prompts, [said_in(p)[:200] for p in recording.prompts]
    assert not any("axolotl" in said_in(p) for p in recording.prompts)
    assert "axolotl" not in public.output_text.lower()

    recording.prompts.clear()
    direct = await answered(
        app, engine, client, bob, "@polly do you remember Zorblax?", visibility="direct"
    )
    assert direct.kind == "answer_dm"
    assert any("axolotl" in said_in(p) for p in recording.prompts)


# ---------------------------------------------------------------------------- migration


async def test_the_migration_keeps_chat_memories_private(tmp_root: Path, db_kind: str) -> None:
    engine, url = await scratch_database(db_kind, tmp_root, "audience")
    try:
        await upgrade(engine, "0008")
        rows = [
            # id, source, about: chat and private ones stay with the person they are about
            ("m1", "chat", "p" * 32),
            ("m2", "private", "q" * 32),
            ("m3", "feed", "p" * 32),
            ("m4", "self", None),
            ("m5", "chat", None),  # no person: kept, never recalled
        ]
        async with engine.connect() as conn:
            # Memories alone, without the characters and actors they point at: foreign
            # keys off (SQLite: outside a transaction; PostgreSQL: for this one).
            if db_kind == "sqlite":
                await conn.execute(text("PRAGMA foreign_keys = OFF"))
            else:
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for n, (mid, source, about) in enumerate(rows):
                await conn.execute(
                    text(
                        "INSERT INTO memories (id, created_at, character_id, kind, text, "
                        "about_actor_id, source, source_id, importance, scored_by, at, "
                        "last_accessed_at, search_key) VALUES (:id, :at, :c, 'told', :t, "
                        ":about, :source, NULL, 3, 'heuristic', :at, :at, :key)"
                    ),
                    {
                        "id": mid.ljust(32, "0"),
                        "at": clock.now(),
                        "c": "c" * 32,
                        "t": f"memory {mid}",
                        "about": about,
                        "source": source,
                        "key": n + 1,
                    },
                )
            await conn.commit()
            if db_kind == "sqlite":
                await conn.execute(text("PRAGMA foreign_keys = ON"))
                await conn.commit()
        await upgrade(engine, "0009")
        async with engine.connect() as conn:
            found = dict(
                (await conn.execute(text("SELECT substr(id, 1, 2), audience FROM memories"))).all()
            )
        assert found == {
            "m1": "p" * 32,
            "m2": "q" * 32,
            "m3": PUBLIC,
            "m4": PUBLIC,
            "m5": "c" * 32,
        }

        def down(connection: Any) -> None:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            left = await conn.execute(text("SELECT count(*) FROM memories"))
            assert left.scalar() == len(rows)
    finally:
        await engine.dispose()
        await drop_scratch_database(db_kind, "audience")
