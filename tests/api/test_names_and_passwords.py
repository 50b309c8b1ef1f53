"""Impersonation (look-alike names and handles) and weak passwords are refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from personae.accounts.names import lookalike_form, same_name, skeleton
from personae.accounts.passwords import common_passwords
from tests.conftest import sign_up
from tests.web.test_pages import SAME

PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ALICE", "alice"),  # case
        ("Аlice", "alice"),  # Cyrillic А
        ("AIice", "alice"),  # capital i for l
        ("a1ice", "alice"),  # digit one for l
        ("ａｌｉｃｅ", "alice"),  # fullwidth
        ("@alice", "alice"),
        ("al\u200bice", "alice"),  # zero-width space
        ("rnallory", "mallory"),  # rn for m
        ("b0b", "bob"),
        ("Ѕherlock  Holmes", "Sherlock Holmes"),
    ],
)
def test_look_alikes_share_a_form(a: str, b: str) -> None:
    assert a != b and lookalike_form(a) == lookalike_form(b)


@pytest.mark.parametrize(("a", "b"), [("bob", "bobby"), ("Anna", "Anne"), ("Lea", "Leo")])
def test_different_names_keep_different_forms(a: str, b: str) -> None:
    assert lookalike_form(a) != lookalike_form(b)


def test_the_skeleton_follows_uts39() -> None:
    # Unicode's own examples of confusables map to one prototype; the skeleton is idempotent.
    assert skeleton("раураl") == skeleton("paypal") == "paypal"
    assert skeleton(skeleton("Ѕherlock")) == skeleton("Ѕherlock")
    assert same_name("Sherlock  Holmes", "sherlock holmes")
    assert not same_name("Ѕherlock Holmes", "Sherlock Holmes")


async def patch_name(client: httpx.AsyncClient, who: dict[str, str], name: str) -> httpx.Response:
    return await client.patch("/api/v1/profile", headers=who, json={"display_name": name})


async def character(
    client: httpx.AsyncClient, who: dict[str, str], **fields: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/characters", headers=who, json={"visibility": "public", **fields}
    )


def refused(r: httpx.Response, code: str = "name_confusable") -> None:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert "looks" in r.json()["error"]["message"]


async def test_a_person_may_not_take_a_name_that_passes_for_someone_else(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    assert (await patch_name(client, alice, "Alice Liddell")).status_code == 200
    for name in ("alice", "ALICE", "@Alice", "Аlice", "a1ice", "Alice Liddell", "ALICE LIDDELL"):
        refused(await patch_name(client, bob, name))
    assert (await client.get("/api/v1/profile", headers=bob)).json()["display_name"] == "bob"
    assert (await patch_name(client, bob, "Bob the Builder")).status_code == 200
    # One's own handle, in any case, is always fine; so is keeping one's own name.
    assert (await patch_name(client, alice, "ALICE")).status_code == 200
    assert (await patch_name(client, alice, "ALICE")).status_code == 200
    # Sign-up checks the display name, and the username against other handles.
    r = await client.post(
        "/api/v1/accounts",
        json={"username": "carol", "password": PASSWORD, "display_name": "Bob the Builder"},
    )
    refused(r)
    r = await client.post("/api/v1/accounts", json={"username": "a1ice", "password": PASSWORD})
    refused(r, "handle_confusable")
    r = await client.post("/api/v1/accounts", json={"username": "rnallory", "password": PASSWORD})
    assert r.status_code == 201  # nobody is called mallory here


async def test_characters_may_not_pass_for_people_or_other_creators_characters(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    refused(await character(client, bob, name="Alice"))
    # A person's own characters may carry their name.
    assert (await character(client, bob, name="BOB", handle="bob_bot")).status_code == 201
    assert (await character(client, alice, name="Alice", handle="alice_bot")).status_code == 201
    refused(await patch_name(client, alice, "Bob"))  # bob's character does not make it free
    # Two creators' characters may share a card's name exactly, but not a look-alike of it.
    assert (await character(client, alice, name="Sherlock Holmes")).status_code == 201
    assert (await character(client, bob, name="Sherlock Holmes")).status_code == 201
    refused(await character(client, bob, name="Ѕherlock Holmes"))
    # A private character is seen by nobody; it is checked when it is shown.
    r = await character(client, bob, name="Аlice", handle="secret_one", visibility="private")
    assert r.status_code == 201
    r = await client.patch(
        "/api/v1/characters/secret_one", headers=bob, json={"visibility": "public"}
    )
    refused(r)
    # Renaming is checked as creating is.
    r = await character(client, bob, name="Watson", handle="watson")
    assert r.status_code == 201
    refused(await client.patch("/api/v1/characters/watson", headers=bob, json={"name": "aIice"}))
    # People may not pass for someone else's character either.
    refused(await patch_name(client, alice, "Watson"))
    assert (await patch_name(client, bob, "Watson")).status_code == 200  # his own


async def test_personas_may_not_pass_for_someone_else(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    refused(await client.post("/api/v1/personas", headers=bob, json={"name": "Alice"}))
    r = await client.post("/api/v1/personas", headers=bob, json={"name": "Captain"})
    assert r.status_code == 201
    pid = r.json()["id"]
    refused(await client.patch(f"/api/v1/personas/{pid}", headers=bob, json={"name": "alice"}))
    r = await client.patch(f"/api/v1/personas/{pid}", headers=bob, json={"description": "x"})
    assert r.status_code == 200
    assert (await client.post("/api/v1/personas", headers=alice, json={"name": "ALICE"})).is_success


def test_the_common_password_list_is_shipped() -> None:
    common = common_passwords()
    assert 4000 <= len(common) <= 10_000
    assert all(len(p) >= 8 and p == p.lower() for p in common)
    assert PASSWORD not in common


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("dora", "password123", "password_too_common"),
        ("dora", "PASSWORD123", "password_too_common"),
        ("dora", "iloveyou", "password_too_common"),
        ("dora", "dora dora dora", "password_has_username"),
        ("dora", "my name is DORA!", "password_has_username"),
        ("doraexplorer", "doraexplorer", "password_has_username"),
    ],
)
async def test_weak_passwords_are_refused_at_sign_up(
    client: httpx.AsyncClient, username: str, password: str, code: str, db_kind: str
) -> None:
    r = await client.post("/api/v1/accounts", json={"username": username, "password": password})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 401


async def test_weak_new_passwords_are_refused_and_change_nothing(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "edna")
    r = await client.post("/login", data={"username": "edna", "password": PASSWORD}, headers=SAME)
    assert r.status_code == 303
    for weak, message in (("qwertyuiop", "most common"), ("edna rules ok", "username")):
        form = {"current_password": PASSWORD, "new_password": weak, "confirm_password": weak}
        r = await client.post("/settings/password", data=form, headers=SAME)
        assert r.status_code == 422 and message in r.text
        r = await client.post("/api/v1/auth/token", json={"username": "edna", "password": weak})
        assert r.status_code == 401
    # Short usernames are not looked for inside passwords: "ed" turns up by chance.
    await sign_up(client, "ed", password="a red sled in the shed")
