"""What a scene starts with and carries: the opening greeting, the scene lorebook in every
speaker's prompt, avatars only where one exists, and whole-sentence refusals."""

from __future__ import annotations

import io
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image

from personae.llm.registry import BackendRegistry
from tests.conftest import sign_up
from tests.scenes.helpers import character, install_fake, join, say, scene, shown


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def _by_name(got: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in got["members"] if m["name"] == name)


async def test_a_new_scene_opens_with_one_greeting(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry)
    alice = await sign_up(client, "alice")
    quiet = await character(client, alice, "Quiet")  # no greeting: the next one greets
    mira = await character(
        client,
        alice,
        "Mira",
        first_mes="Welcome, {{user}}. I am {{char}}.",
        alternate_greetings=["Oh, {{user}}, you're soaked."],
        group_only_greetings=["Evening, all of you."],
    )
    tobias = await character(client, alice, "Tobias", first_mes="Tobias waves.")
    made = await scene(
        client, alice, [quiet["handle"], mira["handle"], tobias["handle"]], mode="list"
    )
    me = made["members"][0]["name"]
    # One opening message, Mira's first_mes rendered for the owner's persona; Tobias's
    # greeting is not dumped after it.
    assert [(m["speaker"]["name"], m["content"]) for m in made["messages"]] == [
        ("Mira", f"Welcome, {me}. I am Mira.")
    ]
    greeting = made["messages"][0]
    assert greeting["is_greeting"] and greeting["reason"] == "greeting"
    # Its alternatives (and the group-only ones) are its swipes, as in a one-to-one chat.
    assert greeting["swipe"] == {
        "index": 0,
        "count": 3,
        "sibling_ids": greeting["swipe"]["sibling_ids"],
    }
    sid = made["id"]
    r = await client.post(
        f"/api/v1/scenes/{sid}/messages/{greeting['id']}/regenerate", headers=alice
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "is_greeting"
    second = greeting["swipe"]["sibling_ids"][1]
    r = await client.post(f"/api/v1/scenes/{sid}/messages/{second}/select", headers=alice)
    assert (
        r.status_code == 200 and r.json()["messages"][0]["content"] == f"Oh, {me}, you're soaked."
    )

    # The greeting is part of what every speaker sees; replies follow it.
    await say(client, app, sid, alice, "Hello there.")
    got = await shown(client, sid, alice)
    assert [m["speaker"]["name"] for m in got["messages"]] == [
        "Mira",
        me,
        "Quiet",
        "Mira",
        "Tobias",
    ]
    assert f"Oh, {me}, you're soaked." in fake.prompts_of("Tobias")[0]


async def test_adding_a_character_to_an_empty_scene_posts_its_greeting_once(
    client: httpx.AsyncClient, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    mira = await character(client, alice, "Mira", first_mes="Mira lights a lamp for {{user}}.")
    tobias = await character(client, alice, "Tobias", first_mes="Tobias waves.")
    made = await scene(client, alice, [])
    assert made["messages"] == []
    sid = made["id"]
    for handle in (mira["handle"], tobias["handle"]):
        r = await client.post(
            f"/api/v1/scenes/{sid}/members", headers=alice, json={"character": handle}
        )
        assert r.status_code == 201, r.text
    got = await shown(client, sid, alice)
    me = got["members"][0]["name"]
    # Only the first: the scene was no longer empty when Tobias came.
    assert [(m["speaker"]["name"], m["content"]) for m in got["messages"]] == [
        ("Mira", f"Mira lights a lamp for {me}.")
    ]


async def test_the_scene_lorebook_reaches_every_speaker_and_only_the_owner_sets_it(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry)
    await sign_up(client, "admin")  # the first account is an admin, who may use any book
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    book = {
        "name": "Harbour lore",
        "entries": [
            {"keys": [], "content": "LORE-CONSTANT the harbour floods at night.", "constant": True},
            {"keys": ["lighthouse"], "content": "LORE-KEYED the lighthouse has no keeper."},
        ],
    }
    r = await client.post("/api/v1/lorebooks", headers=alice, json=book)
    assert r.status_code == 201, r.text
    book_id = r.json()["id"]
    r = await client.post("/api/v1/lorebooks", headers=bob, json={"name": "Bob's"})
    bobs_book = r.json()["id"]

    mira = await character(client, alice, "Mira")
    tobias = await character(client, alice, "Tobias")
    made = await scene(client, alice, [mira["handle"], tobias["handle"]], mode="list")
    sid = made["id"]
    assert made["lorebook_id"] is None
    await join(client, sid, alice, bob, "bob")

    # Only the owner, and only with a book they may use (the refusal names it).
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=bob, json={"lorebook_id": book_id})
    assert r.status_code == 403
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"lorebook_id": bobs_book})
    assert r.status_code == 404 and bobs_book in r.json()["error"]["message"]
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"lorebook_id": book_id})
    assert r.status_code == 200 and r.json()["lorebook_id"] == book_id
    # Other settings leave it alone.
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"title": "Harbour"})
    assert r.json()["lorebook_id"] == book_id

    await say(client, app, sid, alice, "What about the lighthouse?")
    for name in ("Mira", "Tobias"):
        prompt = fake.prompts_of(name)[-1]
        assert "LORE-CONSTANT" in prompt and "LORE-KEYED" in prompt, name

    r = await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"lorebook_id": None})
    assert r.status_code == 200 and r.json()["lorebook_id"] is None
    await say(client, app, sid, alice, "And the lighthouse now?")
    for name in ("Mira", "Tobias"):
        assert "LORE-" not in fake.prompts_of(name)[-1]


async def test_members_without_an_avatar_have_none_and_refusals_are_whole_sentences(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    tobias = await character(client, alice, "Tobias")
    r = await client.put(
        f"/api/v1/characters/{mira['handle']}/avatar",
        headers=alice,
        files={"file": ("m.png", _png(), "image/png")},
    )
    assert r.status_code == 200, r.text
    made = await scene(client, alice, [mira["handle"], tobias["handle"]])
    sid = made["id"]
    await join(client, sid, alice, bob, "bob")
    got = await shown(client, sid, bob)
    # Mira is alice's private character: bob sees her picture through the scene only.
    url = _by_name(got, "Mira")["avatar_url"]
    assert url == f"/api/v1/scenes/{sid}/members/{_by_name(got, 'Mira')['id']}/avatar"
    assert (await client.get(url, headers=bob)).status_code == 200
    assert (await client.get(url + "?size=96", headers=bob)).status_code == 200
    carol = await sign_up(client, "carol")
    assert (await client.get(url, headers=carol)).status_code == 404
    assert _by_name(got, "Tobias")["avatar_url"] is None
    assert all(m["avatar_url"] is None for m in got["members"] if m["kind"] == "person")

    # Each refusal is a sentence of its own (translated whole, not around a verb).
    mine = (await say(client, app, sid, alice, "Mine."))["message"]["id"]
    r = await client.patch(
        f"/api/v1/scenes/{sid}/messages/{mine}", headers=bob, json={"content": "Not yours."}
    )
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "you can edit your own messages only"
    r = await client.delete(f"/api/v1/scenes/{sid}/messages/{mine}", headers=bob)
    assert r.json()["error"]["message"] == "you can delete your own messages only"
