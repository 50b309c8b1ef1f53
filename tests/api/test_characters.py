"""Characters: CRUD, duplicate, avatar, and who can see, change and delete what."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image


def png(size: tuple[int, int] = (4, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/characters", headers=headers, json={"name": "Nova", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_crud_and_defaults(
    client: httpx.AsyncClient, alice: dict[str, str], db_kind: str
) -> None:
    c = await create(client, alice, name="Élodie Ray", tags=["space"], extensions={"x": {"y": 1}})
    assert c["handle"] == "elodie_ray" and c["visibility"] == "private" and c["is_ai"]
    assert c["owner"] == "alice" and c["revision"] == 1
    c2 = await create(client, alice, name="Élodie Ray")
    assert c2["handle"] == "elodie_ray_2"
    r = await client.patch(
        f"/api/v1/characters/{c['id']}",
        headers=alice,
        json={"description": "new", "sampling": {"temperature": 0.5}},
    )
    assert r.status_code == 200 and r.json()["description"] == "new" and r.json()["revision"] == 2
    assert r.json()["sampling"] == {"temperature": 0.5} and r.json()["extensions"] == {
        "x": {"y": 1}
    }
    r = await client.patch(
        f"/api/v1/characters/{c['id']}", headers=alice, json={"handle": "elodie_ray_2"}
    )
    assert r.status_code == 409
    assert (
        await client.delete(f"/api/v1/characters/{c['handle']}", headers=alice)
    ).status_code == 204
    assert (await client.get(f"/api/v1/characters/{c['handle']}", headers=alice)).status_code == 404


async def test_visibility_matrix(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str], db_kind: str
) -> None:
    private = await create(client, alice, name="Secret")
    unlisted = await create(client, alice, name="Quiet", visibility="unlisted")
    public = await create(client, alice, name="Loud", visibility="public")
    for who, headers in (("bob", bob), ("anonymous", {})):
        assert (
            await client.get(f"/api/v1/characters/{private['handle']}", headers=headers)
        ).status_code == 404, who
        assert (
            await client.get(f"/api/v1/characters/{unlisted['handle']}", headers=headers)
        ).status_code == 200, who
        assert (
            await client.get(f"/api/v1/characters/{public['handle']}", headers=headers)
        ).status_code == 200, who
        listed = {
            c["handle"] for c in (await client.get("/api/v1/characters", headers=headers)).json()
        }
        assert listed == {"loud"}, who
    mine = {
        c["handle"]
        for c in (await client.get("/api/v1/characters?mine=true", headers=alice)).json()
    }
    assert mine == {"secret", "quiet", "loud"}
    # Nobody but the owner changes or deletes, whatever they can see.
    for c in (private, unlisted, public):
        ref = c["handle"]
        assert (
            await client.patch(f"/api/v1/characters/{ref}", headers=bob, json={"name": "x"})
        ).status_code == 404
        assert (await client.delete(f"/api/v1/characters/{ref}", headers=bob)).status_code == 404
        assert (
            await client.put(
                f"/api/v1/characters/{ref}/avatar", headers=bob, files={"file": ("a.png", png())}
            )
        ).status_code == 404
        assert (
            await client.patch(f"/api/v1/characters/{ref}", json={"name": "x"})
        ).status_code == 401
    # Duplicating: visible ones only; the copy is Bob's and private.
    assert (
        await client.post(f"/api/v1/characters/{private['handle']}/duplicate", headers=bob)
    ).status_code == 404
    r = await client.post(f"/api/v1/characters/{public['handle']}/duplicate", headers=bob)
    assert (
        r.status_code == 201 and r.json()["owner"] == "bob" and r.json()["visibility"] == "private"
    )
    assert r.json()["name"] == "Loud" and r.json()["handle"] != "loud"
    # The admin (alice, first account) sees Bob's private copy; Bob is no admin.
    assert (
        await client.get(f"/api/v1/characters/{r.json()['handle']}", headers=alice)
    ).status_code == 200


async def test_duplicate_copies_lorebook_and_avatar(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    c = await create(client, alice)
    book = await client.post(
        "/api/v1/lorebooks",
        headers=alice,
        json={"name": "B", "entries": [{"keys": ["k"], "content": "c"}]},
    )
    await client.put(
        f"/api/v1/characters/{c['handle']}/lorebooks/{book.json()['id']}?primary=true",
        headers=alice,
    )
    assert (
        await client.put(
            f"/api/v1/characters/{c['handle']}/avatar",
            headers=alice,
            files={"file": ("a.png", png())},
        )
    ).status_code == 200
    copy = (await client.post(f"/api/v1/characters/{c['handle']}/duplicate", headers=alice)).json()
    assert (
        copy["has_avatar"]
        and len(copy["lorebook_ids"]) == 1
        and copy["lorebook_ids"] != [book.json()["id"]]
    )
    copied = (
        await client.get(f"/api/v1/lorebooks/{copy['lorebook_ids'][0]}", headers=alice)
    ).json()
    assert [e["content"] for e in copied["entries"]] == ["c"]
    card = (await client.get(f"/api/v1/characters/{copy['handle']}/card", headers=alice)).json()
    assert card["data"]["character_book"]["entries"][0]["keys"] == ["k"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "ok", "handle": "Bad Handle"},
        {"name": "ok", "visibility": "secret"},
        {"name": "ok", "tags": "not a list"},
        {"name": "ok", "tags": [""]},
        {"name": "ok", "alternate_greetings": [1]},
        {"name": "ok", "description": "x" * 100_001},
        {"name": "ok", "sampling": {"temperature": 9}},
        {"name": "ok", "unknown_field": 1},
        {"name": 5},
    ],
)
async def test_bad_character_bodies(
    client: httpx.AsyncClient, alice: dict[str, str], body: dict[str, Any]
) -> None:
    r = await client.post("/api/v1/characters", headers=alice, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    assert (await client.get("/api/v1/characters?mine=true", headers=alice)).json() == []


async def test_bad_avatars(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    c = await create(client, alice)
    url = f"/api/v1/characters/{c['handle']}/avatar"
    assert (
        await client.put(url, headers=alice, files={"file": ("a.txt", b"hello")})
    ).status_code == 422
    assert (
        await client.put(url, headers=alice, files={"file": ("a.png", png()[:30])})
    ).status_code == 422
    huge = io.BytesIO()
    Image.new("1", (9000, 9000)).save(huge, "PNG")
    assert (
        await client.put(url, headers=alice, files={"file": ("a.png", huge.getvalue())})
    ).status_code == 422
    assert (
        await client.put(
            url,
            headers=alice,
            files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * (9 * 1024 * 1024))},
        )
    ).status_code == 413
    assert (await client.get(url, headers=alice)).status_code == 404


async def test_lorebook_api_bad_input_and_ownership(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    bad = [
        {"entries": [{"keys": "k", "content": "c"}]},
        {"entries": [{"position": "middle"}]},
        {"scan_depth": 0},
        {"entries": [{"keys": ["k" * 501]}]},
    ]
    for body in bad:
        assert (await client.post("/api/v1/lorebooks", headers=alice, json=body)).status_code == 422
    book = (await client.post("/api/v1/lorebooks", headers=alice, json={"name": "B"})).json()
    assert (
        await client.put(f"/api/v1/lorebooks/{book['id']}", headers=bob, json={"name": "x"})
    ).status_code == 404
    assert (await client.delete(f"/api/v1/lorebooks/{book['id']}", headers=bob)).status_code == 404
    r = await client.put(
        f"/api/v1/lorebooks/{book['id']}",
        headers=alice,
        json={"name": "C", "entries": [{"keys": ["a"], "content": "b"}]},
    )
    assert r.status_code == 200 and r.json()["entries"][0]["keys"] == ["a"]
