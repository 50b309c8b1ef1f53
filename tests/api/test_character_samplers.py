"""Per-character samplers: stored in `sampling`, checked against their bounds, changed only by
the owner, and carried into every generation (a chat reply and an autonomous post)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from personae.characters.models import Character
from personae.characters.prompting import generation_params
from personae.llm.base import Samplers
from personae.llm.fake import FakeBackend
from tests.api.sse import stream_events

API = "/api/v1"
SAMPLERS = {
    "min_p": 0.05,
    "top_k": 30,
    "repeat_penalty": 1.15,
    "frequency_penalty": 0.2,
    "presence_penalty": -0.5,
    "dry_multiplier": 1.0,
    "dry_base": 2.0,
    "dry_allowed_length": 3,
    "seed": 1234,
}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/characters", headers=headers, json={"name": "Nova", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_samplers_are_stored_and_only_the_owner_changes_them(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str], db_kind: str
) -> None:
    c = await create(client, alice, visibility="public", sampling={"temperature": 0.7})
    url = f"{API}/characters/{c['handle']}"
    r = await client.patch(url, headers=alice, json={"sampling": {"temperature": 0.7, **SAMPLERS}})
    assert r.status_code == 200, r.text
    assert r.json()["sampling"] == {"temperature": 0.7, **SAMPLERS}
    got = (await client.get(url, headers=alice)).json()
    assert got["sampling"] == {"temperature": 0.7, **SAMPLERS}
    # Someone else: a public character is visible, but not theirs to change (404, as if absent).
    r = await client.patch(url, headers=bob, json={"sampling": {"min_p": 0.9}})
    assert r.status_code == 404
    r = await client.patch(url, headers={}, json={"sampling": {"min_p": 0.9}})
    assert r.status_code == 401
    assert (await client.get(url, headers=alice)).json()["sampling"]["min_p"] == 0.05
    # Null clears them all: the backend's defaults apply again.
    r = await client.patch(url, headers=alice, json={"sampling": None})
    assert r.status_code == 200 and r.json()["sampling"] == {}


@pytest.mark.parametrize(
    "sampling",
    [
        {"min_p": 1.5},
        {"min_p": -0.1},
        {"top_k": -1},
        {"top_k": 1001},
        {"top_k": 2.5},
        {"repeat_penalty": 0.9},
        {"repeat_penalty": 2.5},
        {"frequency_penalty": 3},
        {"presence_penalty": -2.5},
        {"dry_multiplier": 6},
        {"dry_base": 0.5},
        {"dry_allowed_length": 0},
        {"seed": -1},
        {"seed": 2**31},
        {"min_p": "lots"},
        {"mirostat": 2},
    ],
)
async def test_bad_samplers_are_refused_and_nothing_changes(
    client: httpx.AsyncClient, alice: dict[str, str], sampling: dict[str, Any], db_kind: str
) -> None:
    c = await create(client, alice, sampling={"min_p": 0.2})
    r = await client.patch(
        f"{API}/characters/{c['handle']}",
        headers=alice,
        json={"description": "changed", "sampling": sampling},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    got = (await client.get(f"{API}/characters/{c['handle']}", headers=alice)).json()
    assert got["sampling"] == {"min_p": 0.2} and got["description"] == ""


def test_generation_params_carry_the_characters_samplers_and_seed() -> None:
    character = Character(sampling={"temperature": 0.6, **SAMPLERS, "old_key": 1})
    params = generation_params(character, 100)
    assert params.temperature == 0.6 and params.seed == 1234
    assert params.samplers == Samplers(
        min_p=0.05,
        top_k=30,
        repeat_penalty=1.15,
        frequency_penalty=0.2,
        presence_penalty=-0.5,
        dry_multiplier=1.0,
        dry_base=2.0,
        dry_allowed_length=3,
    )
    assert generation_params(Character(sampling={}), 100).samplers == Samplers()


async def test_a_chat_reply_is_generated_with_the_characters_samplers(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend, db_kind: str
) -> None:
    c = await create(
        client, alice, backend="fake", first_mes="Hi!", sampling={"min_p": 0.3, "seed": 7}
    )
    r = await client.post(f"{API}/conversations", headers=alice, json={"character": c["handle"]})
    assert r.status_code == 201, r.text
    fake_backend.enqueue("Hello there.")
    events = await stream_events(
        client, f"{API}/conversations/{r.json()['id']}/messages", alice, {"content": "Hey"}
    )
    assert events[-1][0] == "done"
    params = fake_backend.calls[-1].params
    assert params.samplers == Samplers(min_p=0.3) and params.seed == 7
