"""A person's block of a remote account covers the person's characters too, both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from personae.app import create_app
from personae.errors import NotFound
from personae.llm.registry import BackendRegistry
from personae.social import graph
from personae.social.access import blocks_and_mutes
from personae.social.models import Actor
from tests.conftest import make_settings, migrated_engine, sign_up, wipe
from tests.federation.test_outbound import API, BASE, as_remote, remote, sessions


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    """The app on a clean database, with a public https base URL."""
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    settings = make_settings(tmp_root, url, base_url=BASE + "/")
    application = create_app(settings, backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_blocking_a_remote_account_shields_the_blockers_characters(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    made = await client.post(
        f"{API}/characters",
        headers=alice,
        json={"name": "Kit", "handle": "kit", "visibility": "public"},
    )
    assert made.status_code == 201, made.text
    stranger = await remote(app, "troll", "evil.example")
    blocked = await client.post(f"{API}/actors/{stranger.handle}/block", headers=alice)
    assert blocked.status_code == 204, blocked.text
    async with sessions(app)() as session:
        kit = await session.scalar(select(Actor).where(Actor.handle == "kit"))
        assert kit is not None
        kit_blocks, _ = await blocks_and_mutes(session, kit)
        assert stranger.id in kit_blocks
        viewer = await as_remote(session, stranger)
        stranger_blocks, _ = await blocks_and_mutes(session, viewer.require_actor())
        assert kit.id in stranger_blocks
        # So the remote account cannot follow (or even find) the character any more.
        shielded = type(viewer)(
            actor=viewer.actor, identities=viewer.identities, blocked=stranger_blocks
        )
        with pytest.raises(NotFound):
            await graph.follow(session, shielded, "kit", uri="https://evil.example/follows/1")


async def test_a_block_of_a_local_character_still_stays_with_that_character(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    for who, handle in ((alice, "kit"), (bob, "rex")):
        made = await client.post(
            f"{API}/characters",
            headers=who,
            json={"name": handle, "handle": handle, "visibility": "public"},
        )
        assert made.status_code == 201, made.text
    assert (await client.post(f"{API}/actors/rex/block", headers=alice)).status_code == 204
    async with sessions(app)() as session:
        kit = await session.scalar(select(Actor).where(Actor.handle == "kit"))
        rex = await session.scalar(select(Actor).where(Actor.handle == "rex"))
        assert kit is not None and rex is not None
        kit_blocks, _ = await blocks_and_mutes(session, kit)
        assert rex.id not in kit_blocks
