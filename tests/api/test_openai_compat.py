"""The OpenAI-compatible endpoint, driven by the official `openai` SDK against a live server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import migrated_engine, wipe


@pytest.fixture
async def live(tmp_root: Path, live_server_factory: Any) -> Any:
    url, engine = await migrated_engine("sqlite", tmp_root)
    await wipe(engine)
    return live_server_factory(url)


async def _setup(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base) as c:
        await c.post("/api/v1/accounts", json={"username": "olga", "password": "longenough"})
        token = (
            await c.post("/api/v1/auth/token", json={"username": "olga", "password": "longenough"})
        ).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        r = await c.post(
            "/api/v1/characters",
            headers=h,
            json={
                "name": "Echo",
                "description": "A friendly parrot.",
                "handle": "echo",
                "sampling": {"max_tokens": 60},
            },
        )
        assert r.status_code == 201
        await c.post("/api/v1/accounts", json={"username": "pete", "password": "longenough"})
        token2 = (
            await c.post("/api/v1/auth/token", json={"username": "pete", "password": "longenough"})
        ).json()["token"]
    return token, token2


async def test_openai_sdk_streams_a_chat_with_a_character(live: Any) -> None:
    token, other = await _setup(live.url)
    client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=token)
    models = [m.id async for m in client.models.list()]
    assert "character:echo" in models
    stream = await client.chat.completions.create(
        model="character:echo",
        messages=[{"role": "user", "content": "Hello! Who are you?"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=40,
    )
    pieces, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert len([p for p in pieces if p]) >= 2
    assert "".join(pieces).strip()
    assert finish in ("stop", "length")
    assert usage is not None and usage.prompt_tokens > 10 and usage.completion_tokens > 0
    reply = await client.chat.completions.create(
        model="character:echo",
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Hi"},
        ],
        max_tokens=10,
    )
    assert reply.choices[0].message.content
    assert reply.model == "character:echo"
    # Private character: invisible to another account; unknown models are 404.
    outsider = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=other)
    assert "character:echo" not in [m.id async for m in outsider.models.list()]
    with pytest.raises(openai.NotFoundError):
        await outsider.chat.completions.create(
            model="character:echo", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key="wrong").models.list()
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(
            model="character:echo", messages=[{"role": "assistant", "content": "hi"}]
        )
    await client.close()
    await outsider.close()


async def test_reply_is_saved_when_the_client_goes_away(live: Any) -> None:
    token, _ = await _setup(live.url)
    h = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        cid = (await c.post("/api/v1/conversations", headers=h, json={"character": "echo"})).json()[
            "id"
        ]
        async with c.stream(
            "POST",
            f"/api/v1/conversations/{cid}/messages",
            headers=h,
            json={"content": "Tell me a long story about the sea."},
        ) as r:
            async for line in r.aiter_lines():
                if line.startswith("event: token"):
                    break  # hang up after the first token
        for _ in range(600):
            shown = (await c.get(f"/api/v1/conversations/{cid}", headers=h)).json()["messages"]
            if shown and shown[-1]["role"] == "assistant":
                break
            await asyncio.sleep(0.1)
        assert [m["role"] for m in shown] == ["user", "assistant"]
        assert shown[-1]["content"] and shown[-1]["generation"]["completion_tokens"] > 1


async def test_response_format_constrains_the_reply_to_a_json_schema(live: Any) -> None:
    token, _ = await _setup(live.url)
    client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=token)
    schema = {
        "type": "object",
        "properties": {
            "mood": {"type": "string", "enum": ["happy", "sad", "curious"]},
            "word": {"type": "string", "maxLength": 12},
        },
        "required": ["mood", "word"],
        "additionalProperties": False,
    }
    done = await client.chat.completions.create(
        model="character:echo",
        messages=[{"role": "user", "content": "How do you feel today?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "feeling", "schema": schema},
        },
        max_tokens=60,
    )
    content = done.choices[0].message.content or ""
    assert done.choices[0].finish_reason == "stop", content
    reply = json.loads(content)
    assert reply["mood"] in ("happy", "sad", "curious") and isinstance(reply["word"], str)
    assert set(reply) == {"mood", "word"}
    done = await client.chat.completions.create(
        model="character:echo",
        messages=[{"role": "user", "content": "Describe yourself."}],
        response_format={"type": "json_object"},
        max_tokens=60,
    )
    # Any object: a small model may fill one string until the token limit cuts it.
    content = done.choices[0].message.content or ""
    assert content.lstrip().startswith("{")
    if done.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(
            model="character:echo",
            messages=[{"role": "user", "content": "Hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x"}},  # type: ignore[typeddict-item]
        )


async def test_max_tokens_is_capped_by_the_instance(live: Any) -> None:
    token, _ = await _setup(live.url)  # olga signed up first: the admin
    async with httpx.AsyncClient(base_url=live.url) as c:
        r = await c.patch(
            "/api/v1/admin/limits",
            headers={"Authorization": f"Bearer {token}"},
            json={"chat_max_tokens": 5},
        )
        assert r.status_code == 200, r.text
    client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=token)
    done = await client.chat.completions.create(
        model="character:echo",
        messages=[{"role": "user", "content": "Tell me a very long story about the sea."}],
        max_tokens=300,
    )
    assert done.usage is not None and 1 <= done.usage.completion_tokens <= 5
    assert done.choices[0].finish_reason == "length"
