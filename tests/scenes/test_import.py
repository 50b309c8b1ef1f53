"""Importing a SillyTavern group file as a scene (LOGIC parses, CORE stores)."""

from __future__ import annotations

import json

import httpx

from personae.llm.registry import BackendRegistry
from tests.conftest import sign_up
from tests.scenes.helpers import character, install_fake, shown

GROUP = {
    "id": "1700000000000",
    "name": "Night at the inn",
    "members": ["Seraphina.png", "Tobias.png", "Nobody Here.png"],
    "disabled_members": ["Tobias.png"],
    "activation_strategy": 3,
    "generation_mode": 0,
    "allow_self_responses": True,
    "auto_mode_delay": 7,
    "chat_metadata": {"scenario": "Snow outside."},
    "fav": False,
    "chat_id": "Night at the inn - 2024-01-01",
    "chats": ["Night at the inn - 2024-01-01"],
}


async def test_a_sillytavern_group_becomes_a_scene(
    client: httpx.AsyncClient, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    await character(client, alice, "Seraphina", extensions={"talkativeness": "0.8"})
    await character(client, alice, "Tobias")
    r = await client.post(
        "/api/v1/scenes/import",
        headers=alice,
        files={"file": ("group.json", json.dumps(GROUP).encode(), "application/json")},
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["missing"] == ["Nobody Here"]
    made = out["scene"]
    assert made["title"] == "Night at the inn" and made["mode"] == "pooled"
    assert made["allow_self"] is True and made["scenario"] == "Snow outside."
    assert made["auto"]["delay_s"] == 7
    cast = {m["name"]: m for m in made["members"] if m["kind"] == "character"}
    assert cast["Seraphina"]["talkativeness"] == 0.8 and not cast["Seraphina"]["muted"]
    assert cast["Tobias"]["muted"] is True
    assert (await shown(client, made["id"], alice))["my_role"] == "owner"

    # The same file as the JSON body works too.
    r = await client.post(
        "/api/v1/scenes/import", headers=alice, content=json.dumps(GROUP).encode()
    )
    assert r.status_code == 201


async def test_bad_group_files_are_refused_and_store_nothing(
    client: httpx.AsyncClient, registry: BackendRegistry
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    await character(client, alice, "Tobias")
    for body, word in (
        (b"not json", "JSON"),
        (b'{"members": []}', "members"),
        (json.dumps({**GROUP, "activation_strategy": 9}).encode(), "activation_strategy"),
        (b'{"members": ["a\\u0000.png"]}', "NUL"),
        (json.dumps({**GROUP, "members": ["Nobody.png"]}).encode(), "none of the group"),
        (b"[" * 5000 + b"]" * 5000, "deeper"),
    ):
        r = await client.post("/api/v1/scenes/import", headers=alice, content=body)
        assert r.status_code == 422 and word in r.json()["error"]["message"], r.text
    r = await client.post("/api/v1/scenes/import", headers=alice, content=b" " * 1_000_001)
    assert r.status_code == 413
    assert (await client.get("/api/v1/scenes", headers=alice)).json()["scenes"] == []
