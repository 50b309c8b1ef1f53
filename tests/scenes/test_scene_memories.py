"""Memories in scenes: a private chat is recalled only where its person alone reads, and
what is said in a scene is remembered with the scene's audience."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from personae.llm.registry import BackendRegistry
from personae.memory.models import Memory
from tests.conftest import sign_up
from tests.scenes.helpers import character, install_fake, join, say, scene


async def test_a_private_chat_is_never_recalled_where_others_read(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    chat = await client.post(
        "/api/v1/conversations", headers=alice, json={"character": mira["handle"]}
    )
    r = await client.post(
        f"/api/v1/conversations/{chat.json()['id']}/messages",
        headers=alice,
        json={"content": "My locker code is ZEBRA42, keep it quiet.", "stream": False},
    )
    assert r.status_code == 200, r.text

    # Alone with Mira in a private scene: her private chat may come back.
    alone = (await scene(client, alice, [mira["handle"]], title="Alone"))["id"]
    await say(client, app, alone, alice, "Mira, what is my locker code ZEBRA42 about?")
    assert "ZEBRA42, keep it quiet" in fake.prompts_of("Mira")[-1].split("remembers")[-1]

    # With bob there too: never.
    together = (await scene(client, alice, [mira["handle"]], title="Together"))["id"]
    await join(client, together, alice, bob, "bob")
    await say(client, app, together, bob, "Mira, do you know any locker code like ZEBRA42?")
    prompt = fake.prompts_of("Mira")[-1]
    assert "keep it quiet" not in prompt

    # What Mira heard in the shared scene is remembered for that scene's audience only.
    async with app.state.personae.sessions() as session:
        heard = list(await session.scalars(select(Memory).where(Memory.source_id == together)))
    assert heard and {m.audience for m in heard} == {together}
    assert any("bob said" in m.text for m in heard)
