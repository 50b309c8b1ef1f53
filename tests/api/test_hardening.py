"""What an attacker tried against the API: nulls, deep JSON, NUL, huge bodies, regexes that
backtrack, races on handles, the framework's own errors. Each answer is a clear 4xx and
changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from personae.characters.lore_keys import key_matches
from personae.chat.lore import LoreEntry, activate
from tests.api.sse import stream_events
from tests.conftest import CARDS_DIR

API = "/api/v1"
Headers = dict[str, str]


def nested(depth: int) -> dict[str, Any]:
    """An object nested `depth` levels deep ({"a": {"a": ... {}}})."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def error_code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/characters", headers=headers, json={"name": "Nova", **body})


# ----------------------------------------------------------------------------- nulls


@pytest.mark.parametrize(
    ("field", "empty"),
    [
        ("tags", []),
        ("alternate_greetings", []),
        ("group_only_greetings", []),
        ("extensions", {}),
        ("description", ""),
    ],
)
async def test_null_fields_mean_empty_and_never_poison_reads(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, field: str, empty: Any, db_kind: str
) -> None:
    r = await create(client, alice, visibility="public", **{field: None})
    assert r.status_code == 201, r.text
    assert r.json()[field] == empty
    handle = r.json()["handle"]
    r = await client.patch(f"{API}/characters/{handle}", headers=alice, json={field: None})
    assert r.status_code == 200 and r.json()[field] == empty
    # Everyone can still read the list, the character, its card, its page and the studio.
    for who in (alice, bob, {}):
        r = await client.get(f"{API}/characters", headers=who)
        assert r.status_code == 200 and handle in [c["handle"] for c in r.json()]
    assert (await client.get(f"{API}/characters/{handle}/card")).status_code == 200
    assert (await client.get(f"/@{handle}")).status_code == 200


async def test_null_for_required_fields_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI, db_kind: str
) -> None:
    for body in ({"name": None}, {"name": "x", "visibility": None}, {"name": "x", "handle": None}):
        r = await client.post(f"{API}/characters", headers=alice, json=body)
        assert r.status_code == 422 and "may not be null" in r.text
    c = (await create(client, alice)).json()
    r = await client.patch(f"{API}/characters/{c['handle']}", headers=alice, json={"name": None})
    assert r.status_code == 422
    async with app.state.personae.sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM characters"))
    assert count == 1


async def test_json_nulls_stored_before_are_read_as_empty(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI, db_kind: str
) -> None:
    """Rows written by the old code (JSON null in a list column) read as empty lists."""
    c = (await create(client, alice, visibility="public")).json()
    async with app.state.personae.sessions() as session:
        await session.execute(
            text("UPDATE characters SET tags = 'null', extensions = 'null' WHERE id = :id"),
            {"id": c["id"]},
        )
        await session.commit()
    r = await client.get(f"{API}/characters/{c['handle']}")
    assert r.status_code == 200 and r.json()["tags"] == [] and r.json()["extensions"] == {}


# ----------------------------------------------------------------------------- depth


async def test_deep_json_is_refused_wherever_it_would_be_stored(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    # Within the limit: stored, and every reading of it works, the export included.
    r = await create(client, alice, visibility="public", extensions=nested(60))
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    for fmt in ("json", "png", "charx"):
        r = await client.get(f"{API}/characters/{handle}/export", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
    assert (await client.get(f"{API}/characters/{handle}/card")).status_code == 200
    # One level more than a card can carry back: 422 naming the field, at every depth up
    # to far beyond what the JSON parser itself can decode.
    for depth in (61, 64, 65, 200, 255, 256, 300, 900):
        r = await create(client, alice, extensions=nested(depth))
        assert r.status_code == 422, (depth, r.status_code)
        assert "levels deep" in r.json()["error"]["message"]
        r = await client.patch(
            f"{API}/characters/{handle}", headers=alice, json={"extensions": nested(depth)}
        )
        assert r.status_code == 422, depth
    book = {"name": "b", "extensions": nested(61), "entries": []}
    assert (await client.post(f"{API}/lorebooks", headers=alice, json=book)).status_code == 422
    entry = {"keys": ["k"], "content": "c", "extensions": nested(61)}
    book = {"name": "b", "entries": [entry]}
    assert (await client.post(f"{API}/lorebooks", headers=alice, json=book)).status_code == 422
    # A raw body nested 100,000 deep is refused before any route parses it.
    raw = '{"name": "x", "extensions": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = await client.post(
        f"{API}/characters",
        headers={**alice, "content-type": "application/json"},
        content=raw.encode(),
    )
    assert r.status_code == 422 and "levels deep" in r.text
    r = await client.get(f"{API}/characters", headers=alice, params={"mine": "true"})
    assert [c["handle"] for c in r.json()] == [handle]


# ----------------------------------------------------------------------------- NUL


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/accounts", {"username": "eve", "password": "pass\u0000word123"}),
        ("POST", "/auth/token", {"username": "alice\u0000", "password": "correct horse"}),
        ("POST", "/characters", {"name": "No\u0000va"}),
        ("POST", "/characters", {"name": "Nova", "tags": ["a\u0000"]}),
        ("POST", "/characters", {"name": "Nova", "extensions": {"k\u0000": 1}}),
        ("POST", "/posts", {"text": "hello\u0000"}),
        ("POST", "/personas", {"name": "me\u0000"}),
        ("POST", "/lorebooks", {"name": "b", "entries": [{"keys": ["\u0000"], "content": "c"}]}),
    ],
)
async def test_nul_in_any_json_text_is_a_422(
    client: httpx.AsyncClient,
    alice: Headers,
    app: FastAPI,
    method: str,
    path: str,
    body: dict[str, Any],
    db_kind: str,
) -> None:
    async with app.state.personae.sessions() as session:
        before = await session.scalar(text("SELECT count(*) FROM actors"))
    r = await client.request(method, API + path, headers=alice, json=body)
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["error"]["message"]
    async with app.state.personae.sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM actors")) == before


async def test_nul_in_forms_and_addresses(client: httpx.AsyncClient, db_kind: str) -> None:
    r = await client.post("/login", data={"username": "al\u0000ice", "password": "x"})
    assert r.status_code == 422 and "NUL" in r.text
    r = await client.get(f"{API}/characters", params={"q": "a\u0000"})
    assert r.status_code == 400 and error_code(r) == "invalid_request"


async def test_a_card_with_nul_in_its_name_is_refused(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    card = {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "Ev\u0000e"}}
    files = {"file": ("eve.json", json.dumps(card).encode(), "application/json")}
    r = await client.post(f"{API}/characters/import", headers=alice, files=files)
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
    r = await client.get(f"{API}/characters", headers=alice, params={"mine": "true"})
    assert r.json() == []


# ----------------------------------------------------------------------------- sizes


async def test_huge_bodies_are_refused_before_they_are_read(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI, db_kind: str
) -> None:
    limit = app.state.personae.settings.max_request_bytes
    # Declared too large: refused from the header alone (no byte of the body is read).
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"{}"

    r = await client.post(
        f"{API}/characters",
        headers={**alice, "content-type": "application/json", "content-length": str(limit + 1)},
        content=body(),
    )
    assert r.status_code == 413 and error_code(r) == "too_large" and read == []
    # Sent without a length (chunked): counted while read, refused past the limit.

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "description": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    r = await client.post(
        f"{API}/characters",
        headers={**alice, "content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413, r.text
    # Uploads keep their own (larger) limit, counted the same way.
    upload_limit = app.state.personae.settings.max_upload_bytes

    async def upload() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.png"\r\n\r\n'
        for _ in range(upload_limit // 65536 + 4):
            yield b"\x00" * 65536
        yield b"\r\n--b--\r\n"

    r = await client.post(
        f"{API}/characters/import",
        headers={**alice, "content-type": "multipart/form-data; boundary=b"},
        content=upload(),
    )
    assert r.status_code == 413 and error_code(r) == "too_large"
    r = await client.get(f"{API}/characters", headers=alice, params={"mine": "true"})
    assert r.json() == []


async def test_a_body_within_the_limit_still_works(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    r = await create(client, alice, description="d" * 90_000)
    assert r.status_code == 201
    data = (CARDS_DIR / "default_Seraphina.png").read_bytes()
    files = {"file": ("s.png", data, "image/png")}
    r = await client.post(f"{API}/characters/import", headers=alice, files=files)
    assert r.status_code == 201, r.text


# ----------------------------------------------------------------------------- regexes


async def test_lorebook_regex_keys_run_in_linear_time(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    # Python's backtracking engine needs ~2^n steps for this key; RE2 is linear.
    evil = "(a+)+$"
    entry = LoreEntry(id="e", keys=(evil,), secondary_keys=(), content="lore", use_regex=True)
    victim = "a" * 50_000 + "!"

    def scan() -> list[LoreEntry]:
        return activate([entry], [victim] * 4, lambda s: len(s) // 4)

    started = time.perf_counter()
    found = await asyncio.wait_for(asyncio.to_thread(scan), timeout=10)
    assert found == [] and time.perf_counter() - started < 0.1
    assert key_matches(evil, "aaa", case_sensitive=False, use_regex=True)
    # The API stores such a key, and a chat whose history triggers the scan answers.
    r = await client.post(
        f"{API}/lorebooks",
        headers=alice,
        json={"name": "b", "entries": [{"keys": [evil], "content": "c", "use_regex": True}]},
    )
    assert r.status_code == 201, r.text
    book = r.json()["id"]
    c = (await create(client, alice, description="A helper.")).json()
    r = await client.put(f"{API}/characters/{c['handle']}/lorebooks/{book}", headers=alice)
    assert r.status_code == 204
    conv = await client.post(f"{API}/conversations", headers=alice, json={"character": c["handle"]})
    assert conv.status_code == 201
    url = f"{API}/conversations/{conv.json()['id']}/messages"
    message = "a" * 200 + "! Hello, who are you?"
    events = await asyncio.wait_for(stream_events(client, url, alice, {"content": message}), 60)
    assert events[-1][0] == "done"


@pytest.mark.parametrize("key", [r"(?<!x)cat", r"(a)\1", "/cat/x", "a" * 501, "(unclosed"])
async def test_regex_keys_it_cannot_run_are_a_422_naming_the_key(
    client: httpx.AsyncClient, alice: Headers, key: str, db_kind: str
) -> None:
    entry = {"keys": ["fine", key], "content": "c", "use_regex": True}
    r = await client.post(f"{API}/lorebooks", headers=alice, json={"name": "b", "entries": [entry]})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "keys[1]" in message or "keys.1" in message
    # As plain words (no regex) the same keys are fine.
    entry["use_regex"] = False
    if len(key) <= 500:
        r = await client.post(
            f"{API}/lorebooks", headers=alice, json={"name": "b", "entries": [entry]}
        )
        assert r.status_code == 201


# ----------------------------------------------------------------------------- races


async def test_concurrent_creates_with_one_handle(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    # An explicit handle: exactly one wins, every other request is a 409.
    answers = await asyncio.gather(
        *(create(client, who, handle="same") for who in (alice, bob, alice, bob))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    assert all(error_code(r) == "handle_taken" for r in answers if r.status_code == 409)
    # A handle derived from the name: every request gets a character, each its own handle.
    answers = await asyncio.gather(
        *(create(client, who, name="Twin") for who in (alice, bob, alice, bob))
    )
    assert [r.status_code for r in answers] == [201] * 4
    assert len({r.json()["handle"] for r in answers}) == 4


async def test_concurrent_imports_of_one_card(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    data = (CARDS_DIR / "default_Seraphina.png").read_bytes()

    async def upload(handle: str | None) -> httpx.Response:
        files = {"file": ("s.png", data, "image/png")}
        params = {"handle": handle} if handle else {}
        return await client.post(
            f"{API}/characters/import", headers=alice, files=files, params=params
        )

    answers = await asyncio.gather(*(upload(None) for _ in range(3)))
    assert [r.status_code for r in answers] == [201] * 3
    assert len({r.json()["handle"] for r in answers}) == 3
    answers = await asyncio.gather(*(upload("sera") for _ in range(3)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409]


# ----------------------------------------------------------------------------- conventions


async def test_the_framework_errors_use_the_one_envelope(
    client: httpx.AsyncClient, alice: Headers, db_kind: str
) -> None:
    r = await client.get(f"{API}/no-such-thing")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = await client.put(f"{API}/characters/someone", headers=alice, json={})
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    r = await client.post(
        f"{API}/characters", headers={**alice, "content-type": "application/json"}, content=b"{"
    )
    assert r.status_code == 422 and error_code(r) == "invalid_request"


async def test_admin_routes_do_not_exist_for_others(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    paths = [
        ("GET", "/admin/reports"),
        ("POST", "/admin/reports/x/resolve"),
        ("POST", "/admin/actors/alice/suspend"),
        ("DELETE", "/admin/actors/alice/suspend"),
        ("GET", "/admin/backends"),
        ("GET", "/admin/limits"),
    ]
    for method, path in paths:
        for who in (bob, {}):
            r = await client.request(method, API + path, headers=who, json={})
            assert r.status_code == 404, (method, path, r.status_code)
        r = await client.request(method, API + path, headers=alice, json={})
        assert r.status_code != 404 or "no report" in r.text or "no actor" in r.text
