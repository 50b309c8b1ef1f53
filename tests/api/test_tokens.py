"""API tokens and sessions: expiry, last use, listing, revoking, ending on password change."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, update

from personae.accounts.models import AuthToken
from personae.db import utcnow
from tests.conftest import sign_up
from tests.web.test_pages import SAME

PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def new_token(client: httpx.AsyncClient, username: str, **body: object) -> str:
    r = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD, **body}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def days_from_now(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - utcnow()).total_seconds() / 86_400


async def test_api_tokens_expire_after_the_default_or_the_chosen_days(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    settings = app.state.personae.settings
    await sign_up(client, "tess")
    default = await new_token(client, "tess", token_name="laptop")
    await new_token(client, "tess", token_name="cron", expires_in_days=7)
    listed = (await client.get("/api/v1/auth/tokens", headers=bearer(default))).json()
    by_name = {t["name"]: t for t in listed}
    assert by_name["laptop"]["kind"] == "api" and by_name["laptop"]["current"] is True
    assert by_name["cron"]["current"] is False
    assert abs(days_from_now(by_name["laptop"]["expires_at"]) - settings.api_token_days) < 0.01
    assert abs(days_from_now(by_name["cron"]["expires_at"]) - 7) < 0.01
    for body in (
        {"expires_in_days": settings.api_token_max_days + 1},
        {"expires_in_days": 0},
        {"expires_in_days": 30, "cookie": True},
    ):
        r = await client.post(
            "/api/v1/auth/token", json={"username": "tess", "password": PASSWORD, **body}
        )
        assert r.status_code == 422, r.text
    assert len((await client.get("/api/v1/auth/tokens", headers=bearer(default))).json()) == 3


async def test_an_expired_token_is_refused_and_swept_out(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "otto")
    old = await new_token(client, "otto", token_name="old")
    async with app.state.personae.sessions() as session:
        await session.execute(
            update(AuthToken)
            .where(AuthToken.name == "old")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.get("/api/v1/me", headers=bearer(old))).status_code == 401
    fresh = await new_token(client, "otto", token_name="fresh")
    names = [
        t["name"] for t in (await client.get("/api/v1/auth/tokens", headers=bearer(fresh))).json()
    ]
    assert "old" not in names
    async with app.state.personae.sessions() as session:
        assert await session.scalar(select(AuthToken.id).where(AuthToken.name == "old")) is None


async def test_last_use_is_written_at_most_once_a_minute(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "lula")
    token = await new_token(client, "lula", token_name="probe")

    async def last_used() -> datetime | None:
        async with app.state.personae.sessions() as session:
            return await session.scalar(
                select(AuthToken.last_used_at).where(AuthToken.name == "probe")
            )

    async def set_last_used(when: datetime) -> None:
        async with app.state.personae.sessions() as session:
            await session.execute(
                update(AuthToken).where(AuthToken.name == "probe").values(last_used_at=when)
            )
            await session.commit()

    assert await last_used() is None
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    first = await last_used()
    assert first is not None and abs((utcnow() - first).total_seconds()) < 30
    recent = utcnow() - timedelta(seconds=30)
    await set_last_used(recent)
    await client.get("/api/v1/me", headers=bearer(token))
    assert await last_used() == recent  # under a minute ago: no write
    await set_last_used(utcnow() - timedelta(minutes=2))
    await client.get("/api/v1/me", headers=bearer(token))
    latest = await last_used()
    assert latest is not None and (utcnow() - latest).total_seconds() < 30


async def test_tokens_are_listed_and_revoked_by_their_owner_only(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    spare = await new_token(client, "alice", token_name="spare")
    listed = (await client.get("/api/v1/auth/tokens", headers=alice)).json()
    assert sorted(t["name"] for t in listed) == ["", "spare"]
    assert all(set(t) >= {"id", "kind", "created_at", "last_used_at", "expires_at"} for t in listed)
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    spare_id = next(t["id"] for t in listed if t["name"] == "spare")
    # Someone else's token id is as unknown as a made-up one.
    assert (await client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=bob)).status_code == 404
    assert (await client.delete("/api/v1/auth/tokens/nope", headers=alice)).status_code == 404
    assert (await client.get("/api/v1/me", headers=bearer(spare))).status_code == 200
    assert (await client.get("/api/v1/auth/tokens")).status_code == 401
    r = await client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=alice)
    assert r.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(spare))).status_code == 401
    assert (
        await client.delete(f"/api/v1/auth/tokens/{spare_id}", headers=alice)
    ).status_code == 404
    assert [t["name"] for t in (await client.get("/api/v1/auth/tokens", headers=alice)).json()] == [
        ""
    ]
    assert len((await client.get("/api/v1/auth/tokens", headers=bob)).json()) == 1


async def test_a_password_change_ends_every_other_session_and_token(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "paula")
    api_tokens = [await new_token(client, "paula", token_name=f"t{n}") for n in range(2)]
    other_browser = await new_token(client, "paula", cookie=True)
    client.cookies.clear()
    r = await client.post("/login", data={"username": "paula", "password": PASSWORD}, headers=SAME)
    assert r.status_code == 303
    this_browser = client.cookies["personae_session"]
    form = {
        "current_password": PASSWORD,
        "new_password": "a brand new secret",
        "confirm_password": "a brand new secret",
    }
    r = await client.post("/settings/password", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    for token in (*api_tokens, other_browser):
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(this_browser))).status_code == 200
    assert (await client.get("/api/v1/me")).json()["username"] == "paula"
    listed = (await client.get("/api/v1/auth/tokens")).json()
    assert [(t["kind"], t["current"]) for t in listed] == [("session", True)]
