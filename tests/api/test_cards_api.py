"""Card import and export through the API: real cards round-trip, bad ones store nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from personae.cards import DEFAULT_LIMITS, parse_card
from personae.characters.models import Character, CharacterAsset, Lorebook, LorebookEntry
from tests.cards.test_cards_bad import CASES
from tests.conftest import CARDS_DIR

FIXTURE_CARDS = sorted(p for p in CARDS_DIR.iterdir() if p.suffix == ".png")
API_BAD_CASES = [name for name, case in CASES.items() if case.limits == DEFAULT_LIMITS]


async def import_file(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, data: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/characters/import", headers=headers, files={"file": (name, data)}, params=params
    )


async def stored_rows(app: Any) -> int:
    async with app.state.personae.sessions() as session:
        total = 0
        for model in (Character, CharacterAsset, Lorebook, LorebookEntry):
            total += int(await session.scalar(select(func.count()).select_from(model)) or 0)
        return total


def test_the_fixture_cards_are_there() -> None:
    assert len(FIXTURE_CARDS) >= 3


@pytest.mark.parametrize("path", FIXTURE_CARDS, ids=lambda p: p.name)
async def test_fixture_cards_import_export_reimport_equal(
    client: httpx.AsyncClient, alice: dict[str, str], path: Path, db_kind: str
) -> None:
    original = parse_card(path.read_bytes(), path.name).card
    r = await import_file(client, alice, path.name, path.read_bytes())
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    assert r.json()["name"] == original["data"]["name"]
    stored = (await client.get(f"/api/v1/characters/{handle}/card", headers=alice)).json()
    assert stored == original
    for fmt in ("png", "json", "charx"):
        exported = await client.get(
            f"/api/v1/characters/{handle}/export", params={"format": fmt}, headers=alice
        )
        assert exported.status_code == 200
        assert exported.headers["content-disposition"].endswith(f'{handle}.{fmt}"')
        assert parse_card(exported.content, f"x.{fmt}").card == original
        again = await import_file(client, alice, f"again.{fmt}", exported.content)
        assert again.status_code == 201, again.text
        assert again.json()["handle"] != handle
        card = (
            await client.get(f"/api/v1/characters/{again.json()['handle']}/card", headers=alice)
        ).json()
        assert card == original
    avatar = await client.get(f"/api/v1/characters/{handle}/avatar", headers=alice)
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/png"


async def test_seraphina_brings_her_lorebook_and_it_fires_in_chat(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: Any
) -> None:
    data = (CARDS_DIR / "default_Seraphina.png").read_bytes()
    r = await import_file(client, alice, "s.png", data)
    character = r.json()
    assert len(character["lorebook_ids"]) == 1
    book = (
        await client.get(f"/api/v1/lorebooks/{character['lorebook_ids'][0]}", headers=alice)
    ).json()
    assert book["entries"] and all(e["keys"] for e in book["entries"])
    key = book["entries"][0]["keys"][0]
    await client.patch(
        f"/api/v1/characters/{character['handle']}", headers=alice, json={"backend": "fake"}
    )
    cid = (
        await client.post(
            "/api/v1/conversations", headers=alice, json={"character": character["handle"]}
        )
    ).json()["id"]
    fake_backend.enqueue("ok")
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=alice,
        json={"content": f"Tell me about {key}.", "stream": False},
    )
    assert r.status_code == 200
    sent = fake_backend.calls[-1].messages
    expected = (
        book["entries"][0]["content"]
        .replace("{{user}}", "alice")
        .replace("{{char}}", "Seraphina")
        .strip()
    )
    notes = [m["content"] for m in sent[1:] if m["role"] == "system"]
    assert any(expected in note for note in notes), notes


async def test_card_export_follows_visibility(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    path = FIXTURE_CARDS[0]
    handle = (await import_file(client, alice, path.name, path.read_bytes())).json()["handle"]
    for url in (
        f"/api/v1/characters/{handle}/export",
        f"/api/v1/characters/{handle}/card",
        f"/api/v1/characters/{handle}/avatar",
    ):
        assert (await client.get(url, headers=bob)).status_code == 404
        assert (await client.get(url)).status_code == 404
    await client.patch(
        f"/api/v1/characters/{handle}", headers=alice, json={"visibility": "unlisted"}
    )
    assert (await client.get(f"/api/v1/characters/{handle}/export", headers=bob)).status_code == 200


async def test_world_info_imports_as_a_lorebook(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    data = (CARDS_DIR / "Eldoria.json").read_bytes()
    r = await client.post(
        "/api/v1/lorebooks/import", headers=alice, files={"file": ("Eldoria.json", data)}
    )
    assert r.status_code == 201, r.text
    book = r.json()
    assert len(book["entries"]) > 3
    assert (await client.get(f"/api/v1/lorebooks/{book['id']}", headers=bob)).status_code == 404
    character = (
        await client.post("/api/v1/characters", headers=alice, json={"name": "Guide"})
    ).json()
    r = await client.put(
        f"/api/v1/characters/{character['handle']}/lorebooks/{book['id']}", headers=alice
    )
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/characters/{character['handle']}", headers=alice)).json()[
        "lorebook_ids"
    ] == [book["id"]]
    # Bob cannot attach Alice's book to his character, nor his book to hers.
    bobs = (await client.post("/api/v1/characters", headers=bob, json={"name": "B"})).json()
    assert (
        await client.put(f"/api/v1/characters/{bobs['handle']}/lorebooks/{book['id']}", headers=bob)
    ).status_code == 404
    r = await client.post(
        "/api/v1/lorebooks/import", headers=alice, files={"file": ("bad.json", b"[1,2]")}
    )
    assert r.status_code == 422


@pytest.mark.parametrize("name", API_BAD_CASES)
async def test_bad_cards_get_4xx_and_store_nothing(
    app: Any, client: httpx.AsyncClient, alice: dict[str, str], name: str
) -> None:
    case = CASES[name]
    r = await import_file(client, alice, case.filename or "card.bin", case.make())
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == case.code and error["message"]
    assert await stored_rows(app) == 0


def test_enough_bad_cards_go_through_the_api() -> None:
    assert len(API_BAD_CASES) >= 25


async def test_upload_limits_and_handle_rules(
    app: Any, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    limit = app.state.personae.settings.max_upload_bytes
    r = await import_file(client, alice, "big.png", b"\x89PNG" + b"\0" * (limit + 10))
    assert r.status_code == 413
    r = await import_file(client, alice, "empty.json", b"")
    assert r.status_code == 415
    r = await client.post("/api/v1/characters/import", headers=alice)
    assert r.status_code == 422
    path = FIXTURE_CARDS[0]
    r = await import_file(client, alice, path.name, path.read_bytes(), handle="mine")
    assert r.status_code == 201 and r.json()["handle"] == "mine"
    r = await import_file(client, bob, path.name, path.read_bytes(), handle="mine")
    assert r.status_code == 409
    r = await import_file(client, bob, path.name, path.read_bytes(), handle="Bad Handle!")
    assert r.status_code == 422
    r = await import_file(client, {}, path.name, path.read_bytes())
    assert r.status_code == 401
    assert await stored_rows(app) >= 1
