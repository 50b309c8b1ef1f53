"""A chat stops when its character goes private or a block comes between the person and
the character's operator: through /api/v1, the OpenAI-compatible /v1 and the web pages,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from personae.llm.fake import FakeBackend
from tests.conftest import sign_up

API = "/api/v1"
Headers = dict[str, str]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def make_character(client: httpx.AsyncClient, headers: Headers, handle: str) -> str:
    """A public character on the fake backend, with a greeting; its id."""
    body = {
        "name": handle.title(),
        "handle": handle,
        "backend": "fake",
        "visibility": "public",
        "first_mes": "Ahoy!",
    }
    r = await client.post(f"{API}/characters", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def open_chat(client: httpx.AsyncClient, headers: Headers, handle: str) -> str:
    """Open a conversation and say one thing in it; its id."""
    r = await client.post(f"{API}/conversations", headers=headers, json={"character": handle})
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    assert await send(client, headers, cid) == 200
    return cid


async def send(client: httpx.AsyncClient, headers: Headers, cid: str) -> int:
    """Send a message (no streaming); the status code."""
    body = {"content": "are you there?", "stream": False}
    r = await client.post(f"{API}/conversations/{cid}/messages", headers=headers, json=body)
    return r.status_code


async def messages(client: httpx.AsyncClient, headers: Headers, cid: str) -> list[dict[str, Any]]:
    """The messages on a conversation's shown branch."""
    r = await client.get(f"{API}/conversations/{cid}", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


async def completion(client: httpx.AsyncClient, headers: Headers, handle: str) -> int:
    """One OpenAI-compatible completion with a character; the status code."""
    body = {"model": f"character:{handle}", "messages": [{"role": "user", "content": "hi"}]}
    return (await client.post("/v1/chat/completions", headers=headers, json=body)).status_code


async def models(client: httpx.AsyncClient, headers: Headers) -> set[str]:
    """The models (characters) the OpenAI-compatible endpoint offers."""
    r = await client.get("/v1/models", headers=headers)
    assert r.status_code == 200, r.text
    return {m["id"] for m in r.json()["data"]}


async def listed(client: httpx.AsyncClient, headers: Headers) -> set[str]:
    """Ids of the conversations in the caller's list."""
    r = await client.get(f"{API}/conversations", headers=headers)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()}


async def turn_ids(client: httpx.AsyncClient, headers: Headers, cid: str) -> tuple[str, str]:
    """The ids of the first user message and the reply under it (while the chat works)."""
    shown = await messages(client, headers, cid)
    user = next(i for i, m in enumerate(shown) if m["role"] == "user")
    return shown[user]["id"], shown[user + 1]["id"]


async def usable(
    client: httpx.AsyncClient, headers: Headers, cid: str, handle: str, ids: tuple[str, str]
) -> bool:
    """Whether every way into the chat works (True) or every one is a 404 (False).

    `ids` are a user message of the chat and the reply under it, taken while it worked.
    """
    user_turn, leaf = ids
    history = await client.get(f"{API}/conversations/{cid}", headers=headers)
    codes = {
        "get": history.status_code,
        "send": await send(client, headers, cid),
        "regenerate": (
            await client.post(
                f"{API}/conversations/{cid}/messages/{leaf}/regenerate",
                headers=headers,
                json={"stream": False},
            )
        ).status_code,
        "edit": (
            await client.patch(
                f"{API}/conversations/{cid}/messages/{user_turn}",
                headers=headers,
                json={"content": "are you still there?"},
            )
        ).status_code,
        "select": (
            await client.post(f"{API}/conversations/{cid}/messages/{leaf}/select", headers=headers)
        ).status_code,
        "branch": (
            await client.post(
                f"{API}/conversations/{cid}/branch", headers=headers, json={"message_id": leaf}
            )
        ).status_code,
        "page": (await client.get(f"/chat/{cid}", headers=headers)).status_code,
        "openai": await completion(client, headers, handle),
        "listed": 200 if cid in await listed(client, headers) else 404,
        "model": 200 if f"character:{handle}" in await models(client, headers) else 404,
    }
    ok = {k: c for k, c in codes.items() if c in (200, 201)}
    gone = {k: c for k, c in codes.items() if c == 404}
    assert len(ok) + len(gone) == len(codes), codes
    assert not ok or not gone, codes  # all or nothing
    return bool(ok)


async def test_a_character_gone_private_stops_others_chats_not_the_owners(
    client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    await make_character(client, alice, "mira")
    theirs = await open_chat(client, bob, "mira")
    hers = await open_chat(client, alice, "mira")
    bobs, alices = await turn_ids(client, bob, theirs), await turn_ids(client, alice, hers)
    assert await usable(client, bob, theirs, "mira", bobs)

    r = await client.patch(f"{API}/characters/mira", headers=alice, json={"visibility": "private"})
    assert r.status_code == 200, r.text
    before = len(await messages(client, alice, hers))
    assert not await usable(client, bob, theirs, "mira", bobs)
    r = await client.post(f"{API}/conversations", headers=bob, json={"character": "mira"})
    assert r.status_code == 404
    assert await usable(client, alice, hers, "mira", alices)  # the owner keeps hers
    assert len(await messages(client, alice, hers)) > before

    # Public again: the chat is back as it was (nothing was deleted) ...
    r = await client.patch(f"{API}/characters/mira", headers=alice, json={"visibility": "public"})
    assert r.status_code == 200
    assert await usable(client, bob, theirs, "mira", bobs)
    # ... and a chat someone can no longer use can still be deleted: their words are theirs.
    r = await client.patch(f"{API}/characters/mira", headers=alice, json={"visibility": "private"})
    assert (await client.delete(f"{API}/conversations/{theirs}", headers=bob)).status_code == 204
    assert (await client.delete(f"{API}/conversations/{theirs}", headers=bob)).status_code == 404


@pytest.mark.parametrize(
    "who_blocks",
    ["person blocks operator", "operator blocks person", "person blocks character"],
)
async def test_a_block_between_person_and_operator_stops_the_chat(
    client: httpx.AsyncClient, fake_backend: FakeBackend, db_kind: str, who_blocks: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    await make_character(client, alice, "mira")
    await make_character(client, alice, "nova")
    chat = await open_chat(client, bob, "mira")
    other = await open_chat(client, bob, "nova")
    chat_ids, other_ids = await turn_ids(client, bob, chat), await turn_ids(client, bob, other)
    blocker, path = {
        "person blocks operator": (bob, "/actors/alice/block"),
        "operator blocks person": (alice, "/actors/bob/block"),
        "person blocks character": (bob, "/actors/mira/block"),
    }[who_blocks]
    assert (await client.post(f"{API}{path}", headers=blocker)).status_code == 204

    assert not await usable(client, bob, chat, "mira", chat_ids)
    r = await client.post(f"{API}/conversations", headers=bob, json={"character": "mira"})
    assert r.status_code == 404
    # A block of one character leaves its siblings alone; one between people covers all.
    sibling_usable = await usable(client, bob, other, "nova", other_ids)
    assert sibling_usable is (who_blocks == "person blocks character")
    r = await client.get("/chats", headers=bob)
    assert r.status_code == 200 and f"/chat/{chat}" not in r.text
    assert '<option value="mira">' not in r.text  # not offered for a new chat either
    # The operator's own chat with her character is untouched by any of it.
    own = await open_chat(client, alice, "mira")
    assert await usable(client, alice, own, "mira", await turn_ids(client, alice, own))

    assert (await client.delete(f"{API}{path}", headers=blocker)).status_code == 204
    assert await usable(client, bob, chat, "mira", chat_ids)
