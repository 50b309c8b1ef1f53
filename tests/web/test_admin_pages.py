"""Admin pages: backends (add, test, switch, remove, default), reports queue, limits."""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select

from personae.instance.models import InstanceBackend
from personae.llm.registry import BackendRegistry
from personae.social.models import Actor, Post
from tests.conftest import free_port, sign_up
from tests.web.test_pages import SAME, web_sign_up
from tests.web.test_social_pages import post

PAGES = ("/admin", "/admin/reports", "/admin/limits")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


def done(r: httpx.Response, path: str, key: str) -> None:
    """A 303 back to the tab with the notice."""
    assert r.status_code == 303, r.text[-1500:]
    assert r.headers["location"] == f"{path}?done={key}"


async def add_form(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Submit the "add a backend" form."""
    form = {"context_window": "8192", "enabled": "on", **fields}
    return await client.post("/admin/backends", data=form, headers=SAME)


async def test_non_admins_get_404_on_every_admin_page_and_form(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/admin/backends", headers=alice, json={"name": "gpu", "base_url": "http://h/v1"}
    )
    assert r.status_code == 201
    posts = [
        ("/admin/backends", {"name": "x", "base_url": "http://h/v1"}),
        ("/admin/backends/gpu/test", {}),
        ("/admin/backends/gpu/disable", {}),
        ("/admin/backends/gpu/enable", {}),
        ("/admin/backends/gpu/delete", {}),
        ("/admin/default", {"name": "gpu"}),
        ("/admin/reports/00000000000000000000000000000000", {"action": "dismiss"}),
        ("/admin/limits", {"agents_posts_per_day": "0"}),
    ]
    for signed_in in (False, True):
        if signed_in:
            await web_sign_up(client, "mallory")
        for path in PAGES:
            r = await client.get(path)
            assert r.status_code == 404 and "text/html" in r.headers["content-type"], path
        for path, form in posts:
            r = await client.post(path, data=form, headers=SAME)
            assert r.status_code == 404, (path, r.status_code)
    assert 'href="/admin"' not in (await client.get("/settings")).text
    async with app.state.personae.sessions() as session:
        row = await session.scalar(select(InstanceBackend))
        assert row is not None and row.enabled and row.name == "gpu"
    r = await client.delete("/api/v1/admin/backends/gpu", headers=alice)
    assert r.status_code == 204


async def test_admin_adds_tests_switches_and_removes_a_backend(
    app: FastAPI, client: httpx.AsyncClient, registry: BackendRegistry
) -> None:
    await web_sign_up(client, "root")  # the first account: the admin
    page = await client.get("/admin")
    assert page.status_code == 200 and "Configured backends" in page.text
    assert 'aria-current="page"' in page.text and "embedded" in page.text
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    r = await add_form(client, name="spare", base_url=nowhere, model="m", api_key="sk-secret-1")
    done(r, "/admin", "added")
    assert "spare" in registry.names()
    page = await client.get("/admin?done=added")
    assert "The backend is added and ready to use." in page.text
    assert "sk-secret-1" not in page.text and "stored (never shown)" in page.text
    # "Test it" with htmx: only the result, kind about the failure.
    r = await client.post("/admin/backends/spare/test", headers={**SAME, "HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert "Test did not pass" in r.text and f"Could not connect to {nowhere}." in r.text
    # Without script: the whole page, with the result in place.
    r = await client.post("/admin/backends/spare/test", headers=SAME)
    assert r.status_code == 200 and "<html" in r.text and "Test did not pass" in r.text
    done(await client.post("/admin/backends/spare/disable", headers=SAME), "/admin", "disabled")
    assert "spare" not in registry.names()
    done(await client.post("/admin/backends/spare/enable", headers=SAME), "/admin", "enabled")
    done(
        await client.post("/admin/default", data={"name": "spare"}, headers=SAME),
        "/admin",
        "default",
    )
    assert registry.default == "spare"
    r = await client.post("/admin/default", data={"name": "ghost"}, headers=SAME)
    assert r.status_code == 422 and registry.default == "spare"
    done(await client.post("/admin/backends/spare/delete", headers=SAME), "/admin", "removed")
    assert "spare" not in registry.names() and registry.default == "embedded"
    assert (await client.post("/admin/backends/spare/delete", headers=SAME)).status_code == 404


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"base_url": "ftp://gpu-box/v1"}, "must start with http:// or https://"),
        ({"base_url": "javascript:alert(1)"}, "must start with http:// or https://"),
        ({"base_url": "http://169.254.169.254/v1"}, "link-local"),
        ({"base_url": "not a url"}, "http://"),
        ({"base_url": "http://u:p@gpu-box/v1"}, "API key field"),
        ({"name": "Bad Name!"}, "name must be 1-40 characters"),
        ({"context_window": "lots"}, "context window must be a whole number"),
        ({"context_window": "100"}, "context window must be between"),
    ],
)
async def test_a_bad_backend_form_names_the_problem_and_saves_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    registry: BackendRegistry,
    fields: dict[str, str],
    problem: str,
) -> None:
    await web_sign_up(client, "root")
    form = {"name": "gpu", "base_url": "http://gpu-box:8000/v1", "api_key": "sk-hidden", **fields}
    r = await add_form(client, **form)
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert problem in r.text
    assert "sk-hidden" not in r.text  # the key is never echoed back
    assert "gpu" not in registry.names()
    async with app.state.personae.sessions() as session:
        assert await session.scalar(select(InstanceBackend)) is None


async def test_reports_are_dismissed_or_resolved(app: FastAPI, client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "root")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    spam = await post(client, carol, "Buy cheap stuff now!!!")
    other = await post(client, carol, "Another one.")
    reports = []
    for body in (
        {"post_id": spam["id"], "reason": "spam", "comment": "obvious spam"},
        {"post_id": other["id"], "reason": "other"},
        {"handle": "carol", "reason": "harassment"},
    ):
        r = await client.post("/api/v1/reports", headers=bob, json=body)
        assert r.status_code == 201, r.text
        reports.append(r.json()["id"])
    page = await client.get("/admin/reports")
    assert "Buy cheap stuff now!!!" in page.text and "obvious spam" in page.text
    assert "Reported by @bob for spam" in page.text
    r = await client.post(
        f"/admin/reports/{reports[0]}", data={"action": "delete_post"}, headers=SAME
    )
    done(r, "/admin/reports", "delete_post")
    r = await client.post(f"/admin/reports/{reports[1]}", data={"action": "dismiss"}, headers=SAME)
    done(r, "/admin/reports", "dismiss")
    r = await client.post(f"/admin/reports/{reports[2]}", data={"action": "explode"}, headers=SAME)
    assert r.status_code == 422
    r = await client.post(
        f"/admin/reports/{reports[2]}", data={"action": "suspend", "note": "repeat"}, headers=SAME
    )
    done(r, "/admin/reports", "suspend")
    r = await client.post(f"/admin/reports/{reports[2]}", data={"action": "dismiss"}, headers=SAME)
    assert r.status_code == 409
    async with app.state.personae.sessions() as session:
        assert await session.get(Post, spam["id"]) is None
        assert await session.get(Post, other["id"]) is not None
        carol_actor = await session.scalar(select(Actor).where(Actor.handle == "carol"))
        assert carol_actor is not None and carol_actor.suspended
    assert "No open reports. All clear." in (await client.get("/admin/reports")).text


async def test_limits_are_saved_validated_and_cleared(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await web_sign_up(client, "root")
    page = await client.get("/admin/limits")
    assert page.status_code == 200 and 'placeholder="2000"' in page.text
    assert "Allowed: 0 to 50." in page.text
    form = {"agents_posts_per_day": "0", "agents_max_ai_turns": "4", "agents_tokens_per_day": ""}
    done(await client.post("/admin/limits", data=form, headers=SAME), "/admin/limits", "limits")
    shown = (await client.get("/api/v1/admin/limits", headers=SAME)).json()
    assert (
        shown["agents_posts_per_day"]["value"] == 0 and shown["agents_max_ai_turns"]["value"] == 4
    )
    for bad in (
        {"agents_max_ai_turns": "51"},
        {"agents_posts_per_day": "-3"},
        {"agents_replies_per_hour": "ten"},
    ):
        r = await client.post("/admin/limits", data={**form, **bad}, headers=SAME)
        assert r.status_code == 422 and 'role="alert"' in r.text, bad
    shown = (await client.get("/api/v1/admin/limits", headers=SAME)).json()
    assert shown["agents_max_ai_turns"]["value"] == 4
    assert shown["agents_replies_per_hour"]["override"] is None
    cleared = {"agents_posts_per_day": "", "agents_max_ai_turns": ""}
    done(await client.post("/admin/limits", data=cleared, headers=SAME), "/admin/limits", "limits")
    shown = (await client.get("/api/v1/admin/limits", headers=SAME)).json()
    assert (
        shown["agents_posts_per_day"]["value"] == 2000
        and shown["agents_max_ai_turns"]["override"] is None
    )


async def test_admin_pages_render_in_french(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "root")
    for path in PAGES:
        r = await client.get(path, headers={"Accept-Language": "fr"})
        assert r.status_code == 200 and "Administration" in r.text
        assert "style=" not in r.text and "<script>" not in r.text
