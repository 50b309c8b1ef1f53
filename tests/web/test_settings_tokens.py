"""Settings, sessions and tokens tab: list, create (shown once), revoke, without script."""

from __future__ import annotations

import re

import httpx
import pytest
from argon2 import PasswordHasher

from tests.conftest import sign_up
from tests.web.test_pages import SAME, web_sign_up


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


def shown_token(html: str) -> str:
    found = re.search(r'id="new-token"[^>]*value="([^"]+)"', html)
    assert found, "the new token is not on the page"
    return found.group(1)


def revoke_forms(html: str) -> list[str]:
    return re.findall(r'action="(/settings/tokens/[0-9a-f]+/revoke)"', html)


async def test_tokens_tab_lists_creates_once_and_revokes(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "tina")
    r = await client.get("/settings/tokens")
    assert r.status_code == 200 and 'aria-current="page"' in r.text
    assert "this browser" in r.text and len(revoke_forms(r.text)) == 1
    assert r.headers["Cache-Control"] == "no-store" and "<script>" not in r.text

    r = await client.post(
        "/settings/tokens", data={"name": "backup script", "expires_in_days": "30"}, headers=SAME
    )
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = shown_token(r.text)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=bearer)).json()["username"] == "tina"
    # Shown once: the list names it but never shows it again.
    r = await client.get("/settings/tokens")
    assert "backup script" in r.text and token not in r.text
    assert len(revoke_forms(r.text)) == 2

    listed = (await client.get("/api/v1/auth/tokens")).json()
    api_id = next(t["id"] for t in listed if t["kind"] == "api")
    r = await client.post(f"/settings/tokens/{api_id}/revoke", headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/settings/tokens?done=token_revoked"
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401

    # Revoking this very session signs out.
    session_id = next(t["id"] for t in listed if t["current"])
    r = await client.post(f"/settings/tokens/{session_id}/revoke", headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert (await client.get("/settings/tokens")).headers["location"] == "/"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"name": "", "expires_in_days": "30"}, "give the token a name"),
        ({"name": "x", "expires_in_days": "soon"}, "whole number of days"),
        ({"name": "x", "expires_in_days": "100000"}, "expires_in_days must be 1-365"),
    ],
)
async def test_bad_token_requests_are_named_and_create_nothing(
    client: httpx.AsyncClient, form: dict[str, str], problem: str, db_kind: str
) -> None:
    await web_sign_up(client, "vera")
    r = await client.post("/settings/tokens", data=form, headers=SAME)
    assert r.status_code == 422 and problem in r.text
    assert 'id="new-token"' not in r.text
    assert [t["kind"] for t in (await client.get("/api/v1/auth/tokens")).json()] == ["session"]


async def test_someone_elses_token_cannot_be_revoked_from_the_page(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    other = await sign_up(client, "olga")
    olga_id = (await client.get("/api/v1/auth/tokens", headers=other)).json()[0]["id"]
    await web_sign_up(client, "wendy")
    r = await client.post(f"/settings/tokens/{olga_id}/revoke", headers=SAME)
    assert r.status_code == 404
    assert (await client.get("/api/v1/me", headers=other)).status_code == 200


async def test_tokens_tab_speaks_french(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "yann")
    r = await client.get("/settings/tokens", headers={"Accept-Language": "fr"})
    assert "Sessions et jetons" in r.text and "Créer un jeton d’API" in r.text
