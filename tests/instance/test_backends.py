"""Backends admins add at runtime: validation, the registry, a real "test it", the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from personae.config import Settings
from personae.errors import Invalid
from personae.instance import backends
from personae.llm.base import GenerationParams
from personae.llm.embedded import EmbeddedBackend
from personae.llm.registry import BackendRegistry
from tests.conftest import free_port

API = "/api/v1/admin"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "gpu-box:8000/v1",
        "ftp://gpu-box/v1",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "http://user:secret@gpu-box/v1",
        "http://gpu-box/v1?key=1",
        "http://gpu-box/v1#top",
        "http://gpu-box:99999/v1",
        "http://169.254.169.254/latest",
        "http://[fe80::1]/v1",
        "http://0.0.0.0:8000/v1",
        "http://224.0.0.1/v1",
        "http://gpu box/v1",
        "http://gpu-box/" + "a" * 600,
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(Invalid):
        backends.check_url(url)


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        (" https://api.example.com/v1 ", "https://api.example.com/v1"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("http://10.0.0.5/v1", "http://10.0.0.5/v1"),
    ],
)
def test_good_urls_are_kept(url: str, clean: str) -> None:
    assert backends.check_url(url) == clean


@pytest.mark.parametrize("name", ["", "Has Space", "-dash", "a" * 41, "é", "x/y"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(Invalid):
        backends.check_name(name)


async def embedded_server(registry: BackendRegistry) -> tuple[str, str]:
    """The bundled model's own llama.cpp HTTP server: a real OpenAI-compatible remote."""
    embedded = registry.get("embedded")
    assert isinstance(embedded, EmbeddedBackend)
    return await embedded.base_url(), await embedded.api_key()


async def add(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    """Add a backend through the API."""
    return await client.post(f"{API}/backends", headers=headers, json=body)


async def test_a_real_server_is_added_tested_used_and_removed(
    app: FastAPI, client: httpx.AsyncClient, registry: BackendRegistry, alice: dict[str, str]
) -> None:
    url, key = await embedded_server(registry)
    r = await add(client, alice, name="local", base_url=url, model="smollm2", api_key=key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["has_api_key"] is True and "api_key" not in body and key not in r.text
    # Usable at once, without a restart.
    assert "local" in registry.names() and "local" in registry.managed
    done = await registry.get("local").complete(
        [{"role": "user", "content": "Hi"}], GenerationParams(max_tokens=2, seed=1)
    )
    assert done.backend == "local" and done.usage.completion_tokens >= 1

    r = await client.post(f"{API}/backends/local/test", headers=alice)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["ok"] is True, result
    assert result["message"].startswith("It works") and result["seconds"] > 0
    assert result["models"], "llama.cpp's server lists its model"
    listed = (await client.get(f"{API}/backends", headers=alice)).json()
    assert key not in str(listed)
    (added,) = listed["added"]
    assert added["last_test"]["ok"] is True and added["last_test"]["at"]
    assert {c["name"] for c in listed["configured"]} == {"embedded"}

    r = await client.put(f"{API}/default-backend", headers=alice, json={"name": "local"})
    assert r.status_code == 200 and registry.default == "local"
    r = await client.delete(f"{API}/backends/local", headers=alice)
    assert r.status_code == 204
    assert "local" not in registry.names() and registry.default == "embedded"


async def test_a_wrong_key_and_an_unreachable_server_fail_kindly(
    app: FastAPI, client: httpx.AsyncClient, registry: BackendRegistry, alice: dict[str, str]
) -> None:
    url, _ = await embedded_server(registry)
    assert (
        await add(client, alice, name="badkey", base_url=url, api_key="nope")
    ).status_code == 201
    r = await client.post(f"{API}/backends/badkey/test", headers=alice)
    result = r.json()
    assert r.status_code == 200 and result["ok"] is False
    assert "answered, but the test request failed" in result["message"]

    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    assert (await add(client, alice, name="nowhere", base_url=nowhere)).status_code == 201
    result = (await client.post(f"{API}/backends/nowhere/test", headers=alice)).json()
    assert result["ok"] is False
    assert result["message"].startswith(f"Could not connect to {nowhere}.")
    assert "Traceback" not in result["message"] and "Error(" not in result["message"]
    for name in ("badkey", "nowhere"):
        assert (await client.delete(f"{API}/backends/{name}", headers=alice)).status_code == 204


async def test_bad_input_is_refused_and_nothing_is_saved(
    app: FastAPI, client: httpx.AsyncClient, registry: BackendRegistry, alice: dict[str, str]
) -> None:
    cases = [
        ({"name": "x", "base_url": "ftp://h/v1"}, "bad_url_scheme"),
        ({"name": "x", "base_url": "http://169.254.169.254/v1"}, "bad_url_host"),
        ({"name": "x", "base_url": "http://h/v1", "context_window": 10}, "bad_context_window"),
        ({"name": "Bad Name", "base_url": "http://h/v1"}, "bad_backend_name"),
        ({"name": "embedded", "base_url": "http://h/v1"}, "taken"),
        ({"name": "x", "base_url": "http://h/v1", "model": "a\nb"}, "bad_model"),
    ]
    for body, code in cases:
        r = await add(client, alice, **body)
        assert r.status_code in (409, 422), r.text
        assert r.json()["error"]["code"] == code, r.text
    r = await add(client, alice, name="x", base_url="http://h/" + "a" * 600)
    assert r.status_code == 422
    assert (await client.get(f"{API}/backends", headers=alice)).json()["added"] == []
    assert "x" not in registry.names()
    r = await client.put(f"{API}/default-backend", headers=alice, json={"name": "ghost"})
    assert r.status_code == 422 and registry.default == "embedded"
    assert (await add(client, alice, name="twice", base_url="http://h/v1")).status_code == 201
    assert (await add(client, alice, name="twice", base_url="http://h/v1")).status_code == 409
    assert (await client.delete(f"{API}/backends/twice", headers=alice)).status_code == 204
    assert (await client.delete(f"{API}/backends/twice", headers=alice)).status_code == 404


async def test_disabled_backends_leave_the_registry_and_come_back_at_start(
    app: FastAPI,
    client: httpx.AsyncClient,
    registry: BackendRegistry,
    alice: dict[str, str],
    db_kind: str,
) -> None:
    assert (await add(client, alice, name="gpu", base_url="http://10.1.2.3/v1")).status_code == 201
    r = await client.patch(f"{API}/backends/gpu", headers=alice, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert "gpu" not in registry.names()
    r = await client.patch(f"{API}/backends/gpu", headers=alice, json={"enabled": True})
    assert "gpu" in registry.names()
    await client.put(f"{API}/default-backend", headers=alice, json={"name": "gpu"})
    # A fresh process loads what admins added, and their default, from the database.
    fresh = BackendRegistry.from_settings(Settings())
    async with app.state.personae.sessions() as session:
        await backends.load_into(session, fresh, Settings())
    assert fresh.names() == ["embedded", "gpu"] and fresh.default == "gpu"
    assert fresh.managed == {"gpu"}
    await fresh.aclose()
    assert (await client.delete(f"{API}/backends/gpu", headers=alice)).status_code == 204
    assert registry.default == "embedded"


async def test_only_admins_reach_the_admin_api(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    assert (await add(client, alice, name="gpu", base_url="http://10.1.2.3/v1")).status_code == 201
    calls = [
        ("GET", f"{API}/backends", None),
        ("POST", f"{API}/backends", {"name": "mine", "base_url": "http://h/v1"}),
        ("POST", f"{API}/backends", {"nonsense": True}),
        ("PATCH", f"{API}/backends/gpu", {"enabled": False}),
        ("DELETE", f"{API}/backends/gpu", None),
        ("POST", f"{API}/backends/gpu/test", None),
        ("PUT", f"{API}/default-backend", {"name": "gpu"}),
        ("GET", f"{API}/limits", None),
        ("PATCH", f"{API}/limits", {"agents_posts_per_day": 0}),
    ]
    for who in (bob, {}):
        for method, url, body in calls:
            r = await client.request(method, url, headers=who, json=body)
            assert r.status_code == 404, (method, url, r.status_code, r.text)
    listed = (await client.get(f"{API}/backends", headers=alice)).json()
    assert [a["name"] for a in listed["added"]] == ["gpu"] and listed["added"][0]["enabled"]
    assert (await client.delete(f"{API}/backends/gpu", headers=alice)).status_code == 204
