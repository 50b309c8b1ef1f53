"""Stop and Continue with real backends: the bundled model in process, and an
OpenAI-compatible server (llama.cpp's own HTTP server, as a remote), on both databases."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from personae.accounts.models import Account
from personae.chat.events import ReplyDone, ReplyError, ReplyToken
from personae.chat.generation import plan_reply
from personae.chat.runner import STOPPED
from personae.db import transaction
from personae.llm.embedded import EmbeddedBackend
from personae.llm.registry import BackendRegistry
from personae.state import AppState
from tests.api.test_chat import make_character, open_chat

MAX_TOKENS = 300
STORY = "Tell me a very long story about the sea, the ships and the storms, in detail."


class SlotWatch:
    """Polls the embedded llama.cpp server's /slots over one kept-open connection.

    One client for all polls: opening a client per poll (TLS context, connection) costs
    more than a token on a slow machine and would blur what is measured.
    """

    def __init__(self, registry: BackendRegistry) -> None:
        self.registry = registry
        self.http = httpx.AsyncClient(timeout=5)
        self.url = ""
        self.headers: dict[str, str] = {}

    async def __aenter__(self) -> SlotWatch:
        embedded = self.registry.get("embedded")
        assert isinstance(embedded, EmbeddedBackend)
        self.url = (await embedded.base_url()).removesuffix("/v1") + "/slots"
        self.headers = {"Authorization": f"Bearer {await embedded.api_key()}"}
        await self.busy()  # opens the connection before anything is timed
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def busy(self) -> int:
        """How many slots are generating now."""
        slots = (await self.http.get(self.url, headers=self.headers)).json()
        return sum(1 for s in slots if s["is_processing"])

    async def wait_free(self, limit_s: float = 5.0) -> float:
        """Seconds until no slot is busy."""
        started = time.perf_counter()
        await asyncio.sleep(0)  # let the caller send its request first
        while await self.busy():
            assert time.perf_counter() - started < limit_s, "the slot stayed busy"
            await asyncio.sleep(0.005)
        return time.perf_counter() - started


async def local_backend(
    client: httpx.AsyncClient, registry: BackendRegistry, headers: dict[str, str]
) -> str:
    """Add the embedded model's HTTP server as an OpenAI-compatible backend ("local")."""
    embedded = registry.get("embedded")
    assert isinstance(embedded, EmbeddedBackend)
    r = await client.post(
        "/api/v1/admin/backends",
        headers=headers,
        json={
            "name": "local",
            "base_url": await embedded.base_url(),
            "model": "smollm2",
            "api_key": await embedded.api_key(),
        },
    )
    assert r.status_code == 201, r.text
    return "local"


async def start_story(state: AppState, account: Account, cid: str) -> tuple[Any, Any]:
    """Send the story request through the services and start the reply."""
    async with transaction(state.sessions) as session:
        plan = await plan_reply(
            session, account, state.backends, cid, STORY, None, 20_000, MAX_TOKENS
        )
    return state.replies.start(plan)


async def stop_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    registry: BackendRegistry,
    headers: dict[str, str],
    account: Account,
    cid: str,
) -> tuple[float, float, dict[str, Any]]:
    """Start a long reply, stop it after a few tokens.

    Returns the seconds until the backend let go (as the stop route reports it), the
    seconds until llama.cpp's slot was free (from the stop call, polling /slots), and the
    saved message.
    """
    state: AppState = app.state.personae
    for _ in range(5):  # the tiny model now and then ends a story at once: ask again
        _, queue = await start_story(state, account, cid)
        tokens = 0
        while tokens < 3:
            item = await asyncio.wait_for(queue.get(), 60)
            assert not isinstance(item, ReplyError), item
            if isinstance(item, ReplyDone):
                break
            tokens += isinstance(item, ReplyToken)
        if tokens == 3:
            break
        while state.replies.is_running(cid):
            await asyncio.sleep(0.01)
    assert state.replies.is_running(cid)
    # Watch the slots from the moment Stop is sent, beside the request (not after it).
    async with SlotWatch(registry) as slots:
        watching = asyncio.create_task(slots.wait_free())
        r = await client.post(f"/api/v1/conversations/{cid}/stop", headers=headers)
        free_s = await watching
    assert r.status_code == 200 and r.json()["stopped"] is True, r.text
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    done = [e for e in events if isinstance(e, ReplyDone)]
    assert len(done) == 1, events
    assert not state.replies.is_running(cid)
    return r.json()["released_ms"] / 1000, free_s, done[0].message


@pytest.mark.parametrize("backend", ["embedded", "openai"])
async def test_stop_ends_generation_frees_the_slot_and_saves_the_partial(
    app: FastAPI,
    client: httpx.AsyncClient,
    registry: BackendRegistry,
    alice: dict[str, str],
    db_kind: str,
    backend: str,
) -> None:
    name = "embedded" if backend == "embedded" else await local_backend(client, registry, alice)
    try:
        character = await make_character(client, alice, backend=name)
        cid = (await open_chat(client, alice, character["handle"]))["id"]
        state: AppState = app.state.personae
        async with state.sessions() as session:
            account = await session.scalar(select(Account).where(Account.username == "alice"))
        released, freed = [], []
        for _ in range(3):
            released_s, free_s, message = await stop_once(
                app, client, registry, alice, account, cid
            )
            released.append(released_s)
            freed.append(free_s)
            gen = message["generation"]
            assert gen["finish_reason"] == STOPPED
            assert 0 < gen["completion_tokens"] < 50, gen  # far below the 300 allowed
            assert message["content"].strip()
            assert released_s < 1.0, released_s
        assert min(released) < 0.2, released
        if backend == "embedded":
            # In process, closing the stream waits for llama.cpp to drop the request.
            assert max(freed) < 1.0 and min(freed) < 0.2, freed
        else:
            # A remote server frees its slot when it notices the closed connection: its own
            # business (llama.cpp's server took 0.2-1.5 s here on a busy machine).
            assert max(freed) < 3.0, freed
        shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()
        last = shown["messages"][-1]
        assert last["generation"]["finish_reason"] == "stopped"
        assert last["id"] == message["id"]
    finally:
        if name == "local":
            await client.delete("/api/v1/admin/backends/local", headers=alice)


async def test_stop_is_authorised_like_the_conversation(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    character = await make_character(client, alice, backend="fake", visibility="public")
    cid = (await open_chat(client, alice, character["id"]))["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/stop", headers=bob)
    assert r.status_code == 404
    assert (await client.post(f"/api/v1/conversations/{cid}/stop")).status_code == 401
    r = await client.post(f"/api/v1/conversations/{cid}/stop", headers=alice)
    assert r.status_code == 200 and r.json()["stopped"] is False  # nothing was running
    mid = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"][0]
    r = await client.post(f"/api/v1/conversations/{cid}/messages/{mid['id']}/continue", headers=bob)
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages/{mid['id']}/continue",
        headers=alice,
        json={"stream": False},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_reply"  # a greeting


@pytest.mark.parametrize("backend", ["embedded", "openai"])
async def test_continue_appends_to_the_same_message(
    client: httpx.AsyncClient,
    registry: BackendRegistry,
    alice: dict[str, str],
    db_kind: str,
    backend: str,
) -> None:
    name = "embedded" if backend == "embedded" else await local_backend(client, registry, alice)
    try:
        character = await make_character(
            client, alice, backend=name, sampling={"max_tokens": 12, "temperature": 0.2}
        )
        cid = (await open_chat(client, alice, character["handle"]))["id"]
        r = await client.post(
            f"/api/v1/conversations/{cid}/messages",
            headers=alice,
            json={"content": STORY, "stream": False},
        )
        assert r.status_code == 200, r.text
        cut = r.json()["message"]
        assert cut["generation"]["finish_reason"] == "length"
        r = await client.post(
            f"/api/v1/conversations/{cid}/messages/{cut['id']}/continue",
            headers=alice,
            json={"stream": False},
        )
        assert r.status_code == 200, r.text
        more = r.json()["message"]
        assert more["id"] == cut["id"]  # the same message, not a new one
        assert more["content"].startswith(cut["content"])
        assert len(more["content"]) > len(cut["content"])
        assert more["generation"]["completion_tokens"] > cut["generation"]["completion_tokens"]
        shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()
        assert [m["role"] for m in shown["messages"]] == ["assistant", "user", "assistant"]
        assert shown["messages"][-1]["content"] == more["content"]
    finally:
        if name == "local":
            await client.delete("/api/v1/admin/backends/local", headers=alice)
