"""Accounts: sign up, log in, tokens, personas, and the bad cases."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import sign_up


async def test_first_account_is_admin_and_second_is_not(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    a = await sign_up(client, "first")
    b = await sign_up(client, "second")
    assert (await client.get("/api/v1/me", headers=a)).json()["is_admin"] is True
    assert (await client.get("/api/v1/me", headers=b)).json()["is_admin"] is False


async def test_login_wrong_password_and_unknown_user(client: httpx.AsyncClient) -> None:
    await sign_up(client, "carol")
    for body in (
        {"username": "carol", "password": "nope nope nope"},
        {"username": "nobody", "password": "whatever123"},
    ):
        r = await client.post("/api/v1/auth/token", json=body)
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "wrong username or password"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"username": "x", "password": "longenough"}, "invalid_username"),
        ({"username": "Has Space", "password": "longenough"}, "invalid_username"),
        ({"username": "ok_name", "password": "short"}, "invalid_password"),
        ({"username": "ok_name"}, "invalid_request"),
        ({"username": "ok_name", "password": "longenough", "admin": True}, "invalid_request"),
        ({"username": "a" * 31, "password": "longenough"}, "invalid_request"),
    ],
)
async def test_bad_sign_ups_are_refused(
    client: httpx.AsyncClient, body: dict[str, object], code: str
) -> None:
    r = await client.post("/api/v1/accounts", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    r = await client.post(
        "/api/v1/auth/token", json={"username": "ok_name", "password": "longenough"}
    )
    assert r.status_code == 401


async def test_duplicate_username_is_a_conflict(client: httpx.AsyncClient) -> None:
    await sign_up(client, "dave")
    r = await client.post("/api/v1/accounts", json={"username": "DAVE", "password": "longenough"})
    assert r.status_code == 409
    assert "taken" in r.json()["error"]["message"]


async def test_tokens_cookies_and_logout(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, "erin")
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (
        await client.get("/api/v1/me", headers={"Authorization": "Bearer junk"})
    ).status_code == 401
    r = await client.post(
        "/api/v1/auth/token", json={"username": "erin", "password": "correct horse", "cookie": True}
    )
    assert r.status_code == 200 and "personae_session" in r.cookies
    assert (await client.get("/api/v1/me")).json()["username"] == "erin"
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_personas_are_private_to_their_owner(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    personas = (await client.get("/api/v1/personas", headers=alice)).json()
    assert len(personas) == 1 and personas[0]["is_default"]
    r = await client.post(
        "/api/v1/personas",
        headers=alice,
        json={"name": "Captain", "description": "a sailor", "is_default": True},
    )
    assert r.status_code == 201
    pid = r.json()["id"]
    personas = (await client.get("/api/v1/personas", headers=alice)).json()
    assert [p["name"] for p in personas if p["is_default"]] == ["Captain"]
    assert (
        await client.patch(f"/api/v1/personas/{pid}", headers=bob, json={"name": "x"})
    ).status_code == 404
    assert (await client.delete(f"/api/v1/personas/{pid}", headers=bob)).status_code == 404
    r = await client.post("/api/v1/personas", headers=alice, json={"name": "", "description": ""})
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/personas", headers=alice, json={"name": "N", "description": "d" * 10_001}
    )
    assert r.status_code == 422
    assert (await client.delete(f"/api/v1/personas/{pid}", headers=alice)).status_code == 204


async def test_cookie_requests_from_other_sites_are_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client, "fran")
    r = await client.post(
        "/api/v1/auth/token", json={"username": "fran", "password": "correct horse", "cookie": True}
    )
    assert r.status_code == 200
    body = {"name": "Forged"}
    r = await client.post(
        "/api/v1/characters", json=body, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    r = await client.post("/api/v1/characters", json=body)  # no Origin nor Referer
    assert r.status_code == 403
    assert (await client.get("/api/v1/characters?mine=true")).json() == []
    r = await client.post("/api/v1/characters", json=body, headers={"Origin": "http://testserver"})
    assert r.status_code == 201


async def test_stale_cookie_is_anonymous_but_bad_bearer_is_401(client: httpx.AsyncClient) -> None:
    client.cookies.set("personae_session", "stale")
    assert (await client.get("/api/v1/characters")).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 401
    client.cookies.clear()
    r = await client.get("/api/v1/characters", headers={"Authorization": "Bearer stale"})
    assert r.status_code == 401


async def test_username_and_character_handle_share_a_namespace(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client, "gina")
    r = await client.post(
        "/api/v1/characters", headers=headers, json={"name": "Zed", "handle": "zed"}
    )
    assert r.status_code == 201
    r = await client.post("/api/v1/accounts", json={"username": "zed", "password": "longenough"})
    assert r.status_code == 409
    r = await client.post(
        "/api/v1/characters", headers=headers, json={"name": "G", "handle": "gina"}
    )
    assert r.status_code == 409
